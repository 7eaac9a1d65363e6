# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local routing table from the kernel's rtnetlink answers captured in a lab namespace
(fixtures/routes/capture.py), against what ``ip -j route show table local`` printed there."""

from __future__ import annotations

import importlib.util
import json
import os
import struct

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall import _local_routes
from ansible_collections.portproof.validate.plugins.module_utils._sockets import _addresses, _netlink
from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "routes")
_SPEC = importlib.util.spec_from_file_location(
    "firewall_replay", os.path.join(os.path.dirname(__file__), "fixtures", "firewall", "replay.py"))
replay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(replay)


def messages(name):
    with open(os.path.join(HERE, "rtnetlink-%s.hex" % name)) as handle:
        return [bytes.fromhex(line) for line in handle.read().split()]


def links():
    return _addresses.parse_links(messages("links"))


def reference(family):
    """What ip printed, in the fact's shape (a host route's dst gets its /32 or /128)."""
    with open(os.path.join(HERE, "ip-%s-route-local.json" % family)) as handle:
        items = json.load(handle)
    full = "/32" if family == "ipv4" else "/128"
    return [{"type": i["type"], "dst": i["dst"] if "/" in i["dst"] else i["dst"] + full, "dev": i.get("dev"), "family": family}
            for i in items]


def lab_addresses():
    with open(os.path.join(HERE, "lab-addresses.txt")) as handle:
        return handle.read().split()


def test_ipv4_local_table_is_what_ip_shows():
    routes = _local_routes.parse_local_routes(messages("routes-ipv4"), links())
    assert routes == reference("ipv4")
    address = lab_addresses()[0]
    # the exact records of the lab host: its own addresses, their broadcasts, loopback
    assert {"type": "local", "dst": address + "/32", "dev": "eth0", "family": "ipv4"} in routes
    assert {"type": "local", "dst": "198.51.100.7/32", "dev": "eth0", "family": "ipv4"} in routes
    assert {"type": "broadcast", "dst": "198.51.100.255/32", "dev": "eth0", "family": "ipv4"} in routes
    assert {"type": "local", "dst": "127.0.0.0/8", "dev": "lo", "family": "ipv4"} in routes
    assert len(routes) == 7


def test_ipv6_local_table_is_what_ip_shows():
    routes = _local_routes.parse_local_routes(messages("routes-ipv6"), links())
    assert routes == reference("ipv6")
    # forwarding on: the kernel's subnet-router anycast of each /64; multicast ff00::/8
    assert {"type": "anycast", "dst": "2001:db8:5::/128", "dev": "eth0", "family": "ipv6"} in routes
    assert {"type": "local", "dst": "2001:db8:5::7/128", "dev": "eth0", "family": "ipv6"} in routes
    assert {"type": "multicast", "dst": "ff00::/8", "dev": "eth0", "family": "ipv6"} in routes
    assert sorted(set(r["type"] for r in routes)) == ["anycast", "local", "multicast"]


def test_other_tables_are_left_out():
    """The dump answers every table (main's unicast routes too): only table 255 is kept."""
    raw = messages("routes-ipv4") + messages("routes-ipv6")
    tables = set(struct.unpack_from("=BBBBBBBBI", body)[4] for body in raw)
    assert 254 in tables and 255 in tables  # the capture has main-table routes to leave out
    kept = _local_routes.parse_local_routes(raw, links())
    assert len(kept) == len(reference("ipv4")) + len(reference("ipv6")) < len(raw)


def test_unknown_interface_index_is_named_by_number():
    routes = _local_routes.parse_local_routes(messages("routes-ipv4"), {})
    named = _local_routes.parse_local_routes(messages("routes-ipv4"), links())
    index = dict((name, str(number)) for number, name in links().items())
    assert [r["dev"] for r in routes] == [index[r["dev"]] for r in named]


@pytest.mark.parametrize("cut, error", [
    (8, "short rtnetlink message: RTM_NEWROUTE of 8 bytes"),
])
def test_short_message_is_an_error(cut, error):
    body = messages("routes-ipv4")[0][:cut]
    with pytest.raises(_netlink.NetlinkError, match=error):
        _local_routes.parse_local_routes([body], links())


def test_truncated_destination_is_an_error():
    """A local-table route whose RTA_DST holds 3 bytes: named, not read as another address."""
    body = struct.pack("=BBBBBBBBI", 2, 32, 0, 0, 255, 2, 254, 2, 0) + struct.pack("=HH", 7, 1) + b"\x0a\x00\x00\x00"
    with pytest.raises(_netlink.NetlinkError, match="RTM_NEWROUTE with a 3-byte destination"):
        _local_routes.parse_local_routes([body], {})


def test_prefix_longer_than_the_address_is_an_error():
    body = struct.pack("=BBBBBBBBI", 2, 40, 0, 0, 255, 2, 254, 2, 0) + struct.pack("=HH", 8, 1) + b"\x0a\x00\x00\x01"
    with pytest.raises(_netlink.NetlinkError, match="with a /40 prefix"):
        _local_routes.parse_local_routes([body], {})


def test_firewall_fact_carries_the_local_routes():
    routes = reference("ipv4") + reference("ipv6")
    firewall, unavailable = gather_firewall(replay.FakeModule("nft"), root=replay.root("nft"),
                                            local_routes=lambda: (routes, None))
    assert firewall["local_routes"] == routes
    assert unavailable == []
    assert firewall["incomplete"] == []


def test_unreadable_local_table_is_reported():
    firewall, unavailable = gather_firewall(replay.FakeModule("nft"), root=replay.root("nft"),
                                            local_routes=lambda: (None, "rtnetlink socket: [Errno 13] Permission denied"))
    assert firewall["local_routes"] is None
    assert unavailable == [{"subset": "firewall", "tool": "rtnetlink",
                            "reason": "rtnetlink socket: [Errno 13] Permission denied: "
                                      "address types (addrtype, fib ... type) are unknown"}]


def test_gather_reads_this_namespace():
    """The real kernel answers (the test's own namespace has at least loopback's local routes)."""
    routes, why = _local_routes.gather_local_routes()
    assert why is None
    assert {"type": "local", "dst": "127.0.0.1/32", "dev": "lo", "family": "ipv4"} in routes


def test_strict_dump_asks_the_kernel_for_the_local_table_only():
    """On a host with a full routing table the dump of every table is large: with strict checking
    the kernel answers table 255 alone, and the records are the same as from the full dump."""
    full = _netlink.open_socket(_netlink.NETLINK_ROUTE)
    only = _netlink.open_socket(_netlink.NETLINK_ROUTE)
    try:
        assert _local_routes.strict(only)
        every, local = [], []
        for seq, family in enumerate((2, 10), start=1):
            every += _netlink.dump(full, _local_routes.RTM_GETROUTE, _local_routes.request(family), seq=seq)
            local += _netlink.dump(only, _local_routes.RTM_GETROUTE, _local_routes.request(family, 255), seq=seq)
        assert set(struct.unpack_from("=BBBBBBBBI", body)[4] for body in local) == {255}
        assert len(local) < len(every)  # the machine has main-table routes that strict leaves out
        assert _local_routes.parse_local_routes(local, {}) == _local_routes.parse_local_routes(every, {})
    finally:
        full.close()
        only.close()
