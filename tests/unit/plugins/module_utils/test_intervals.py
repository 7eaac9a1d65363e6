# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one interval type of the verdict engine and the NAT mapper, and the one port reader."""

from __future__ import annotations

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._intervals import (
    Intervals, address_interval, port_interval, port_intervals, show_interval,
)
from ansible_collections.portproof.validate.plugins.module_utils._mappings import _nat
from ansible_collections.portproof.validate.plugins.module_utils._verdict import _match


@pytest.mark.parametrize("pairs, merged", [
    ([], ()),
    ([(22, 22)], ((22, 22),)),
    ([(5, 9), (1, 3), (4, 4)], ((1, 9),)),          # adjacent pairs merge
    ([(1, 10), (3, 4), (8, 12)], ((1, 12),)),       # contained and overlapping ones too
    ([(80, 80), (443, 443), (81, 81)], ((80, 81), (443, 443))),
])
def test_pairs_are_sorted_and_merged(pairs, merged):
    assert Intervals(pairs).pairs == merged
    assert list(Intervals(pairs)) == list(merged)


def test_membership_at_the_edges():
    ports = Intervals([(1000, 2000), (22, 22)])
    assert [p in ports for p in (21, 22, 23, 999, 1000, 2000, 2001)] == [False, True, False, False, True, True, False]
    assert 5 not in Intervals([])
    assert not Intervals([]) and Intervals([(0, 0)])


def test_set_arithmetic():
    a = Intervals([(1, 100), (200, 300)])
    b = Intervals([(50, 250)])
    assert a.intersect(b).pairs == ((50, 100), (200, 250))
    assert a.subtract(b).pairs == ((1, 49), (251, 300))
    assert b.subtract(a).pairs == ((101, 199),)
    assert a.subtract(a).pairs == () and not a.subtract(a)
    assert a.size() == 201 and b.size() == 201 and Intervals([]).size() == 0


def test_equal_sets_are_equal_and_hash_alike():
    assert Intervals([(1, 2), (3, 5)]) == Intervals([(1, 5)])
    assert hash(Intervals([(1, 2), (3, 5)])) == hash(Intervals([(1, 5)]))
    assert Intervals([(1, 5)]) != Intervals([(1, 4)])
    assert Intervals([(1, 5)]) != ((1, 5),)


@pytest.mark.parametrize("value, pair", [
    (22, (22, 22)), ("22", (22, 22)), ("1000-2000", (1000, 2000)), (" 8080 ", (8080, 8080)),
])
def test_port_values(value, pair):
    assert port_interval(value) == pair


@pytest.mark.parametrize("value, message", [
    (True, "not a port: True"),
    ("80-", "not a port or a port range low-high: '80-'"),
    ("@web_ports", "not a port or a port range low-high: '@web_ports'"),
    ("1-2-3", "not a port or a port range low-high: '1-2-3'"),
])
def test_what_is_not_a_port_is_refused_by_name(value, message):
    with pytest.raises(ValueError) as info:
        port_interval(value)
    assert str(info.value) == message


def test_show_interval_writes_the_model_form():
    assert [show_interval(p) for p in port_intervals([22, "1000-2000", 23])] == ["22-23", "1000-2000"]


def test_the_verdict_engine_and_the_nat_mapper_share_the_type():
    assert _match.port_intervals is port_intervals and _match.Intervals is Intervals
    assert _nat.port_intervals is port_intervals
    state = _nat.narrow(_nat._State(("ipv4",)), {"key": "dport", "op": "eq", "values": [8080, "9000-9001"]})  # pylint: disable=protected-access
    assert state.ports == Intervals([(8080, 8080), (9000, 9001)])


@pytest.mark.parametrize("value, interval", [
    ("10.1.2.3", (4, 0x0A010203, 0x0A010203)),
    ("10.1.2.3/32", (4, 0x0A010203, 0x0A010203)),
    ("10.0.0.0/8", (4, 0x0A000000, 0x0AFFFFFF)),
    ("10.0.0.9/8", (4, 0x0A000000, 0x0AFFFFFF)),          # host bits are ignored, as the kernel does
    ("192.0.2.10-192.0.2.20", (4, 0xC000020A, 0xC0000214)),
    ("2001:db8::1", (6, 0x20010DB8000000000000000000000001, 0x20010DB8000000000000000000000001)),
    ("2001:db8::/32", (6, 0x20010DB8 << 96, (0x20010DB8 << 96) | (2 ** 96 - 1))),
])
def test_address_values(value, interval):
    assert address_interval(value) == interval


@pytest.mark.parametrize("value, message", [
    ("10.0.0.0-::5", "not an address range of one IP version: '10.0.0.0-::5'"),
    ("10.0.0.300", "'10.0.0.300' does not appear to be an IPv4 or IPv6 network"),
])
def test_what_is_not_an_address_is_refused(value, message):
    with pytest.raises(ValueError) as info:
        address_interval(value)
    assert str(info.value) == message


def test_the_nat_mapper_reads_addresses_the_same_way():
    state = _nat.narrow(_nat._State(("ipv4",)), {"key": "daddr", "op": "eq", "values": ["192.0.2.10-192.0.2.20"]})  # pylint: disable=protected-access
    assert [str(net) for net in state.nets] == ["192.0.2.10/31", "192.0.2.12/30", "192.0.2.16/30", "192.0.2.20/32"]
    mixed = {"key": "daddr", "op": "eq", "values": ["10.0.0.0-::5"]}
    assert _nat.narrow(_nat._State(("ipv4",)), mixed).conditions == (mixed,)  # pylint: disable=protected-access
