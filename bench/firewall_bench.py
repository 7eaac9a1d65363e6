#!/usr/bin/env python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: gather a 20,000-rule iptables rule set, then evaluate 1,000 verdicts.

    .venv/bin/python bench/firewall_bench.py [--rules 20000] [--verdicts 1000] [--synthetic]
    .venv/bin/python bench/firewall_bench.py --kube-nft 1000 [--verdicts 1000]

``--kube-nft N`` measures instead a kube-proxy nftables-mode rule set of N services (the shape
kube-proxy writes: service-ips / service-nodeports verdict maps of N elements each keyed on
``ip daddr . meta l4proto . th dport``, a chain per service and per endpoint, two endpoints per
service behind ``numgen random mod 2``), loaded with nft -f and read back with gather_firewall().

As root (and unless --synthetic) the rule set is loaded with iptables-nft-restore into a network
namespace ``ppfw-bench`` made for the run (removed afterwards, also on failure), and read back
with the real tools through gather_firewall(). Otherwise the generated iptables-save text is
parsed directly. Prints the times; the targets are gather < 2 s and 1,000 verdicts < 1 s. The
alternative measured in the same run is listing the whole ruleset with nft (JSON and text), which
reads every iptables-nft rule again; the gather lists native nft tables one by one instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = "ppfw-bench"


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


def kube_nft(services):
    """nft -f text of a kube-proxy nftables-mode table with ``services`` services (ClusterIP
    10.96.x.y:80 and NodePort 30000+i each, endpoints 10.244.x.y:8080)."""
    lines = ["table ip kube-proxy {",
             "  set cluster-ips { type ipv4_addr; }",
             "  set nodeport-ips { type ipv4_addr; elements = { 203.0.113.5 } }",
             "  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }",
             "  map service-nodeports { type inet_proto . inet_service : verdict; }",
             "  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }",
             "  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }",
             "  chain filter-forward { type filter hook forward priority 0; policy accept; ct state new jump service-endpoints-check; }",
             "  chain filter-input { type filter hook input priority 0; policy accept; ct state new jump service-endpoints-check; }",
             "  chain service-endpoints-check { ip daddr . meta l4proto . th dport vmap @no-endpoint-services; }",
             "  chain mark-for-masquerade { meta mark set meta mark or 0x4000; }",
             "  chain reject-chain { reject; }",
             "  chain services {",
             "    ip daddr . meta l4proto . th dport vmap @service-ips",
             "    ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
             "  }"]
    ips, nodeports, none = [], [], []
    for i in range(services):
        ip = "10.96.%d.%d" % (i // 250, i % 250 + 1)
        svc = "service-%05d" % i
        if i % 50 == 49:  # a service without endpoints: rejected
            none.append("%s . tcp . 80 : goto reject-chain" % ip)
            continue
        eps = ["10.244.%d.%d" % (i // 120, (i % 120) * 2 + k + 1) for k in range(2)]
        lines.append("  chain %s { ip daddr %s ip saddr != 10.244.0.0/16 jump mark-for-masquerade; "
                     "numgen random mod 2 vmap { 0 : goto %s-0, 1 : goto %s-1 }; }" % (svc, ip, svc, svc))
        for k, ep in enumerate(eps):
            lines.append("  chain %s-%d { ip saddr %s jump mark-for-masquerade; meta l4proto tcp dnat to %s:8080; }" % (svc, k, ep, ep))
        ips.append("%s . tcp . 80 : goto %s" % (ip, svc))
        nodeports.append("tcp . %d : goto %s" % (30000 + i, svc))
    lines.append("}")
    for name, elements in (("service-ips", ips), ("service-nodeports", nodeports), ("no-endpoint-services", none)):
        if elements:
            lines.append("add element ip kube-proxy %s { %s }" % (name, ", ".join(elements)))
    return "\n".join(lines) + "\n"


def kube_packets(count, services, seed=13):
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        n = rnd.randrange(services)
        src = "198.51.100.%d" % rnd.randrange(1, 255)
        if i % 3 == 0:
            out.append({"src": src, "dst": "203.0.113.5", "dport": 30000 + n, "iface": "eth0"})
        elif i % 3 == 1:
            out.append({"src": src, "dst": "10.96.%d.%d" % (n // 250, n % 250 + 1), "dport": 80, "iface": "eth0"})
        else:
            out.append({"src": src, "dst": "203.0.113.5", "dport": rnd.randrange(1, 30000), "iface": "eth0"})
    return out


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


class NetnsModule(object):
    """get_bin_path/run_command that run the real tools inside the bench namespace and keep their output."""

    def __init__(self):
        self.outputs = {}

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name)

    def run_command(self, argv, environ_update=None):
        env = dict(os.environ, **(environ_update or {}))
        proc = subprocess.run(["ip", "netns", "exec", NS] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, check=False)
        self.outputs[tuple(argv)] = (proc.returncode, proc.stdout, proc.stderr)
        return proc.returncode, proc.stdout, proc.stderr


class ReplayModule(object):
    def __init__(self, outputs):
        self.outputs = outputs

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name)

    def run_command(self, argv, environ_update=None):
        return self.outputs[tuple(argv)]


def _run(argv, stdin=None):
    subprocess.run(argv, input=stdin, universal_newlines=True, check=True)


def gather_real(text, nft_text=None):
    from ansible_collections.portproof.validate.plugins.module_utils._firewall import gather_firewall
    _run(["ip", "netns", "add", NS])
    try:
        x = ["ip", "netns", "exec", NS]
        _run(x + ["ip", "link", "set", "lo", "up"])
        _run(x + ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"])
        _run(x + ["ip", "addr", "add", "203.0.113.5/24", "dev", "eth0"])
        _run(x + ["ip", "link", "set", "eth0", "up"])
        _run(x + ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        start = time.perf_counter()
        if nft_text is None:
            _run(x + ["iptables-nft-restore"], stdin=text)
            _run(x + ["nft", "-f", "-"], stdin=NATIVE)
        else:
            _run(x + ["nft", "-f", "-"], stdin=nft_text)
        load = time.perf_counter() - start
        module = NetnsModule()
        start = time.perf_counter()
        firewall, unavailable = gather_firewall(module)
        tools_and_parse = time.perf_counter() - start
        if firewall.get("local_routes") is None:
            firewall["local_routes"] = _local_routes(x)
        # The alternative: list the whole ruleset (every iptables-nft rule again) in both forms.
        start = time.perf_counter()
        for form in ("-j", "-a"):
            subprocess.run(x + ["nft", form, "list", "ruleset"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        dumps = time.perf_counter() - start
    finally:
        for pid in subprocess.run(["ip", "netns", "pids", NS], stdout=subprocess.PIPE, universal_newlines=True,
                                  check=False).stdout.split():
            subprocess.run(["kill", pid], check=False)
        subprocess.run(["ip", "netns", "del", NS], check=False)
    start = time.perf_counter()
    firewall, unavailable = gather_firewall(ReplayModule(module.outputs))
    parse = time.perf_counter() - start
    nft_calls = [" ".join(argv[1:]) for argv in module.outputs if os.path.basename(argv[0]) == "nft"]
    print("nft commands run by the gather: %s" % "; ".join(nft_calls))
    return firewall, unavailable, {"load (iptables-nft-restore, nft -f)": load, "gather with the real tools": tools_and_parse,
                                   "gather (parse only, tool output replayed)": parse,
                                   "alternative: nft -j + nft -a list ruleset alone": dumps}


def _local_routes(x):
    """The namespace's local routing table as firewall.local_routes (when the gather has none)."""
    out = []
    for flag, family, width in (("-4", "ipv4", 32), ("-6", "ipv6", 128)):
        text = subprocess.run(x + ["ip", "-j", flag, "route", "show", "table", "local"], stdout=subprocess.PIPE,
                              universal_newlines=True, check=True).stdout
        for item in json.loads(text):
            dst = item["dst"] if "/" in item["dst"] else "%s/%d" % (item["dst"], width)
            out.append({"type": item["type"], "dst": dst, "dev": item.get("dev"), "family": family})
    return out


def gather_synthetic(text):
    from ansible_collections.portproof.validate.plugins.module_utils._iptables import parse_save
    start = time.perf_counter()
    tables, dummy = parse_save(text, "ip", "iptables-nft")
    parse = time.perf_counter() - start
    firewall = {"backend": "iptables-nft", "tables": tables, "incomplete": [], "forwarding": {"ipv4": True, "ipv6": False},
                "local_addresses": [{"iface": "eth0", "address": "203.0.113.5", "prefixlen": 24, "broadcast": None},
                                    {"iface": "lo", "address": "127.0.0.1", "prefixlen": 8, "broadcast": None}],
                "routes": [{"dst": "0.0.0.0/0", "dev": "eth0"}],
                # what the kernel puts in the local table for these addresses
                "local_routes": [{"type": "local", "dst": "203.0.113.5/32", "dev": "eth0", "family": "ipv4"},
                                 {"type": "broadcast", "dst": "203.0.113.255/32", "dev": "eth0", "family": "ipv4"},
                                 {"type": "local", "dst": "127.0.0.0/8", "dev": "lo", "family": "ipv4"},
                                 {"type": "broadcast", "dst": "127.255.255.255/32", "dev": "lo", "family": "ipv4"}]}
    return firewall, [], {"gather (parse only, synthetic iptables-save text)": parse}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=20000)
    parser.add_argument("--verdicts", type=int, default=1000)
    parser.add_argument("--synthetic", action="store_true", help="parse generated text; do not load it into a namespace")
    parser.add_argument("--kube-nft", type=int, default=0, metavar="SERVICES",
                        help="a kube-proxy nftables-mode rule set of SERVICES services instead (needs root)")
    args = parser.parse_args()
    coll = _import_collection()
    try:
        from ansible_collections.portproof.validate.plugins.module_utils._verdict import Compiled, evaluate
        if args.kube_nft:
            firewall, unavailable, times = gather_real(None, kube_nft(args.kube_nft))
            elements = sum(len(s.get("elements") or []) for t in firewall["tables"] for s in t.get("sets", {}).values())
            print("kube-proxy nftables mode: %d services, %d set and map elements" % (args.kube_nft, elements))
            # gather_firewall read /proc of this process's namespace; the bench namespace forwards.
            firewall["forwarding"] = {"ipv4": True, "ipv6": True}
        else:
            text = ruleset(args.rules)
            real = not args.synthetic and os.geteuid() == 0 and shutil.which("iptables-nft-restore")
            firewall, unavailable, times = gather_real(text) if real else gather_synthetic(text)
        n_rules = sum(len(c["rules"]) for t in firewall["tables"] for c in t["chains"])
        print("rules gathered: %d (%s)%s" % (n_rules, firewall["backend"], "; unavailable: %s" % unavailable if unavailable else ""))
        for name, value in times.items():
            print("%-45s %7.3f s" % (name, value))
        pkts = kube_packets(args.verdicts, args.kube_nft) if args.kube_nft else packets(args.verdicts)
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
        return 0 if ok else 1
    finally:
        shutil.rmtree(coll, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
