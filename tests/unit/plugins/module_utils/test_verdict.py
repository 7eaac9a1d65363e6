# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""firewall_verdict over rule sets captured from the real tools (fixtures/firewall/capture.sh)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, FirewallError, firewall_verdict
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError

_SPEC = importlib.util.spec_from_file_location(
    "firewall_replay", os.path.join(os.path.dirname(__file__), "fixtures", "firewall", "replay.py"))
replay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(replay)

_COMPILED = {}


def verdict(scenario, packet):
    if scenario not in _COMPILED:
        firewall, dummy = replay.firewall(scenario)
        _COMPILED[scenario] = Compiled(firewall)
    return firewall_verdict(_COMPILED[scenario], packet)


# (scenario, packet, verdict, deciding rule as "family table chain index" or None, final_dst, final_dport)
CASES = [
    # iptables-nft tables (raw, mangle, nat, filter; ipset; user chains) plus a native inet table.
    ("iptables", {"src": "10.1.2.3", "dport": 22}, "accept", "ip filter ADMIN 2", None, 22),
    ("iptables", {"src": "10.3.2.3", "dport": 22}, "reject", "ip filter INPUT 9", None, 22),
    ("iptables", {"src": "10.1.2.3", "dport": 9050}, "accept", "ip filter ADMIN 3", None, 9050),
    ("iptables", {"src": "192.0.2.66", "dport": 80}, "drop", "ip raw PREROUTING 1", None, 80),
    ("iptables", {"src": "8.8.8.8", "dport": 80}, "accept", "ip filter SERVICES 1", None, 80),
    ("iptables", {"src": "198.51.100.15", "dport": 2000}, "accept", "ip filter SERVICES 3", None, 2000),
    ("iptables", {"src": "198.51.100.15", "dport": 200}, "reject", "ip filter INPUT 9", None, 200),
    ("iptables", {"src": "198.51.100.200", "dport": 8443}, "drop", "ip filter LOGDROP 2", None, 8443),
    ("iptables", {"src": "192.0.2.10", "dport": 8443}, "accept", "ip filter SERVICES 6", None, 8443),
    ("iptables", {"src": "8.8.8.8", "dport": 25}, "unknown", None, None, None),
    ("iptables", {"src": "8.8.8.8", "dport": 25, "iface": "eth1"}, "accept", "ip filter SERVICES 7", None, 25),
    ("iptables", {"src": "10.2.0.1", "dport": 3306}, "accept", "ip filter CHECK3306 1", None, 3306),
    # goto: falling off CHECK3306 returns to INPUT, not to SERVICES (whose next rule accepts 3306).
    ("iptables", {"src": "8.8.8.8", "dport": 3306}, "reject", "ip filter INPUT 9", None, 3306),
    ("iptables", {"src": "8.8.8.8", "dport": 3500}, "accept", "ip filter SERVICES 10", None, 3500),
    ("iptables", {"src": "8.8.8.8", "dport": 3500, "state": "established"}, "accept", "ip filter INPUT 2", None, 3500),
    ("iptables", {"src": "8.8.8.8", "dport": 8080}, "accept", "ip filter FORWARD 2", "10.99.0.2", 80),
    ("iptables", {"src": "8.8.8.8", "dport": 8080, "dst": "203.0.113.5"}, "accept", "ip filter FORWARD 2", "10.99.0.2", 80),
    ("iptables", {"src": "8.8.8.8", "dport": 9090}, "accept", "ip filter SERVICES 11", "10.99.0.1", 9091),
    ("iptables", {"src": "8.8.8.8", "dport": 5353, "proto": "udp"}, "accept", "ip filter FORWARD 3", "10.99.0.3", 5353),
    ("iptables", {"src": "8.8.8.8", "dport": 2222}, "reject", "ip filter INPUT 9", None, 22),
    ("iptables", {"src": "8.8.8.8", "dport": 80, "dst": "10.99.0.7"}, "drop", None, "10.99.0.7", 80),
    ("iptables", {"src": "192.0.2.77", "dport": 7777}, "accept", "ip filter INPUT 7", None, 7777),
    # accepted by ip filter, then dropped by the native table at priority 10 on the same hook.
    ("iptables", {"src": "192.0.2.5", "dport": 6000}, "drop", "inet extra input 2", None, 6000),
    ("iptables", {"src": "203.0.113.200", "dport": 80}, "drop", "inet extra input 1", None, 80),
    ("iptables", {"src": "8.8.8.8", "proto": "icmp"}, "accept", "ip filter INPUT 4", None, None),
    ("iptables", {"src": "2001:db8:1::5", "dport": 22}, "accept", "ip6 filter INPUT 4", None, 22),
    ("iptables", {"src": "2001:db8:bad::5", "dport": 80}, "drop", None, None, 80),
    ("iptables", {"src": "2001:db8:2::5", "dport": 80}, "accept", "ip6 filter INPUT 5", None, 80),
    ("iptables", {"src": "2001:db8:2::5", "dport": 5432}, "reject", "ip6 filter INPUT 6", None, 5432),
    # iptables-legacy tables next to an iptables-nft one; Docker-style DNAT.
    ("legacy", {"src": "8.8.8.8", "dport": 23}, "drop", "iptables-legacy ip filter INPUT 1", None, 23),
    ("legacy", {"src": "8.8.8.8", "dport": 24}, "drop", "iptables-nft ip filter INPUT 1", None, 24),
    ("legacy", {"src": "8.8.8.8", "dport": 8000}, "unknown", None, None, None),
    ("legacy", {"src": "8.8.8.8", "dport": 8000, "iface": "eth0"}, "accept", "iptables-legacy ip filter DOCKER 1", "172.17.0.2", 8000),
    ("legacy", {"src": "198.51.100.9", "dport": 8000, "iface": "eth0"}, "drop", "ip filter DOCKER-USER 1", "172.17.0.2", 8000),
    ("legacy", {"src": "8.8.8.8", "dport": 8001, "iface": "eth0"}, "accept", None, None, 8001),
    ("legacy", {"src": "172.17.0.5", "dport": 8000, "iface": "docker0"}, "accept", None, None, 8000),
    # native nftables: sets, concatenations, verdict maps, negations, ranges, priorities, ingress.
    ("nft", {"src": "10.1.2.3", "dport": 22}, "accept", "inet filter input 4", None, 22),
    ("nft", {"src": "10.3.2.3", "dport": 22}, "drop", None, None, 22),
    ("nft", {"src": "198.51.100.5", "dport": 22}, "accept", "inet filter input 4", None, 22),
    ("nft", {"src": "2001:db8:1::1", "dport": 22}, "accept", "inet filter input 5", None, 22),
    ("nft", {"src": "8.8.8.8", "dport": 8005}, "accept", "inet filter input 6", None, 8005),
    ("nft", {"src": "192.0.2.20", "dport": 5432}, "accept", "inet filter input 7", None, 5432),
    ("nft", {"src": "192.0.2.22", "dport": 5432}, "drop", None, None, 5432),
    ("nft", {"src": "8.8.8.8", "dport": 6379}, "reject", "inet filter input 8", None, 6379),
    ("nft", {"src": "10.0.0.1", "dport": 6379}, "accept", "inet filter input 9", None, 6379),
    ("nft", {"src": "8.8.8.8", "dport": 161, "proto": "udp"}, "unknown", None, None, None),
    ("nft", {"src": "8.8.8.8", "dport": 161, "proto": "udp", "iface": "eth1"}, "accept", "inet filter input 10", None, 161),
    ("nft", {"src": "192.0.2.1", "dport": 25}, "drop", None, None, 25),
    ("nft", {"src": "8.8.8.8", "dport": 25}, "accept", "inet filter smtp 2", None, 25),
    ("nft", {"src": "192.0.2.50", "dport": 110}, "accept", "inet filter legacy_mail 1", None, 110),
    ("nft", {"src": "192.0.2.51", "dport": 110}, "drop", None, None, 110),
    ("nft", {"src": "192.0.2.9", "dport": 5050, "proto": "udp"}, "accept", "inet filter input 12", None, 5050),
    ("nft", {"src": "8.8.8.8", "dport": 7000}, "drop", "inet filter input 13", None, 7000),
    ("nft", {"src": "8.8.8.8", "dport": 8081}, "drop", None, None, 8081),
    ("nft", {"src": "8.8.8.8", "dport": 8081, "dst": "203.0.113.99"}, "drop", None, "203.0.113.99", 8081),
    ("nft", {"src": "192.0.2.77", "dport": 1234}, "accept", "inet filter input 15", None, 1234),
    ("nft", {"src": "2001:db9::1", "dport": 9050}, "drop", "inet filter input 16", None, 9050),
    ("nft", {"src": "2001:db8:5::1", "dport": 9050}, "accept", "inet filter input 17", None, 9050),
    ("nft", {"src": "8.8.8.8", "dport": 9050}, "accept", "inet filter input 17", None, 9050),
    ("nft", {"src": "198.51.100.66", "dport": 9999}, "drop", "inet guard early 1", None, 9999),
    # an accept in the priority -10 chain does not stop the priority 0 chain at the same hook.
    ("nft", {"src": "8.8.8.8", "dport": 9999}, "drop", None, None, 9999),
    ("nft", {"src": "8.8.8.8", "dport": 8080}, "accept", "inet filter forward 2", "10.99.0.2", 80),
    ("nft", {"src": "8.8.8.8", "dport": 2222}, "drop", None, None, 22),
    ("nft", {"src": "8.8.8.8", "dport": 8443}, "unknown", None, None, None),
    ("nft", {"src": "8.8.8.8", "dport": 8443, "iface": "eth0"}, "accept", "inet filter input 18", "10.99.0.1", 9443),
    ("nft", {"src": "192.0.2.200", "dport": 80}, "unknown", None, None, None),
    ("nft", {"src": "192.0.2.200", "dport": 80, "iface": "eth1"}, "accept", "inet filter input 6", None, 80),
    ("nft", {"src": "192.0.2.200", "dport": 80, "iface": "eth0"}, "drop", "netdev edge ingress 1", None, 80),
    ("nft", {"src": "192.0.2.200", "dport": 7000}, "drop", "inet filter input 13", None, 7000),
    ("nft", {"src": "127.0.0.1", "dport": 1}, "accept", "inet filter input 1", None, 1),
    ("nft", {"src": "8.8.8.8", "dport": 1, "state": "invalid"}, "drop", "inet filter input 2", None, 1),
    ("nft", {"src": "8.8.8.8", "dport": 1, "state": "established"}, "accept", "inet filter input 2", None, 1),
    # ufw: rule order, deny/reject/limit, interface rules, destination rules, IPv6.
    ("ufw", {"src": "8.8.8.8", "dport": 22}, "accept", "ip filter ufw-user-input 1", None, 22),
    ("ufw", {"src": "198.51.100.7", "dport": 22}, "accept", "ip filter ufw-user-input 1", None, 22),
    ("ufw", {"src": "198.51.100.7", "dport": 80}, "drop", "ip filter ufw-user-input 2", None, 80),
    ("ufw", {"src": "10.1.2.3", "dport": 5432}, "accept", "ip filter ufw-user-input 3", None, 5432),
    ("ufw", {"src": "10.2.2.3", "dport": 5432}, "drop", None, None, 5432),
    ("ufw", {"src": "8.8.8.8", "dport": 6379}, "drop", "ip filter ufw-user-input 4", None, 6379),
    ("ufw", {"src": "8.8.8.8", "dport": 6379, "proto": "udp"}, "drop", "ip filter ufw-user-input 5", None, 6379),
    ("ufw", {"src": "8.8.8.8", "dport": 2222}, "accept", "ip filter ufw-user-limit-accept 1", None, 2222),
    ("ufw", {"src": "8.8.8.8", "dport": 161, "proto": "udp"}, "unknown", None, None, None),
    ("ufw", {"src": "8.8.8.8", "dport": 161, "proto": "udp", "iface": "eth1"}, "accept", "ip filter ufw-user-input 9", None, 161),
    ("ufw", {"src": "8.8.8.8", "dport": 161, "proto": "udp", "iface": "auto"}, "drop", None, None, 161),
    ("ufw", {"src": "8.8.8.8", "dport": 23}, "reject", "ip filter ufw-user-input 10", None, 23),
    ("ufw", {"src": "8.8.8.8", "dport": 8005}, "accept", "ip filter ufw-user-input 11", None, 8005),
    ("ufw", {"src": "8.8.8.8", "dport": 8443}, "unknown", None, None, None),
    ("ufw", {"src": "8.8.8.8", "dport": 8443, "dst": "203.0.113.5"}, "accept", "ip filter ufw-user-input 12", "203.0.113.5", 8443),
    ("ufw", {"src": "8.8.8.8", "dport": 8443, "dst": "192.168.50.5"}, "drop", None, "192.168.50.5", 8443),
    ("ufw", {"src": "8.8.8.8", "dport": 137, "proto": "udp"}, "drop", "ip filter ufw-skip-to-policy-input 1", None, 137),
    ("ufw", {"src": "2001:db8:2::9", "dport": 22}, "accept", "ip6 filter ufw6-user-input 1", None, 22),
    ("ufw", {"src": "2001:db8:1::9", "dport": 443}, "accept", "ip6 filter ufw6-user-input 10", None, 443),
    ("ufw", {"src": "2001:db8:2::9", "dport": 443}, "drop", None, None, 443),
    # firewalld (nftables backend): zones by interface and by source, services, rich rules, forward-port.
    ("firewalld", {"src": "8.8.8.8", "dport": 22}, "accept", "inet firewalld filter_IN_public_allow 1", None, 22),
    ("firewalld", {"src": "8.8.8.8", "dport": 22, "iface": "auto"}, "accept", "inet firewalld filter_IN_public_allow 1", None, 22),
    ("firewalld", {"src": "203.0.113.9", "dport": 22}, "unknown", None, None, None),
    ("firewalld", {"src": "203.0.113.9", "dport": 22, "iface": "eth0"}, "drop", "inet firewalld filter_IN_public_deny 2", None, 22),
    ("firewalld", {"src": "8.8.8.8", "dport": 80, "iface": "eth0"}, "accept", "inet firewalld filter_IN_public_allow 3", None, 80),
    ("firewalld", {"src": "8.8.8.8", "dport": 80, "iface": "eth1"}, "reject", "inet firewalld filter_IN_internal 9", None, 80),
    ("firewalld", {"src": "198.51.100.7", "dport": 80, "iface": "eth0"}, "reject", "inet firewalld filter_IN_public_deny 1", None, 80),
    ("firewalld", {"src": "10.1.2.3", "dport": 5432, "iface": "eth0"}, "accept", "inet firewalld filter_IN_public_allow 6", None, 5432),
    ("firewalld", {"src": "8.8.8.8", "dport": 5432, "iface": "eth0"}, "reject", "inet firewalld filter_IN_public 9", None, 5432),
    ("firewalld", {"src": "8.8.8.8", "dport": 5432, "iface": "eth1"}, "accept", "inet firewalld filter_IN_internal_allow 8", None, 5432),
    ("firewalld", {"src": "192.0.2.3", "dport": 9999}, "accept", "inet firewalld filter_IN_trusted 8", None, 9999),
    ("firewalld", {"src": "8.8.8.8", "dport": 8443, "iface": "eth0"}, "accept", "inet firewalld filter_INPUT 2", "203.0.113.5", 443),
    ("firewalld", {"src": "2001:db8::1", "dport": 80, "iface": "eth0"}, "accept", "inet firewalld filter_IN_public_allow 3", None, 80),
    # firewalld's IPv6 reverse-path check (fib saddr . mark . iif oif missing drop): the host routes
    # 2001:db8::1 through eth0 (default route), so from eth1 it is dropped; its own address too.
    ("firewalld", {"src": "2001:db8::1", "dport": 80, "iface": "eth1"}, "drop", "inet firewalld filter_PREROUTING 2", None, 80),
    ("firewalld", {"src": "2001:db8:ffff::5", "dport": 80, "iface": "eth0"}, "drop", "inet firewalld filter_PREROUTING 2", None, 80),
    # Podman 4.3 / netavark published ports: DNAT to the container, through FORWARD.
    ("podman", {"src": "8.8.8.8", "dport": 8080}, "accept", None, "10.88.0.23", 80),
    ("podman", {"src": "8.8.8.8", "dport": 5353, "proto": "udp"}, "accept", None, "10.88.0.23", 53),
    ("podman", {"src": "8.8.8.8", "dport": 9000}, "accept", None, None, 9000),
    ("podman", {"src": "8.8.8.8", "dport": 8443}, "unknown", None, None, None),
    ("podman", {"src": "8.8.8.8", "dport": 8443, "dst": "203.0.113.5"}, "accept", None, "10.88.0.23", 443),
    ("podman", {"src": "8.8.8.8", "dport": 8443, "dst": "192.168.50.5"}, "accept", None, "192.168.50.5", 8443),
    ("podman", {"src": "127.0.0.1", "dport": 9000, "dst": "127.0.0.1"}, "accept", None, "10.88.0.23", 9000),
    # Base chains of equal priority at one hook: the kernel runs the one registered last first
    # ("late" was made after ip filter, "early" before it; the lab differential test saw it).
    ("tie", {"src": "8.8.8.8", "dport": 2000}, "reject", "inet late input 1", None, 2000),
    ("tie", {"src": "8.8.8.8", "dport": 2000, "dst": "10.99.0.2"}, "drop", "ip filter FORWARD 1", "10.99.0.2", 2000),
    # notrack before conntrack: "ct state untracked", and the nat chains never see the packet (no
    # REDIRECT of 1500 to 9); CT --helper keeps tracking; a notrack after conntrack does nothing.
    ("notrack", {"src": "10.1.2.3", "dport": 123, "proto": "udp"}, "accept", "ip filter INPUT 1", None, 123),
    ("notrack", {"src": "8.8.8.8", "dport": 123, "proto": "udp"}, "drop", None, None, 123),
    ("notrack", {"src": "10.1.2.3", "dport": 1500}, "accept", "ip filter INPUT 1", None, 1500),
    ("notrack", {"src": "8.8.8.8", "dport": 1500}, "drop", None, None, 1500),
    ("notrack", {"src": "8.8.8.8", "dport": 69, "proto": "udp"}, "accept", "ip filter INPUT 2", None, 69),
    ("notrack", {"src": "10.1.2.3", "dport": 161, "proto": "udp"}, "accept", "ip filter INPUT 1", None, 161),
    ("notrack", {"src": "8.8.8.8", "dport": 161, "proto": "udp"}, "drop", None, None, 161),
    ("notrack", {"src": "8.8.8.8", "dport": 5060, "proto": "udp"}, "accept", "ip filter INPUT 2", None, 5060),
    ("notrack", {"src": "8.8.8.8", "dport": 80}, "accept", "ip filter INPUT 2", None, 80),
    # kube-proxy, nftables mode: the service maps keyed on "ip daddr . meta l4proto . th dport"
    # dispatch (goto) into per-service chains, numgen picks the endpoint chain that DNATs.
    ("kubenft", {"src": "8.8.8.8", "dst": "172.30.0.41", "dport": 80}, "accept", None, "10.180.0.1", 80),
    ("kubenft", {"src": "8.8.8.8", "dst": "172.30.0.41", "dport": 80, "proto": "udp"}, "reject",
     "ip kube-proxy cluster-ips-check 1", "172.30.0.41", 80),
    ("kubenft", {"src": "8.8.8.8", "dst": "172.30.0.46", "dport": 80}, "reject", "ip kube-proxy reject-chain 1", "172.30.0.46", 80),
    ("kubenft", {"src": "8.8.8.8", "dst": "172.30.0.50", "dport": 80}, "drop", "ip kube-proxy cluster-ips-check 2", "172.30.0.50", 80),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 30046}, "drop", "ip kube-proxy nodeport-endpoints-check 1",
     "192.168.50.5", 30046),
    ("kubenft", {"src": "8.8.8.8", "dst": "172.30.0.43", "dport": 443}, "drop", "ip kube-proxy firewall-svc-d 1", "172.30.0.43", 443),
    ("kubenft", {"src": "203.0.113.9", "dst": "172.30.0.43", "dport": 443}, "accept", None, "192.168.50.5", 8443),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 22}, "accept", None, "192.168.50.5", 22),
    # ip edge: an interval map on a concatenation, DNAT through named and anonymous data maps.
    ("kubenft", {"src": "198.51.100.7", "dst": "192.168.50.5", "dport": 1500}, "drop", "ip edge pre 1", "192.168.50.5", 1500),
    ("kubenft", {"src": "198.51.100.7", "dst": "192.168.50.5", "dport": 2000}, "accept", None, "192.168.50.5", 2000),
    ("kubenft", {"src": "198.51.100.200", "dst": "192.168.50.5", "dport": 53, "proto": "udp"}, "reject", "ip edge noisy 1",
     "192.168.50.5", 53),
    ("kubenft", {"src": "198.51.100.20", "dst": "192.168.50.5", "dport": 53, "proto": "udp"}, "accept", None, "192.168.50.5", 53),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 9001}, "accept", None, "10.180.0.7", 80),
    ("kubenft", {"src": "8.8.8.8", "dst": "203.0.113.5", "dport": 9001}, "accept", None, "203.0.113.5", 9001),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 9002}, "accept", None, "10.180.0.8", 9002),
    # kube-proxy, iptables mode: KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP DNAT, the masquerade mark
    # accepted in KUBE-FORWARD, services without endpoints rejected / dropped.
    ("kubeipt", {"src": "8.8.8.8", "dst": "172.30.0.41", "dport": 80}, "accept", "ip filter KUBE-FORWARD 2", "10.180.0.1", 80),
    ("kubeipt", {"src": "8.8.8.8", "dst": "172.30.0.46", "dport": 80}, "reject", "ip filter KUBE-SERVICES 1", "172.30.0.46", 80),
    ("kubeipt", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 30046}, "drop", "ip filter KUBE-EXTERNAL-SERVICES 1",
     "192.168.50.5", 30046),
    ("kubeipt", {"src": "8.8.8.8", "dst": "10.180.255.254", "dport": 30046}, "drop", "ip filter KUBE-EXTERNAL-SERVICES 1",
     "10.180.255.254", 30046),
    # Address types from the captured local routing table (inet compiler): the IPv6 subnet-router
    # anycast address of eth0 (forwarding on) is delivered locally and is of type anycast; the
    # broadcast address of eth1; "fib daddr . iif type" counts only the incoming interface's routes.
    ("kubenft", {"src": "2001:db8:1::9", "dst": "2001:db8:ffff::", "dport": 80}, "drop", "inet compiler input 1",
     "2001:db8:ffff::", 80),
    ("kubenft", {"src": "2001:db8:1::9", "dst": "2001:db8:ffff::5", "dport": 80}, "accept", None, "2001:db8:ffff::5", 80),
    ("kubenft", {"src": "192.168.50.7", "dst": "192.168.50.255", "dport": 9999, "proto": "udp"}, "drop", "inet compiler input 2",
     "192.168.50.255", 9999),
    ("kubenft", {"src": "192.168.50.7", "dst": "192.168.50.5", "dport": 9999, "proto": "udp"}, "accept", None, "192.168.50.5", 9999),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 7777, "iface": "eth1"}, "accept", None, "192.168.50.5", 7777),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 7777, "iface": "eth0"}, "drop", "inet compiler input 3",
     "192.168.50.5", 7777),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 7777}, "unknown", None, None, None),
    # "icmpv6 type . icmpv6 code" / "icmp type . icmp code" sets (fw4): the echo request has code 0.
    ("kubenft", {"src": "2001:db8:1::9", "dst": "2001:db8:ffff::5", "proto": "icmp"}, "accept", "inet compiler input 4",
     "2001:db8:ffff::5", None),
    ("kubenft", {"src": "192.168.50.7", "dst": "192.168.50.5", "proto": "icmp"}, "drop", "inet compiler input 7",
     "192.168.50.5", None),
]


def _rule_id(rule):
    return "%s %s %s %s" % (rule["family"], rule["table"], rule["chain"], rule["index"])


@pytest.mark.parametrize("scenario, packet, expected, rule, final_dst, final_dport", CASES)
def test_verdict(scenario, packet, expected, rule, final_dst, final_dport):
    out = verdict(scenario, packet)
    assert out["verdict"] == expected, out["reason"]
    if rule is None:
        assert out["rule"] is None, out["reason"]
    else:
        got = _rule_id(out["rule"])
        if rule.startswith("iptables"):
            got = "%s %s" % (out["rule"]["source"], got)
        assert got == rule, out["reason"]
    assert out["final_dst"] == final_dst
    assert out["final_dport"] == final_dport


def test_unknown_names_the_undecided_match():
    out = verdict("iptables", {"src": "8.8.8.8", "dport": 25})
    assert out["reason"] == ("ip filter SERVICES rule 7: in-interface match (eth1): the packet has no iface; "
                             "if it matches: accept by ip filter SERVICES rule 7 to the host port 25; "
                             "if not: reject by ip filter INPUT rule 9")
    assert out["path"][-1] == {
        "hook": "input", "action": "undecided: ip filter SERVICES rule 7: in-interface match (eth1): the packet has no iface"}


def test_undecided_match_that_does_not_change_the_verdict():
    out = verdict("firewalld", {"src": "8.8.8.8", "dport": 22})
    assert out["verdict"] == "accept"
    assert "undecided: inet firewalld filter_INPUT_ZONES rule 2: in-interface match (eth1)" in out["reason"]


def test_dnat_path_goes_through_forward():
    out = verdict("podman", {"src": "8.8.8.8", "dport": 8080})
    actions = [(p["hook"], p.get("chain"), p["action"]) for p in out["path"]]
    assert actions == [
        ("prerouting", "PREROUTING", "jump NETAVARK-HOSTPORT-DNAT"),
        ("prerouting", "NETAVARK-HOSTPORT-DNAT", "jump NETAVARK-DN-1D8721804F16F"),
        ("prerouting", "NETAVARK-DN-1D8721804F16F", "dnat to 10.88.0.23:80"),
        ("routing", None, "forward to 10.88.0.23 via podman0"),
        ("forward", "FORWARD", "jump NETAVARK_FORWARD"),
        ("forward", "FORWARD", "policy accept"),
        ("postrouting", "POSTROUTING", "jump NETAVARK-HOSTPORT-MASQ"),
        ("postrouting", "POSTROUTING", "policy accept"),
    ]
    assert out["reason"] == ("accepted (no rule stops it; the base chains' policies accept), "
                             "forwarded to 10.88.0.23 via podman0")


def test_notrack_path():
    out = verdict("notrack", {"src": "10.1.2.3", "dport": 1500})
    # inet raw pre first: made after ip raw, at the same priority; no nat chain runs
    assert [(p["hook"], p.get("chain"), p["action"]) for p in out["path"]] == [
        ("prerouting", "pre", "policy accept"), ("prerouting", "PREROUTING", "set notrack"),
        ("prerouting", "PREROUTING", "policy accept"), ("prerouting", "late", "policy accept"),
        ("routing", None, "local delivery (the packet is addressed to the host)"), ("input", "INPUT", "accept")]


def test_notrack_under_an_undecided_match():
    firewall, dummy = replay.firewall("notrack")
    raw = [t for t in firewall["tables"] if t["name"] == "raw" and t["family"] == "ip"][0]
    raw["chains"][0]["rules"][0]["match"].append({"key": "iifname", "op": "eq", "values": ["eth1"]})
    out = firewall_verdict(firewall, {"src": "8.8.8.8", "dport": 123, "proto": "udp"})
    assert out["verdict"] == "unknown"
    assert "an earlier undecided rule may have made the packet untracked (notrack)" in out["reason"]


def test_assumptions_are_reported():
    out = verdict("ufw", {"src": "8.8.8.8", "dport": 2222})
    assert out["assumptions"] == ["the source sent no earlier packets (recent/limit lists are empty)"]
    out = verdict("ufw", {"src": "8.8.8.8", "dport": 161, "proto": "udp", "iface": "auto"})
    assert out["assumptions"] == ["the packet arrives on eth0, the interface the host routes 8.8.8.8 through"]
    out = verdict("firewalld", {"src": "2001:db8::1", "dport": 80, "iface": "eth0"})
    assert out["assumptions"] == ["reverse path from the main routing table (no policy routing rules route the source elsewhere)"]
    out = verdict("firewalld", {"src": "2001:db8::1", "dport": 80, "iface": "auto"})
    assert "reverse-path filter passes (the packet arrives on the interface its source is routed through)" in out["assumptions"]
    assert verdict("ufw", {"src": "8.8.8.8", "dport": 22})["assumptions"] == []


def test_policy_verdict_names_the_chain():
    out = verdict("nft", {"src": "8.8.8.8", "dport": 9999})
    assert out["rule"] is None
    assert out["reason"] == "dropped by the policy of inet filter input"


def test_forwarding_off_drops_non_local():
    out = verdict("firewalld", {"src": "8.8.8.8", "dport": 80, "dst": "10.99.0.9", "iface": "eth0"})
    assert (out["verdict"], out["rule"]) == ("drop", None)
    assert out["reason"] == "routing: 10.99.0.9 is not a local address and ipv4 forwarding is off"


def test_list_of_packets():
    firewall, dummy = replay.firewall("nft")
    out = firewall_verdict(firewall, [{"src": "10.1.2.3", "dport": 22}, {"src": "10.3.2.3", "dport": 22}])
    assert [o["verdict"] for o in out] == ["accept", "drop"]


def test_incomplete_firewall_is_unknown():
    firewall, dummy = gather_firewall(replay.FakeModule("nft", fail={"nft": (1, "Operation not permitted")}),
                                      root=replay.root("nft"))
    out = firewall_verdict(firewall, {"src": "10.1.2.3", "dport": 22})
    assert out["verdict"] == "unknown"
    assert out["reason"] == ("the firewall facts are incomplete: /usr/sbin/nft -j list ruleset exited with 1: "
                             "Operation not permitted (reading the firewall needs root)")


@pytest.mark.parametrize("packet, message", [
    ("10.0.0.1", "packet must be a dict with src, dport (and optionally dst, proto, sport, iface, state), got str"),
    ({"dport": 22}, "packet is missing 'src' (the source address)"),
    ({"src": "10.0.0.300", "dport": 22}, "packet src: '10.0.0.300' is not an IP address"),
    ({"src": "10.0.0.1"}, "packet is missing 'dport' (needed for proto tcp)"),
    ({"src": "10.0.0.1", "dport": 0}, "packet dport 0 is not a port number between 1 and 65535"),
    ({"src": "10.0.0.1", "dport": "ssh"}, "packet dport 'ssh' is not a port number"),
    ({"src": "10.0.0.1", "dport": 22, "dst": "::1"}, "packet src 10.0.0.1 and dst ::1 are not the same IP version"),
    ({"src": "10.0.0.1", "dport": 22, "proto": "gre"}, "packet proto 'gre' is not one of tcp, udp, icmp, ipv6-icmp, sctp, udplite, dccp"),
    ({"src": "10.0.0.1", "dport": 22, "state": "old"}, "packet state 'old' is not one of new, established, related, invalid, untracked"),
    ({"src": "10.0.0.1", "dport": 22, "port": 1}, "packet has unknown keys port (allowed: src, dst, proto, dport, sport, iface, state)"),
])
def test_bad_packet(packet, message):
    with pytest.raises(PacketError) as exc:
        verdict("nft", packet)
    assert str(exc.value) == message


def _nft_with(change):
    """The nft scenario's fact, its native rule set parsed again after change(doc)."""
    import copy
    import json
    from ansible_collections.portproof.validate.plugins.module_utils._firewall import _gather, _nft
    base, dummy = replay.firewall("nft")
    with open(os.path.join(replay.root("nft"), "nft-list-ruleset.json")) as handle:
        doc = json.load(handle)
    with open(os.path.join(replay.root("nft"), "nft-a-list-ruleset.txt")) as handle:
        listing = handle.read()
    change(doc)
    text = json.dumps(doc)
    firewall = copy.copy(base)
    firewall["tables"] = _nft.parse_nft_json(text, listing)
    _gather._add_handles(firewall["tables"], _nft.nft_handles(text))
    return firewall


def _input_rule(doc, index):
    rules = [item["rule"] for item in doc["nftables"] if "rule" in item and item["rule"]["table"] == "filter"
             and item["rule"]["chain"] == "input"]
    return rules[index - 1]


def test_rule_with_an_unmodelled_statement_is_not_skipped():
    # inet filter input rule 4 accepts 10.1.2.3 on port 22; with a statement the model does not
    # know before its accept, the walk cannot say what that rule does (it used to skip the rule
    # and answer the chain's drop policy).
    firewall = _nft_with(lambda doc: _input_rule(doc, 4)["expr"].insert(-1, {"synproxy": {"mss": 1460}}))
    out = firewall_verdict(firewall, {"src": "10.1.2.3", "dport": 22})
    assert (out["verdict"], out["rule"]["index"], out["reason"]) == (
        "unknown", 4, "inet filter input rule 4: statement synproxy is not evaluated")
    # A packet the rule's modelled matches exclude is still decided.
    out = firewall_verdict(firewall, {"src": "8.8.8.8", "dport": 7000})
    assert (out["verdict"], out["rule"]["index"]) == ("drop", 13)


def test_rule_with_an_unmodelled_match_forks():
    firewall = _nft_with(lambda doc: _input_rule(doc, 4)["expr"].insert(0, {
        "match": {"op": "==", "left": {"meta": {"key": "cpu"}}, "right": 1}}))
    out = firewall_verdict(firewall, {"src": "10.1.2.3", "dport": 22})
    assert out["verdict"] == "unknown"
    assert out["reason"].startswith("inet filter input rule 4: meta cpu is not evaluated")
    assert "if it matches: accept by inet filter input rule 4" in out["reason"]


# Load balancing: chance picks the endpoint; the verdict stands when every endpoint gets the
# same one, with every destination listed; unknown when the endpoints' verdicts differ.
BALANCED = [
    ("kubenft", {"src": "8.8.8.8", "dst": "172.30.0.42", "dport": 80}, [("10.180.0.4", 8080), ("10.180.0.5", 8080)]),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 30042}, [("10.180.0.4", 8080), ("10.180.0.5", 8080)]),
    ("kubenft", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 9003}, [("10.180.0.10", 9003), ("10.180.0.11", 9003)]),
    ("kubeipt", {"src": "8.8.8.8", "dst": "172.30.0.42", "dport": 80}, [("10.180.0.4", 8080), ("10.180.0.5", 8080)]),
    ("kubeipt", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 30042}, [("10.180.0.4", 8080), ("10.180.0.5", 8080)]),
    ("kubeipt", {"src": "8.8.8.8", "dst": "172.30.0.44", "dport": 80}, [("10.180.0.12", 80), ("10.180.0.13", 80),
                                                                        ("10.180.0.14", 80)]),
    ("kubeipt", {"src": "8.8.8.8", "dst": "172.30.0.45", "dport": 80}, [("10.180.0.20", 80), ("10.180.0.21", 80)]),
]


@pytest.mark.parametrize("scenario, packet, destinations", BALANCED)
def test_load_balanced_service_lists_every_destination(scenario, packet, destinations):
    out = verdict(scenario, packet)
    assert out["verdict"] == "accept", out["reason"]
    assert [(d["dst"], d["dport"]) for d in out["destinations"]] == destinations
    assert (out["final_dst"], out["final_dport"]) == (None, None)
    assert out["reason"].startswith("accepted in every branch (")
    assert out["reason"].endswith("destinations: %s" % ", ".join("%s port %s" % d for d in destinations))


@pytest.mark.parametrize("scenario, chain", [("kubenft", "ip kube-proxy service-svc-b-dns rule 2"),
                                             ("kubeipt", "ip nat KUBE-SVC-BDNS rule 2")])
def test_load_balanced_endpoints_with_different_verdicts_are_unknown(scenario, chain):
    # One DNS endpoint (10.180.0.9) is dropped in forward: the verdict depends on chance.
    out = verdict(scenario, {"src": "8.8.8.8", "dst": "172.30.0.42", "dport": 53, "proto": "udp"})
    assert (out["verdict"], out["destinations"]) == ("unknown", [])
    assert out["reason"].startswith(chain + ": ")
    assert "10.180.0.4 port 53" in out["reason"]
    assert "drop by " in out["reason"]


def test_single_destination_is_listed():
    out = verdict("kubenft", {"src": "8.8.8.8", "dst": "172.30.0.41", "dport": 80})
    assert out["destinations"] == [{"dst": "10.180.0.1", "dport": 80}]
    out = verdict("nft", {"src": "10.1.2.3", "dport": 22})
    assert out["destinations"] == [{"dst": None, "dport": 22}]


@pytest.mark.parametrize("scenario, packet, rule", [
    ("podman", {"src": "8.8.8.8", "dport": 8443, "dst": "203.0.113.5"}, "ip nat PREROUTING rule 1"),
    ("kubeipt", {"src": "8.8.8.8", "dst": "192.168.50.5", "dport": 30046}, "ip filter KUBE-EXTERNAL-SERVICES rule 1"),
    ("kubenft", {"src": "192.168.50.7", "dst": "192.168.50.5", "dport": 9999, "proto": "udp"}, "inet compiler input rule 1"),
])
def test_address_types_without_the_local_routing_table_are_unknown(scenario, packet, rule):
    # A fact without local_routes (not gathered): addrtype / fib type matches are never guessed.
    firewall, dummy = replay.firewall(scenario)
    firewall["local_routes"] = None
    out = firewall_verdict(firewall, packet)
    assert out["verdict"] == "unknown", out["reason"]
    assert "the host's local routing table was not gathered (local_routes)" in out["reason"]
    assert out["reason"].startswith(rule + ": address type of ")


def test_local_routes_shape_is_checked():
    firewall, dummy = replay.firewall("nft")
    firewall["local_routes"] = [{"type": "local", "dst": "not-an-address", "dev": "eth0", "family": "ipv4"}]
    with pytest.raises(FirewallError) as exc:
        Compiled(firewall)
    assert "local_routes entry" in str(exc.value) and "not-an-address" in str(exc.value)


def _one_rule_fact(verdict):
    return {"tables": [{"source": "nftables", "family": "ip", "name": "t", "handle": 1, "chains": [
        {"name": "c", "hook": "input", "type": "filter", "priority": 0, "policy": "accept", "handle": 1,
         "rules": [{"index": 1, "text": "r", "match": [], "statements": [], "verdict": verdict}]}]}],
        "local_addresses": [], "local_routes": [], "forwarding": {"ipv4": False}}


@pytest.mark.parametrize("verdict, problem", [
    ({"kind": "vmap", "keys": ["dport"], "map": [[22, "accept"]]}, "a verdict map value is not a verdict"),
    ({"kind": "dnat", "map": "x"}, "'str' object has no attribute 'get'"),
    ({"kind": "vmap", "keys": ["daddr", "dport"], "map": [[22, {"kind": "drop"}]]}, "map element 22 does not have the keys daddr . dport"),
    ({"kind": "vmap", "keys": ["saddr"], "map": [["not-an-ip", {"kind": "drop"}]]}, "does not appear to be an IPv4 or IPv6 address"),
    ({"kind": "vmap", "keys": ["random"], "map": [[0, {"kind": "drop"}]]}, "a lookup by a random number needs a modulus of 1 or more, got None"),
])
def test_map_not_in_the_model_shape_is_unknown_naming_the_rule(verdict, problem):
    out = firewall_verdict(_one_rule_fact(verdict), {"src": "10.0.0.1", "dport": 22})
    assert out["verdict"] == "unknown"
    assert out["reason"].startswith("ip t c rule 1: map not evaluated: the map is not in the model's shape (")
    assert problem in out["reason"]


def _one_match_fact(match):
    fact = _one_rule_fact({"kind": "drop"})
    fact["tables"][0]["chains"][0]["rules"][0]["match"] = [match]
    return fact


@pytest.mark.parametrize("match, problem", [
    # A bool is no port (it used to be read as port 1 and drop the packet).
    ({"key": "dport", "op": "eq", "values": [True]}, "match dport [True] is not in the model's shape (not a port: True)"),
    ({"key": "dport", "op": "ne", "values": ["1-"]},
     "match dport ['1-'] is not in the model's shape (not a port or a port range low-high: '1-')"),
    ({"key": "saddr", "op": "eq", "values": ["10.0.0.300"]}, "match saddr ['10.0.0.300'] is not in the model's shape ("),
    # A range whose ends are of two IP versions (it used to be read as an IPv4 range ending at address 5).
    ({"key": "saddr", "op": "eq", "values": ["10.0.0.0-::5"]},
     "match saddr ['10.0.0.0-::5'] is not in the model's shape (not an address range of one IP version: '10.0.0.0-::5')"),
])
def test_match_not_in_the_model_shape_is_unknown_naming_the_rule(match, problem):
    out = firewall_verdict(_one_match_fact(match), {"src": "10.0.0.1", "dport": 1})
    assert out["verdict"] == "unknown"
    assert out["reason"].startswith("ip t c rule 1: " + problem)
    assert out["reason"].endswith("; if it matches: drop by ip t c rule 1; if not: accept by no rule (policy or routing) to the host port 1")


def test_reverse_path_of_a_link_local_source():
    # fe80::/64 is routed on every interface with IPv6: the check finds the incoming one's.
    firewall, dummy = replay.firewall("firewalld")
    packet = {"src": "fe80::1", "dport": 80, "iface": "eth0"}
    assert (firewall_verdict(firewall, packet)["verdict"], firewall_verdict(firewall, dict(packet, iface="br0"))["verdict"]) == (
        "drop", "accept")
    firewall["routes"] = firewall["routes"] + [{"dst": "fe80::/64", "dev": "eth0"}]  # eth0 with a link-local address
    out = firewall_verdict(firewall, packet)
    assert (out["verdict"], _rule_id(out["rule"])) == ("accept", "inet firewalld filter_IN_public_allow 3")


def test_loose_reverse_path_needs_a_route_back():
    # "fib saddr oif missing drop" first in inet filter input: a source with no route back is dropped.
    loose = {"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr"]}}, "right": False}}

    def add(doc):
        first = _input_rule(doc, 1)
        pos = doc["nftables"].index({"rule": first})
        doc["nftables"].insert(pos, {"rule": dict(first, handle=999, expr=[loose, {"drop": None}])})
    firewall = _nft_with(add)
    rule = [c for t in firewall["tables"] if t["name"] == "filter" for c in t["chains"] if c["name"] == "input"][0]["rules"][0]
    assert rule["match"][0] == {"key": "rpfilter", "op": "eq", "values": ["fail"], "loose": True}
    firewall["tables"] = [t for t in firewall["tables"] if t["name"] == "filter"]
    assert firewall_verdict(firewall, {"src": "8.8.8.8", "dport": 22})["verdict"] == "drop"  # the policy, not rule 1
    firewall["routes"] = [r for r in firewall["routes"] if r["dst"] not in ("0.0.0.0/0", "::/0")]
    out = firewall_verdict(firewall, {"src": "8.8.8.8", "dport": 22})
    assert (out["verdict"], _rule_id(out["rule"])) == ("drop", "inet filter input 1")
    assert firewall_verdict(firewall, {"src": "203.0.113.77", "dport": 22})["rule"] is None  # routed back through eth0


def _redirect_fact(addresses):
    """fw4's port redirection: 'tcp dport 26 redirect to :26' and 'tcp dport 27 redirect to :28'
    in nat prerouting, input accepting only what was DNATed ('ct status dnat accept'), policy drop."""
    def rule(index, match, verdict):
        return {"index": index, "text": "r%d" % index, "match": match, "statements": [], "verdict": verdict}
    dport = [{"key": "l4proto", "op": "eq", "values": ["tcp"]}]
    return {"tables": [{"source": "nftables", "family": "inet", "name": "fw4", "handle": 1, "chains": [
        {"name": "dstnat", "hook": "prerouting", "type": "nat", "priority": -100, "policy": "accept", "handle": 1,
         "rules": [rule(1, dport + [{"key": "dport", "op": "eq", "values": [26]}], {"kind": "redirect", "port": 26}),
                   rule(2, dport + [{"key": "dport", "op": "eq", "values": [27]}], {"kind": "redirect", "port": 28})]},
        {"name": "input", "hook": "input", "type": "filter", "priority": 0, "policy": "drop", "handle": 2,
         "rules": [rule(1, [{"key": "ct_status", "op": "eq", "values": ["dnat"]}], {"kind": "accept"})]}]}],
        "local_addresses": addresses, "local_routes": [], "forwarding": {"ipv4": False, "ipv6": False}}


# eth0 as `ip -j addr` lists it: the primary IPv4 address, a secondary one, IPv6 link-local and global.
_ETH0 = [
    {"iface": "lo", "address": "127.0.0.1", "prefixlen": 8, "broadcast": None, "secondary": False, "tentative": False},
    {"iface": "eth0", "address": "198.51.100.7", "prefixlen": 24, "broadcast": "198.51.100.255", "secondary": False,
     "tentative": False},
    {"iface": "eth0", "address": "198.51.100.9", "prefixlen": 24, "broadcast": "198.51.100.255", "secondary": True,
     "tentative": False},
    {"iface": "eth0", "address": "2001:db8::7", "prefixlen": 64, "broadcast": None, "secondary": False, "tentative": True},
    {"iface": "eth0", "address": "2001:db8::9", "prefixlen": 64, "broadcast": None, "secondary": False, "tentative": False},
]


@pytest.mark.parametrize("packet, expected, final_dst, final_dport", [
    # to the same port on the primary address: the destination does not change, no NAT is recorded.
    ({"dst": "198.51.100.7", "dport": 26}, "drop", "198.51.100.7", 26),
    # to another port: DNAT status.
    ({"dst": "198.51.100.7", "dport": 27}, "accept", "198.51.100.7", 28),
    # on the secondary address: REDIRECT moves it to the primary one, DNAT status.
    ({"dst": "198.51.100.9", "dport": 26}, "accept", "198.51.100.7", 26),
    # IPv6: the first address is tentative, the next one is where REDIRECT sends.
    ({"dst": "2001:db8::9", "dport": 26}, "drop", "2001:db8::9", 26),
    ({"dst": "2001:db8::7", "dport": 26}, "accept", "2001:db8::9", 26),
])
def test_redirect_to_the_address_and_port_the_packet_has_is_no_dnat(packet, expected, final_dst, final_dport):
    src = "2001:db8:f::5" if ":" in packet["dst"] else "203.0.113.5"
    out = firewall_verdict(_redirect_fact(_ETH0), dict(packet, src=src, iface="eth0"))
    assert (out["verdict"], out["final_dst"], out["final_dport"]) == (expected, final_dst, final_dport)
    assert (_rule_id(out["rule"]) if out["rule"] else out["reason"]) == (
        "inet fw4 input 1" if expected == "accept" else "dropped by the policy of inet fw4 input")


@pytest.mark.parametrize("addresses, packet, reason", [
    (_ETH0, {"dst": "198.51.100.7", "dport": 26},
     "inet fw4 dstnat rule 1: REDIRECT goes to the first address of the incoming interface: the packet has no iface"),
    ([dict(a, iface="eth1") for a in _ETH0], {"dst": "198.51.100.7", "dport": 26, "iface": "eth0"},
     "inet fw4 dstnat rule 1: REDIRECT goes to the first address of eth0: it has no usable IPv4 address in the host's facts"),
    ([{k: v for k, v in a.items() if k != "secondary"} for a in _ETH0], {"dst": "198.51.100.7", "dport": 26, "iface": "eth0"},
     "inet fw4 dstnat rule 1: REDIRECT goes to the first address of eth0: local_addresses do not say which addresses "
     "are secondary or tentative"),
])
def test_redirect_address_not_known_is_unknown_naming_the_rule(addresses, packet, reason):
    out = firewall_verdict(_redirect_fact(addresses), dict(packet, src="203.0.113.5"))
    assert (out["verdict"], out["reason"]) == ("unknown", reason)
