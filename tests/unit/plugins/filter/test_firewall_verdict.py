# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The portproof.validate.firewall_verdict filter over a firewall fact gathered from fixtures."""

from __future__ import annotations

import importlib.util
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.portproof.validate.plugins.filter.firewall_verdict import FilterModule

_SPEC = importlib.util.spec_from_file_location("firewall_replay", os.path.join(
    os.path.dirname(__file__), "..", "module_utils", "fixtures", "firewall", "replay.py"))
replay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(replay)

FILTER = FilterModule().filters()["firewall_verdict"]
FIREWALL, _UNAVAILABLE = replay.firewall("ufw")


def test_one_packet():
    out = FILTER(FIREWALL, {"src": "10.1.2.3", "dport": 5432})
    assert out["verdict"] == "accept"
    assert out["rule"] == {"source": "iptables-nft", "family": "ip", "table": "filter", "chain": "ufw-user-input", "index": 3,
                           "text": "-A ufw-user-input -s 10.1.0.0/16 -p tcp -m tcp --dport 5432 -j ACCEPT"}
    assert out["reason"] == "accepted by ip filter ufw-user-input rule 3, delivered locally"
    assert (out["final_dst"], out["final_dport"], out["assumptions"]) == (None, 5432, [])


def test_list_of_packets_keeps_order():
    out = FILTER(FIREWALL, [{"src": "8.8.8.8", "dport": 23}, {"src": "8.8.8.8", "dport": 22, "proto": "tcp"},
                            {"src": "2001:db8:2::9", "dport": 443, "state": "new"}])
    assert [o["verdict"] for o in out] == ["reject", "accept", "drop"]


def test_fact_is_not_modified():
    import copy
    before = copy.deepcopy(FIREWALL)
    FILTER(FIREWALL, {"src": "8.8.8.8", "dport": 2222})
    assert FIREWALL == before


@pytest.mark.parametrize("firewall, packet, message", [
    (FIREWALL, {"src": "10.1.2.3"}, "firewall_verdict: packet is missing 'dport' (needed for proto tcp)"),
    (FIREWALL, {"src": "10.1.2", "dport": 22}, "firewall_verdict: packet src: '10.1.2' is not an IP address"),
    (FIREWALL, {"src": "10.1.2.3", "dport": 22, "to": "x"},
     "firewall_verdict: packet has unknown keys to (allowed: src, dst, proto, dport, sport, iface, state)"),
    (FIREWALL, [{"src": "10.1.2.3", "dport": 22}, {"dport": 22}],
     "firewall_verdict: packet is missing 'src' (the source address) (packet 1 of the list)"),
    ({}, {"src": "10.1.2.3", "dport": 22},
     "firewall_verdict: firewall has no 'tables' list: pass ansible_facts.portproof.firewall gathered by "
     "portproof.validate.port_facts"),
    ("nope", {"src": "10.1.2.3", "dport": 22},
     "firewall_verdict: firewall must be the portproof firewall fact (a dict), got str"),
])
def test_bad_input(firewall, packet, message):
    with pytest.raises(AnsibleFilterError) as exc:
        FILTER(firewall, packet)
    assert str(exc.value) == message
