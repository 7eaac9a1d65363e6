#!/usr/bin/env python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: gather a 20,000-rule iptables rule set, then evaluate 1,000 verdicts; the same for
a kube-proxy-sized nftables rule set (kube-proxy's nftables mode with 1,000 services).

    .venv/bin/python bench/firewall_bench.py [--rules 20000] [--verdicts 1000] [--services 1000] [--synthetic]

As root (and unless --synthetic) the rule set is loaded with iptables-nft-restore into a network
namespace ``ppfw-bench`` made for the run (removed afterwards, also on failure), and read back
with the real tools through gather_firewall(). Otherwise the generated iptables-save text is
parsed directly. Prints the times; the targets are gather < 2 s and 1,000 verdicts < 1 s. The
alternative measured in the same run is listing the whole ruleset with nft (JSON and text), which
reads every iptables-nft rule again; the gather lists native nft tables one by one instead.

The kube-proxy rule set (``kube_ruleset``) has the shape of kube-proxy's nftables mode (the
golden output in tests/unit/plugins/module_utils/fixtures/firewall/realworld/kube-proxy-nftables.nft):
the ``service-ips`` verdict map keyed on ``ip daddr . meta l4proto . th dport`` with an element
per ClusterIP and external IP (1,000 services: 1,250 elements), ``service-nodeports``, the
no-endpoint maps, and per service a chain that load-balances with ``numgen random mod N vmap``
over per-endpoint chains that DNAT. It is loaded with ``nft -f`` into its own namespace
``ppfw-bench-kube``, gathered (the gather then lists the whole ruleset with nft, as the
alternative does) and probed with 1,000 packets to ClusterIPs, NodePorts and other ports.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = "ppfw-bench"
NS_KUBE = "ppfw-bench-kube"
NODE_IP = "203.0.113.5"


def _import_collection():
    root = tempfile.mkdtemp(prefix="ppfw-bench-coll-")
    os.makedirs(os.path.join(root, "ansible_collections", "portproof"))
    os.symlink(TOP, os.path.join(root, "ansible_collections", "portproof", "validate"))
    sys.path.insert(0, root)
    return root


def ruleset(count, seed=7):
    """iptables-restore text with ``count`` rules: nat DNATs, a long INPUT chain, user chains."""
    rnd = random.Random(seed)
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
           ":PORTMAP - [0:0]", "-A PREROUTING -m addrtype --dst-type LOCAL -j PORTMAP"]
    n_dnat = count // 40
    for i in range(n_dnat):
        nat.append("-A PORTMAP -p tcp -m tcp --dport %d -j DNAT --to-destination 10.99.%d.%d:80" % (20000 + i, i // 250, i % 250 + 2))
    nat.append("COMMIT")
    chains = ["SVC%03d" % i for i in range(50)]
    filt = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"] + [":%s - [0:0]" % c for c in chains]
    filt += ["-A INPUT -i lo -j ACCEPT", "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
             "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A FORWARD -d 10.99.0.0/16 -j ACCEPT"]
    remaining = count - len([line for line in nat if line.startswith("-A")]) - 4
    per_chain = remaining // 2 // len(chains)
    for pos, chain in enumerate(chains):
        filt.append("-A INPUT -s 10.%d.0.0/16 -j %s" % (pos, chain))
        for j in range(per_chain):
            kind = j % 5
            src = "10.%d.%d.%d" % (pos, rnd.randrange(256), rnd.randrange(256))
            if kind == 0:
                filt.append("-A %s -s %s/32 -p tcp -m tcp --dport %d -j ACCEPT" % (chain, src, rnd.randrange(1, 65535)))
            elif kind == 1:
                filt.append('-A %s -p tcp -m multiport --dports %d,%d,%d:%d -m comment --comment "svc %d" -j ACCEPT' % (
                    chain, rnd.randrange(1, 1000), rnd.randrange(1000, 2000), 3000 + j, 3100 + j, j))
            elif kind == 2:
                filt.append("-A %s -s %s/32 -j DROP" % (chain, src))
            elif kind == 3:
                filt.append("-A %s -p udp -m udp --dport %d -m conntrack --ctstate NEW -j ACCEPT" % (chain, rnd.randrange(1, 65535)))
            else:
                filt.append("-A %s -m iprange --src-range %s-%s -p tcp -m tcp ! --dport 1:1023 -j REJECT" % (chain, src, src))
    used = len([line for line in nat + filt if line.startswith("-A")])
    for j in range(count - used):
        if j % 3 == 0:
            filt.append("-A INPUT -s 172.%d.%d.0/24 -p tcp -m tcp --dport %d -j ACCEPT" % (16 + j % 16, j % 256, rnd.randrange(1, 65535)))
        elif j % 3 == 1:
            filt.append("-A INPUT -p tcp -m tcp --dport %d -j ACCEPT" % rnd.randrange(1, 65535))
        else:
            filt.append("-A INPUT -s 192.168.%d.%d/32 -j DROP" % (j % 256, (j // 256) % 256))
    filt.append("COMMIT")
    return "\n".join(nat + filt) + "\n"


# A native nftables table beside the iptables-nft rules (as a host with its own nft rules has):
# read with nft, table by table, while the iptables-nft tables come from iptables-nft-save.
NATIVE = """table inet hostguard {
    set admins { type ipv4_addr; flags interval; elements = { 198.51.100.0/24, 203.0.113.64/26 } }
    chain input {
        type filter hook input priority -10; policy accept;
        ip saddr @admins tcp dport 22 accept
        tcp dport 23 drop
        udp dport 161 ip saddr != 10.0.0.0/8 drop
    }
}
"""


def packets(count, seed=11):
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        if i % 4 == 0:
            src = "10.%d.%d.%d" % (rnd.randrange(50), rnd.randrange(256), rnd.randrange(256))
        elif i % 4 == 1:
            src = "172.%d.%d.9" % (16 + rnd.randrange(16), rnd.randrange(256))
        elif i % 4 == 2:
            src = "203.0.113.%d" % rnd.randrange(1, 255)
        else:
            src = "192.168.%d.%d" % (rnd.randrange(256), rnd.randrange(256))
        proto = "udp" if i % 7 == 0 else "tcp"
        dport = 20000 + rnd.randrange(500) if i % 10 == 0 else rnd.randrange(1, 65535)
        out.append({"src": src, "dport": dport, "proto": proto, "iface": "eth0"})
    return out


def _cluster_ip(index):
    return str(ipaddress.ip_address("10.96.0.1") + index)


def kube_ruleset(services, seed=13):
    """kube-proxy's nftables-mode rule set for ``services`` services (1-3 endpoints each, every
    10th without endpoints, every 4th with a NodePort, every 5th with an external IP)."""
    rnd = random.Random(seed)
    out = [
        "add table ip kube-proxy",
        "add set ip kube-proxy cluster-ips { type ipv4_addr ; }",
        "add set ip kube-proxy nodeport-ips { type ipv4_addr ; }",
        "add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }",
        "add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }",
        "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }",
        "add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; }",
        "add chain ip kube-proxy cluster-ips-check",
        "add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }",
        "add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }",
        "add chain ip kube-proxy mark-for-masquerade",
        "add chain ip kube-proxy masquerading",
        "add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }",
        "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }",
        "add chain ip kube-proxy nodeport-endpoints-check",
        "add chain ip kube-proxy reject-chain",
        "add chain ip kube-proxy services",
        "add chain ip kube-proxy service-endpoints-check",
        "add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject",
        "add rule ip kube-proxy cluster-ips-check ip daddr { 10.96.0.0/12 } drop",
        "add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check",
        "add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check",
        "add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check",
        "add rule ip kube-proxy filter-input ct state new jump service-endpoints-check",
        "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000",
        "add rule ip kube-proxy masquerading mark and 0x4000 == 0 return",
        "add rule ip kube-proxy masquerading mark set mark xor 0x4000",
        "add rule ip kube-proxy masquerading masquerade fully-random",
        "add rule ip kube-proxy nat-postrouting jump masquerading",
        "add rule ip kube-proxy nat-prerouting jump services",
        "add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports",
        "add rule ip kube-proxy reject-chain reject",
        "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
        "add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
        "add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        "add element ip kube-proxy nodeport-ips { %s }" % NODE_IP,
    ]
    chains, rules, elements = [], [], []
    for i in range(services):
        cip = _cluster_ip(i)
        port = 80 if i % 3 else 443
        name = "service-%04d-ns/svc%d/tcp/p%d" % (i, i, port)
        nodeport = 30000 + i if i % 4 == 0 else None
        external = "198.51.%d.%d" % (100 + i // 250, i % 250 + 1) if i % 5 == 0 else None
        elements.append("add element ip kube-proxy cluster-ips { %s }" % cip)
        if i % 10 == 9:  # no endpoints
            elements.append("add element ip kube-proxy no-endpoint-services { %s . tcp . %d : goto reject-chain }" % (cip, port))
            if nodeport:
                elements.append("add element ip kube-proxy no-endpoint-nodeports { tcp . %d : drop }" % nodeport)
            continue
        chains.append("add chain ip kube-proxy %s" % name)
        rules.append("add rule ip kube-proxy %s ip daddr %s ip saddr != 10.0.0.0/8 jump mark-for-masquerade" % (name, cip))
        endpoints = ["10.%d.%d.%d" % (128 + rnd.randrange(64), rnd.randrange(256), rnd.randrange(1, 255))
                     for dummy in range(1 + i % 3)]
        targets = []
        for n, ep in enumerate(endpoints):
            chain = "endpoint-%04d-%d-ns/svc%d/tcp/p%d__%s/%d" % (i, n, i, port, ep, port)
            chains.append("add chain ip kube-proxy %s" % chain)
            rules.append("add rule ip kube-proxy %s ip saddr %s jump mark-for-masquerade" % (chain, ep))
            rules.append("add rule ip kube-proxy %s meta l4proto tcp dnat to %s:%d" % (chain, ep, port))
            targets.append("%d : goto %s" % (n, chain))
        rules.append("add rule ip kube-proxy %s numgen random mod %d vmap { %s }" % (name, len(endpoints), " , ".join(targets)))
        elements.append("add element ip kube-proxy service-ips { %s . tcp . %d : goto %s }" % (cip, port, name))
        if external:
            elements.append("add element ip kube-proxy service-ips { %s . tcp . %d : goto %s }" % (external, port, name))
        if nodeport:
            elements.append("add element ip kube-proxy service-nodeports { tcp . %d : goto %s }" % (nodeport, name))
    return "\n".join(out + chains + rules + elements) + "\n"


def kube_packets(count, services, seed=17):
    """Packets to ClusterIPs (their port and another), NodePorts on the node, other ports."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        svc = rnd.randrange(services)
        src = "192.0.2.%d" % rnd.randrange(1, 255) if i % 2 else "10.%d.%d.%d" % (rnd.randrange(1, 90), rnd.randrange(256), rnd.randrange(256))
        kind = i % 4
        if kind == 0:
            dst, dport = _cluster_ip(svc), 80 if svc % 3 else 443
        elif kind == 1:
            dst, dport = _cluster_ip(svc), 8080
        elif kind == 2:
            dst, dport = NODE_IP, 30000 + svc - svc % 4
        else:
            dst, dport = NODE_IP, rnd.randrange(1, 65535)
        out.append({"src": src, "dst": dst, "dport": dport, "sport": 40000 + i, "proto": "tcp", "iface": "eth0"})
    return out


class NetnsModule(object):
    """get_bin_path/run_command that run the real tools inside the bench namespace and keep their output."""

    def __init__(self, netns=NS):
        self.outputs = {}
        self.netns = netns

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name)

    def run_command(self, argv, environ_update=None, before_communicate_callback=None):
        env = dict(os.environ, **(environ_update or {}))
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, env=env)
        if before_communicate_callback is not None:
            before_communicate_callback(proc)  # the gather's time limit, as AnsibleModule.run_command gives it
        out, err = proc.communicate()
        self.outputs[tuple(argv)] = (proc.returncode, out, err)
        return proc.returncode, out, err


class ReplayModule(object):
    def __init__(self, outputs):
        self.outputs = outputs

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name)

    def run_command(self, argv, environ_update=None, before_communicate_callback=None):
        return self.outputs[tuple(argv)]


def _run(argv, stdin=None):
    subprocess.run(argv, input=stdin, universal_newlines=True, check=True)


def _time_ruleset_dumps(x):
    """The alternative: list the whole ruleset (every iptables-nft rule again) in both forms; seconds."""
    start = time.perf_counter()
    for form in ("-j", "-a"):
        subprocess.run(x + ["nft", form, "list", "ruleset"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _remove_netns(name, root):
    """End what runs in the bench's namespace (by pid), delete it, and remove its stand-in root."""
    for pid in subprocess.run(["ip", "netns", "pids", name], stdout=subprocess.PIPE, universal_newlines=True,
                              check=False).stdout.split():
        subprocess.run(["kill", pid], check=False)
    subprocess.run(["ip", "netns", "del", name], check=False)
    if root:
        shutil.rmtree(root, ignore_errors=True)


def gather_real(text):
    from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
    _run(["ip", "netns", "add", NS])
    root = None
    try:
        x = ["ip", "netns", "exec", NS]
        _run(x + ["ip", "link", "set", "lo", "up"])
        _run(x + ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"])
        _run(x + ["ip", "addr", "add", "203.0.113.5/24", "dev", "eth0"])
        _run(x + ["ip", "link", "set", "eth0", "up"])
        _run(x + ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        start = time.perf_counter()
        _run(x + ["iptables-nft-restore"], stdin=text)
        _run(x + ["nft", "-f", "-"], stdin=NATIVE)
        load = time.perf_counter() - start
        module = NetnsModule()
        root = _proc_root(NS)
        routes = _local_routes_of(NS)
        start = time.perf_counter()
        firewall, unavailable = gather_firewall(module, root=root, local_routes=lambda: routes)
        tools_and_parse = time.perf_counter() - start
        dumps = _time_ruleset_dumps(x)
        start = time.perf_counter()
        firewall, unavailable = gather_firewall(ReplayModule(module.outputs), root=root, local_routes=lambda: routes)
        parse = time.perf_counter() - start
    finally:
        _remove_netns(NS, root)
    nft_calls = [" ".join(argv[1:]) for argv in module.outputs if os.path.basename(argv[0]) == "nft"]
    print("nft commands run by the gather: %s" % "; ".join(nft_calls))
    return firewall, unavailable, {"load (iptables-nft-restore, nft -f)": load, "gather with the real tools": tools_and_parse,
                                   "gather (parse only, tool output replayed)": parse,
                                   "alternative: nft -j + nft -a list ruleset alone": dumps}


def _proc_root(netns):
    """A directory standing in for / with the namespace's forwarding switches (the gather reads
    /proc/sys of the process that runs it: the machine's, not the namespace's)."""
    root = tempfile.mkdtemp(prefix="ppfw-bench-root-")
    for path in ("proc/sys/net/ipv4/ip_forward", "proc/sys/net/ipv6/conf/all/forwarding"):
        value = subprocess.run(["ip", "netns", "exec", netns, "cat", "/" + path], stdout=subprocess.PIPE,
                               universal_newlines=True, check=True).stdout
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as handle:
            handle.write(value)
    return root


def _local_routes_of(netns):
    """The local routing table of the namespace (what the gather reads in its own namespace)."""
    from ansible_collections.portproof.validate.plugins.module_utils._firewall import _local_routes
    from ansible_collections.portproof.validate.plugins.module_utils._sockets import _netlink
    sock = _netlink.open_socket(_netlink.NETLINK_ROUTE, netns_path="/run/netns/" + netns)
    try:
        return _local_routes.read_local_routes(sock), None
    finally:
        sock.close()


def gather_kube(text):
    """Load the kube-proxy rule set into its own namespace and gather it with the real tools."""
    from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
    _run(["ip", "netns", "add", NS_KUBE])
    root = None
    try:
        x = ["ip", "netns", "exec", NS_KUBE]
        _run(x + ["ip", "link", "set", "lo", "up"])
        _run(x + ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"])
        _run(x + ["ip", "addr", "add", NODE_IP + "/24", "dev", "eth0"])
        _run(x + ["ip", "link", "set", "eth0", "up"])
        _run(x + ["ip", "route", "add", "default", "via", "203.0.113.1", "dev", "eth0"])  # endpoints are routed (a dead end: eth0p stays down)
        _run(x + ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        start = time.perf_counter()
        _run(x + ["nft", "-f", "-"], stdin=text)
        load = time.perf_counter() - start
        module = NetnsModule(NS_KUBE)
        root = _proc_root(NS_KUBE)
        start = time.perf_counter()
        firewall, unavailable = gather_firewall(module, root=root, local_routes=lambda: _local_routes_of(NS_KUBE))
        tools_and_parse = time.perf_counter() - start
        dumps = _time_ruleset_dumps(x)
    finally:
        _remove_netns(NS_KUBE, root)
    return firewall, unavailable, {"load (nft -f)": load, "gather with the real tools": tools_and_parse,
                                   "alternative: nft -j + nft -a list ruleset alone": dumps}


def kube_bench(services, verdicts):
    """The kube-proxy-sized nftables rule set: gather, then verdicts; True when both targets are met."""
    from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, evaluate
    text = kube_ruleset(services)
    print("--- kube-proxy nftables mode, %d services: %d elements in service-ips, %d chains, %d rules" % (
        services, text.count("add element ip kube-proxy service-ips"), text.count("\nadd chain"), text.count("\nadd rule")))
    firewall, unavailable, times = gather_kube(text)
    n_rules = sum(len(c["rules"]) for t in firewall["tables"] for c in t["chains"])
    n_elements = sum(len(s.get("elements") or []) for t in firewall["tables"] for s in (t.get("sets") or {}).values())
    print("rules gathered: %d (%s), set/map elements %d%s" % (
        n_rules, firewall["backend"], n_elements, "; unavailable: %s" % unavailable if unavailable else ""))
    for name, value in times.items():
        print("%-45s %7.3f s" % (name, value))
    pkts = kube_packets(verdicts, services)
    start = time.perf_counter()
    compiled = Compiled(firewall)
    results = [evaluate(compiled, p) for p in pkts]
    elapsed = time.perf_counter() - start
    counts = {}
    for result in results:
        counts[result["verdict"]] = counts.get(result["verdict"], 0) + 1
    print("%-45s %7.3f s  %s" % ("%d verdicts (including preparation)" % len(pkts), elapsed,
                                 " ".join("%s=%d" % kv for kv in sorted(counts.items()))))
    gather = times["gather with the real tools"]
    print("gather with the real tools / the two full nft dumps alone: %.2f" % (gather / times["alternative: nft -j + nft -a list ruleset alone"]))
    ok = gather < 2.0 and elapsed < 1.0
    print("targets: gather < 2 s, %d verdicts < 1 s: %s" % (len(pkts), "met" if ok else "NOT met"))
    return ok


def gather_synthetic(text):
    from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import parse_save
    start = time.perf_counter()
    tables, dummy = parse_save(text, "ip", "iptables-nft")
    parse = time.perf_counter() - start
    firewall = {"backend": "iptables-nft", "tables": tables, "incomplete": [], "forwarding": {"ipv4": True, "ipv6": False},
                "local_addresses": [{"iface": "eth0", "address": "203.0.113.5", "prefixlen": 24, "broadcast": None},
                                    {"iface": "lo", "address": "127.0.0.1", "prefixlen": 8, "broadcast": None}],
                "routes": [{"dst": "0.0.0.0/0", "dev": "eth0"}]}
    return firewall, [], {"gather (parse only, synthetic iptables-save text)": parse}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=20000)
    parser.add_argument("--verdicts", type=int, default=1000)
    parser.add_argument("--services", type=int, default=1000, help="kube-proxy services of the nftables rule set (0: leave it out)")
    parser.add_argument("--synthetic", action="store_true", help="parse generated text; do not load it into a namespace")
    args = parser.parse_args()
    coll = _import_collection()
    try:
        from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, evaluate
        text = ruleset(args.rules)
        real = not args.synthetic and os.geteuid() == 0 and shutil.which("iptables-nft-restore")
        firewall, unavailable, times = gather_real(text) if real else gather_synthetic(text)
        n_rules = sum(len(c["rules"]) for t in firewall["tables"] for c in t["chains"])
        print("rules gathered: %d (%s)%s" % (n_rules, firewall["backend"], "; unavailable: %s" % unavailable if unavailable else ""))
        for name, value in times.items():
            print("%-45s %7.3f s" % (name, value))
        pkts = packets(args.verdicts)
        start = time.perf_counter()
        compiled = Compiled(firewall)
        results = [evaluate(compiled, p) for p in pkts]
        elapsed = time.perf_counter() - start
        counts = {}
        for result in results:
            counts[result["verdict"]] = counts.get(result["verdict"], 0) + 1
        print("%-45s %7.3f s  %s" % ("%d verdicts (including preparation)" % len(pkts), elapsed,
                                     " ".join("%s=%d" % kv for kv in sorted(counts.items()))))
        gather = times.get("gather with the real tools") or [v for k, v in times.items() if "parse" in k][0]
        if "alternative: nft -j + nft -a list ruleset alone" in times:
            print("gather with the real tools / the two full nft dumps alone: %.2f" % (
                gather / times["alternative: nft -j + nft -a list ruleset alone"]))
        ok = gather < 2.0 and elapsed < 1.0
        print("targets: gather%s < 2 s, %d verdicts < 1 s: %s" % (
            "" if "gather with the real tools" in times else " (parse only)", len(pkts), "met" if ok else "NOT met"))
        if real and args.services:
            ok = kube_bench(args.services, args.verdicts) and ok
        return 0 if ok else 1
    finally:
        shutil.rmtree(coll, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
