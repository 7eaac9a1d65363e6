# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rule sets, source hosts and ports of the firewall differential test.

The rule sets are the ones the unit fixtures were captured from
(tests/unit/plugins/module_utils/fixtures/firewall: ``sources/`` and the ufw, firewalld and
Podman scenarios of ``capture.sh``), plus one plain iptables rule set written here. Their
192.0.2.x addresses move to 198.18.2.x: 192.0.2.0/24 is a documentation range that a machine's
own network may use (this one's does), and the lab must never shadow it.

Each rule set names the ports that matter (every port a rule names, a port next to a range,
a port no rule names) and the addresses the target host needs (a destination a rule names, a
local address a DNAT rule sends to). DNAT to an address nothing answers for (the fixtures'
10.99.0.2 and 10.99.0.3 containers) is left out: what the kernel then does is the routing's,
not the firewall's; DNAT to a container that really listens is the Podman rule set. A rule set
that drops SSH from the lab bridge gets one rule admitting it (``admit_ansible``): port_facts
comes over SSH from there, and no probe does.
"""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "unit", "plugins", "module_utils", "fixtures", "firewall", "sources")
REALWORLD = os.path.join(os.path.dirname(FIXTURES), "realworld")
MOVED = (("192.0.2.", "198.18.2."),)

# Networks the lab hosts reach on their link (routes added on every host): the sources' extra
# addresses and the targets' extra destinations. None may overlap this machine's networks.
NETWORKS = ("10.1.0.0/16", "10.2.0.0/16", "198.18.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
# Addresses only ever used inside one target (DNAT to a local address), between a target and
# its backend host (DNAT to a forwarded backend), or routed by the sources through one target
# (its service addresses, which no host holds).
LOCAL_ONLY = ("10.99.0.1/32", "10.180.0.0/24", "198.18.9.0/24", "198.18.26.0/24", "198.18.30.0/24", "198.18.31.0/24")

# Source hosts and their extra addresses: some are matched by rules, some not (their lab
# addresses, in 10.231.0.0/16, are matched only by 10.0.0.0/8 rules).
SOURCES = {
    "src1": ["10.1.0.7", "198.18.2.10", "198.51.100.15", "198.51.100.130", "203.0.113.200", "2001:db8:1::7"],
    "src2": ["10.2.0.9", "198.18.2.3", "198.18.2.20", "198.18.2.50", "198.18.2.66", "198.18.2.77", "198.51.100.5",
             "2001:db8:bad::9"],
    "src3": ["198.18.2.99", "198.18.2.200", "198.51.100.66", "203.0.113.7", "2001:db8:2::3"],
}


def fixture(name):
    """A rule set source of the unit fixtures, comment lines left out, 192.0.2.x moved."""
    with open(os.path.join(FIXTURES, name)) as handle:
        text = "".join(line for line in handle if not line.startswith("#"))
    return moved(text)


def realworld(name):
    """A rule set that a real tool generated (fixtures/firewall/realworld: provenance and the
    lab's adaptations in its header, which is left out here)."""
    with open(os.path.join(REALWORLD, name)) as handle:
        return "".join(line for line in handle if not line.startswith("#"))


def moved(text):
    for old, new in MOVED:
        text = text.replace(old, new)
    return text


def admit_ansible(text, after):
    """The rule set with one more rule after the line ``after``: SSH from the lab bridge, where
    Ansible (port_facts) comes from. Probes never come from there."""
    head, sep, tail = text.partition(after + "\n")
    assert sep, "no line %r to admit Ansible after" % after
    if after.startswith(":"):  # iptables: before the first rule of the table
        rule = "-A INPUT -s {lab_address}/32 -p tcp -m tcp --dport 22 -m comment --comment ansible -j ACCEPT\n"
    else:
        rule = "\t\tip saddr {lab_address} tcp dport 22 accept comment \"ansible\"\n"
    return head + sep + rule + tail


PLAIN = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 123 -j CT --notrack
-A PREROUTING -p tcp -m tcp --dport 1500 -j NOTRACK
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -s 198.18.2.50/32 -j MARK --set-xmark 0x7/0xff
-A PREROUTING -p udp -m udp --dport 5060 -j CONNMARK --set-xmark 0x1/0x1
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 1500 -j REDIRECT --to-ports 9
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ADMIN - [0:0]
:BLOCK - [0:0]
:TCP_IN - [0:0]
:UDP_IN - [0:0]
:WEB - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -s 10.0.0.0/8 -m conntrack --ctstate UNTRACKED -j ACCEPT
-A INPUT -s 198.51.100.0/24 ! -d {address:fw-plain}/32 -j BLOCK
-A INPUT -p tcp -m conntrack --ctstate NEW -j TCP_IN
-A INPUT -p udp -m state --state NEW -j UDP_IN
-A INPUT -m mark --mark 0x7/0xff -j ACCEPT
-A INPUT -p udp -j REJECT --reject-with icmp-port-unreachable
-A INPUT ! -s 10.0.0.0/8 -p tcp -j REJECT --reject-with tcp-reset
-A ADMIN -s 10.1.0.0/16 -j ACCEPT
-A ADMIN -s {address:src1}/32 -m comment --comment "the admin's own host" -j ACCEPT
-A ADMIN -s {lab_address}/32 -m comment --comment ansible -j ACCEPT
-A ADMIN -j RETURN
-A BLOCK -p tcp -m tcp --dport 443 -j ACCEPT
-A BLOCK -j DROP
-A TCP_IN -p tcp -m multiport --dports 80,443,8000:8010 -j WEB
-A TCP_IN -p tcp -m tcp --dport 22 -j ADMIN
-A TCP_IN -p tcp -m multiport ! --dports 1:1023,5432 -m iprange --src-range 198.18.2.1-198.18.2.63 -j ACCEPT
-A TCP_IN -p tcp -m tcp --dport 5432 -g ADMIN
-A TCP_IN -s 10.2.0.0/16 -p tcp -m tcp --dport 3306 -j REJECT --reject-with icmp-admin-prohibited
-A TCP_IN -p tcp -m tcp --dport 3306 -j ACCEPT
-A TCP_IN -d 203.0.113.12/32 -p tcp -m tcp --dport 9000 -j ACCEPT
-A TCP_IN -p tcp -m tcp --dport 9000 -j DROP
-A UDP_IN -p udp -m multiport --dports 53,123 -j ACCEPT
-A UDP_IN ! -s 198.51.100.0/24 -p udp -m udp --dport 5060 -m connmark --mark 0x1/0x1 -j ACCEPT
-A UDP_IN -s 10.0.0.0/8 -p udp -m udp --dport 161 -j ACCEPT
-A UDP_IN -p udp -m udp --dport 161 -j DROP
-A WEB -s 198.18.2.66/32 -j RETURN
-A WEB ! -s 10.0.0.0/8 -p tcp -m tcp --dport 8000:8010 -j REJECT --reject-with icmp-host-prohibited
-A WEB -j ACCEPT
COMMIT
"""

# Loaded after PLAIN: a second base chain at the same hook and priority as iptables' INPUT. The
# kernel runs the chain registered last first (nf_hook_entries_grow inserts a new hook before
# the ones of equal priority), so this one decides before iptables does. Packets made untracked
# before conntrack (raw priority: 161/udp here, 123/udp and 1500/tcp in PLAIN) are "ct state
# untracked" and skip the nat chains (no REDIRECT of 1500 to the closed port 9); a notrack after
# conntrack (5060/udp) does nothing.
PLAIN_TIE = """table inet tie {
    chain input {
        type filter hook input priority filter; policy accept;
        tcp dport 2000 reject with icmpx admin-prohibited
        udp dport 514 drop
    }
    chain raw {
        type filter hook prerouting priority raw; policy accept;
        udp dport 161 notrack
    }
    chain late {
        type filter hook prerouting priority filter; policy accept;
        udp dport 5060 notrack
    }
}
"""

# The "ufw" scenario of capture.sh.
UFW = ["default deny incoming", "default allow outgoing", "allow 22/tcp", "deny from 198.51.100.0/24",
       "allow from 10.1.0.0/16 to any port 5432 proto tcp", "deny 6379", "limit 2222/tcp",
       "allow in on eth1 to any port 161 proto udp", "reject 23/tcp", "allow 8000:8010/tcp",
       "allow from 2001:db8:1::/48 to any port 443 proto tcp", "allow proto tcp from any to 203.0.113.5 port 8443",
       "--force enable"]

# The "firewalld" scenario of capture.sh (firewall-cmd arguments).
FIREWALLD = [
    "--zone=public --add-interface=eth0",
    "--zone=internal --add-interface=eth1",
    "--zone=trusted --add-source=192.0.2.0/28",
    "--zone=public --add-service=http --add-service=https",
    "--zone=public --add-port=8000-8010/tcp",
    """--zone=public --add-rich-rule='rule family="ipv4" source address="10.1.0.0/16" port port="5432" protocol="tcp" accept'""",
    """--zone=public --add-rich-rule='rule family="ipv4" source address="198.51.100.0/24" reject'""",
    """--zone=public --add-rich-rule='rule family="ipv4" source address="203.0.113.0/24" service name="ssh" drop'""",
    "--zone=public --add-forward-port=port=8443:proto=tcp:toport=443",
    "--zone=internal --add-service=postgresql",
]

# Filtering around the Podman host's published ports: forward sees the container's port (after
# DNAT), input sees what is not published.
PODMAN_GUARD = """table inet guard {
    chain published {
        type filter hook forward priority -10; policy accept;
        ip saddr 198.51.100.0/24 tcp dport 80 drop
        ip saddr {address:src3} udp dport 53 reject
    }
    chain host {
        type filter hook input priority 0; policy accept;
        tcp dport 9000 ip saddr != 10.1.0.0/16 reject with tcp reset
        udp dport 5353 drop
        tcp dport 1234 drop
    }
}
"""

# kube-proxy's service addresses (routed by the sources through the target, held by nobody), and
# its endpoints: 10.180.0.1-3 local on the target, 10.180.0.4-5 on a backend host behind a veth.
KUBE_LOCAL_ENDPOINTS = ["10.180.0.1/32", "10.180.0.2/32", "10.180.0.3/32"]
KUBE_NFT_SERVICES = ["198.18.30.%d" % n for n in (41, 42, 43, 44, 45, 46, 50)] + [
    "198.51.100.22", "198.51.100.33", "203.0.113.34", "203.0.113.78"]
KUBE_IPT_SERVICES = ["198.18.31.%d" % n for n in (41, 42, 43, 44, 45, 46)] + [
    "198.51.100.122", "198.51.100.133", "203.0.113.134", "203.0.113.178"]
KUBE_TCP = [22, 80, 443, 3001, 3002, 3003, 8080, 30000]
KUBE_UDP = [53, 3001]
KUBE_FORWARDING = {"net.ipv4.ip_forward": "1"}

# name: the target host's description, the ports that matter, whether IPv6 is probed too,
# rate-limited ports (probes per source address kept under the limit) and ports held by others.
# "backend": a host behind a veth of the target ("link": its name on the target, "target" and
# "address": the two ends, "addresses": what the backend holds, "listen": its listeners), reached
# only through the target; "routed": addresses the sources route through the target, which
# forwards them to the backend when no rule sends them elsewhere (nothing leaves the lab);
# "probes": fewer probes than PROBES_PER_SET (a rule set with a global rate limit).
RULESETS = {
    "kube-nft": {
        "host": {"name": "fw-kpnft", "addresses": KUBE_LOCAL_ENDPOINTS, "sysctls": KUBE_FORWARDING,
                 "nft": realworld("kube-proxy-nftables.nft")},
        "backend": {"name": "be-kpnft", "link": "kp0", "target": "10.180.0.254/24", "addresses": ["10.180.0.4/24", "10.180.0.5/24"],
                    "listen": ["tcp:10.180.0.4:80", "tcp:10.180.0.5:80"]},
        "routed": KUBE_NFT_SERVICES,
        "tcp": KUBE_TCP, "udp": KUBE_UDP, "ipv6": False,
    },
    "kube-iptables": {
        "host": {"name": "fw-kpipt", "addresses": KUBE_LOCAL_ENDPOINTS, "sysctls": KUBE_FORWARDING,
                 "iptables": realworld("kube-proxy-iptables.rules")},
        "backend": {"name": "be-kpipt", "link": "kp0", "target": "10.180.0.254/24", "addresses": ["10.180.0.4/24", "10.180.0.5/24"],
                    "listen": ["tcp:10.180.0.4:80", "tcp:10.180.0.5:80"]},
        "routed": KUBE_IPT_SERVICES,
        "tcp": KUBE_TCP, "udp": KUBE_UDP, "ipv6": False,
    },
    "docker": {
        "host": {"name": "fw-docker", "sysctls": KUBE_FORWARDING, "nft": realworld("docker-nftables.nft")},
        "backend": {"name": "be-docker", "link": "bridge1", "target": "198.18.9.1/24", "addresses": ["198.18.9.2/24"],
                    "listen": ["tcp:198.18.9.2:80", "udp:198.18.9.2:80"]},
        "routed": ["198.18.9.2"],  # the container's own address: Docker drops direct access from outside
        "tcp": [22, 80, 443, 8080, 8081], "udp": [53, 8080], "ipv6": True,
    },
    "openwrt": {
        "host": {"name": "fw-openwrt", "nft": admit_ansible(realworld("openwrt-fw4.nft"),
                                                            '\t\tiif "lo" accept comment "!fw4: Accept traffic from loopback"')},
        "tcp": [22, 80, 443, 554, 1723], "udp": [53, 68, 161, 500, 546], "ipv6": True,
        "probes": 70,  # syn_flood: 25 SYN/s, burst 50, for every source at once
    },
    "openwrt-redirect": {
        "host": {"name": "fw-owrtnat", "sysctls": KUBE_FORWARDING,
                 "nft": admit_ansible(admit_ansible(realworld("openwrt-fw4-redirect.nft"), "\tchain dstnat_wan {"),
                                      "\tchain input_wan {")},
        "backend": {"name": "be-owrtnat", "link": "br-lan", "target": "198.18.26.1/24", "addresses": ["198.18.26.100/24"],
                    "listen": ["tcp:198.18.26.100:22", "tcp:198.18.26.100:24"]},
        "tcp": [22, 23, 24, 25, 26, 27, 80], "udp": [53, 68], "ipv6": False,
    },
    "shorewall": {
        "host": {"name": "fw-shorewall", "iptables": realworld("shorewall.rules")},
        "tcp": [22, 53, 80, 443, 3306, 5432, 8080, 9000], "udp": [53, 67, 68, 161], "ipv6": False,
    },
    "ferm": {
        "host": {"name": "fw-ferm", "iptables": realworld("ferm.v4"), "ip6tables": realworld("ferm.v6")},
        "tcp": [22, 53, 80, 443, 3306, 5432, 8000, 8010, 8011, 8080, 9100],
        "udp": [53, 123, 161, 500, 5353],
        "ipv6": True,
    },
    "plain": {
        "host": {"name": "fw-plain", "addresses": ["203.0.113.12/32"], "iptables": PLAIN, "nft": PLAIN_TIE},
        "tcp": [22, 80, 443, 1023, 1500, 2000, 3306, 5432, 8000, 8010, 8011, 9000],
        "udp": [53, 123, 161, 514, 5060],
        "ipv6": False,
    },
    "ipset": {
        "host": {"name": "fw-ipset", "addresses": ["203.0.113.11/32", "10.99.0.1/32"], "ipset": fixture("ipset.save"),
                 "iptables": admit_ansible(fixture("iptables.v4"), ":SERVICES - [0:0]"), "ip6tables": fixture("iptables.v6"),
                 "nft": fixture("iptables-extra.nft")},
        "tcp": [22, 25, 80, 443, 1023, 1500, 2222, 3000, 3306, 3999, 4000, 5432, 6000, 6379, 8443, 9050, 9090, 9091],
        "udp": [53, 123, 161],
        "ipv6": True,
    },
    "nft": {
        "host": {"name": "fw-nft", "addresses": ["203.0.113.99/32", "10.99.0.1/32"], "nft": admit_ansible(fixture("native.nft"), '\t\tiif "lo" accept')},
        "tcp": [22, 25, 80, 110, 443, 1234, 2222, 5432, 6379, 7000, 7001, 8000, 8005, 8010, 8081, 8443, 9000, 9050,
                9100, 9101, 9443, 9999],
        "udp": [53, 161, 5000, 5050, 5100, 5101],
        "ipv6": True,
    },
    "ufw": {
        "host": {"name": "fw-ufw", "addresses": ["203.0.113.5/32"], "ufw": [moved(c) for c in UFW]},
        "tcp": [22, 23, 80, 443, 2222, 5432, 6379, 7999, 8000, 8010, 8443],
        "udp": [53, 67, 137, 161, 5353, 6379],
        "ipv6": True,
        "limited": {("tcp", 2222): 3},  # ufw limit: the 6th new connection in 30 s from one address is refused
    },
    "firewalld": {
        "host": {"name": "fw-firewalld", "addresses": ["203.0.113.15/32"],
                 "firewalld": {"commands": [moved(c) for c in FIREWALLD]}},
        "tcp": [22, 80, 443, 1234, 5432, 8000, 8010, 8443, 9090],
        "udp": [53, 546, 1234, 5353],
        "ipv6": True,
    },
    "podman": {
        "host": {"name": "fw-podman", "addresses": ["203.0.113.6/32"], "nft": PODMAN_GUARD,
                 "containers": [{"name": "web",
                                 "publish": ["8080:80/tcp", "127.0.0.1:9000:9000/tcp", "203.0.113.6:8443:443/tcp",
                                             "5353:53/udp"],
                                 "command": ["/bin/sh", "-c", "httpd -p 80 -h /www && exec httpd -f -p 443 -h /www"]}],
                 "services": [{"name": "dns", "container": "web", "listen": ["udp:0.0.0.0:53"]}]},
        "tcp": [22, 80, 443, 1234, 8080, 8443, 9000],
        "udp": [53, 1234, 5353],
        "ipv6": False,
        "container_ports": [("tcp", 80), ("tcp", 443), ("udp", 53)],  # what the container serves
        # Podman's conmon holds the published host ports (address, port): no host listener there.
        "held": {("tcp", 8080): "0.0.0.0", ("tcp", 9000): "127.0.0.1", ("tcp", 8443): "203.0.113.6",
                 ("udp", 5353): "0.0.0.0"},
    },
}
