# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall verdict against the kernel: for real rule sets loaded on lab hosts (iptables,
iptables with ipset, native nft, ufw, firewalld, Podman/netavark, and the rule sets real tools
generate: kube-proxy in nftables and iptables mode, Docker's nftables rules, OpenWrt fw4, ferm,
Shorewall; see fwdiff_rulesets.py), new TCP and UDP connections
from other lab hosts, from several source addresses, to random ports among the ones that
matter; the kernel's answer (handshake or echo: accept; reset or ICMP error: reject; silence:
drop) must be the evaluator's verdict over the facts port_facts gathered on the target, for
every packet. The seed is printed; PORTPROOF_FWDIFF_SEED=N replays a run. An accept
that ends (after DNAT/REDIRECT) on a port nothing listens on predicts a reject. "unknown" is a
disagreement, unless UNDECIDABLE names the case (with why the model cannot decide it); none
does today: every probe carries its source port and interface, so every match is decidable.

Listeners answer on every port that matters (TCP accept, UDP echo, on every probed address,
each answer from the address the datagram went to), so that "accept" is an answer and not a
refusal by a closed port. DNAT to a forwarded backend reaches a backend host behind a veth of
the target, whose answers go back through the target. The targets and backends send ICMP
errors without the kernel's rate limits (sysctls below), so that a reject is never silence.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import os
import random
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, evaluate
from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import HOST_PYTHON, Lab  # pylint: disable=import-error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fwdiff_rulesets import LOCAL_ONLY, NETWORKS, RULESETS, SOURCES  # noqa: E402 pylint: disable=wrong-import-position,import-error

pytestmark = pytest.mark.lab

PROBE = os.path.join(HERE, "fwdiff_probe.py")
PROBES_PER_SET = 240
SHARE_UDP = 0.4
SHARE_IPV6 = 0.25
TCP_TIMEOUT = 2.5  # one SYN retransmission (after 1 s) fits: a full accept queue only delays
UDP_TIMEOUT = 2.0
WORKERS = 48
TARGETS = "fwdiff_targets"
TARGET_SYSCTLS = {"net.ipv4.icmp_ratelimit": "0", "net.ipv4.icmp_msgs_per_sec": "100000",
                  "net.ipv4.icmp_msgs_burst": "100000", "net.ipv6.icmp.ratelimit": "0"}
# Verdicts "unknown" that docs/firewall-model.md calls undecidable by design, each with why:
# (rule set, text in the reason, why). Every other unknown is a disagreement.
UNDECIDABLE = []


def _machine_networks():
    """This machine's own addresses and routes (no default route): what the lab must not shadow."""
    nets = []
    for argv in (["ip", "-j", "addr"], ["ip", "-j", "-4", "route"], ["ip", "-j", "-6", "route"]):
        data = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout or "[]")
        for item in data:
            for info in item.get("addr_info", []):
                nets.append(ipaddress.ip_network("%s/%s" % (info["local"], info["prefixlen"]), strict=False))
            dst = item.get("dst")
            if dst and dst != "default" and not dst.startswith(("fe80", "ff00", "multicast")):
                nets.append(ipaddress.ip_network(dst if "/" in dst else dst + ("/128" if ":" in dst else "/32"), strict=False))
    return nets


def _overlaps():
    ours = [ipaddress.ip_network(n) for n in NETWORKS + LOCAL_ONLY]
    return sorted(set("%s (this machine has %s)" % (o, m) for o in ours for m in _machine_networks()
                      if o.version == m.version and o.overlaps(m)))


def _extra_dsts(ruleset):
    """The target's extra addresses that probes go to (not the ones only its DNAT rules use)."""
    nets = [ipaddress.ip_network(n) for n in NETWORKS]
    extra = [a.split("/")[0] for a in ruleset["host"].get("addresses", [])]
    return [a for a in extra if any(ipaddress.ip_address(a) in n for n in nets)]


def _dsts(lab, name, version):
    ruleset = RULESETS[name]
    host = ruleset["host"]["name"]
    if version == 6:
        return [lab.host(host)["address6"]] if ruleset["ipv6"] else []
    return [lab.address(host)] + _extra_dsts(ruleset)


def _listener(name):
    """TCP accept and UDP echo on every port that matters, on every address a probe goes to."""
    ruleset = RULESETS[name]
    host = ruleset["host"]["name"]
    extra = _extra_dsts(ruleset)
    v4 = ["{address:%s}" % host] + extra
    held = ruleset.get("held", {})
    listen = []
    for proto in ("tcp", "udp"):
        for port in ruleset[proto]:
            if held.get((proto, port)) == "0.0.0.0":
                continue  # every probe to it is published to a container
            if proto == "tcp" and port == 22:
                addresses = extra  # sshd holds port 22 of the lab addresses
            elif proto == "udp" or (proto, port) in held:
                # a UDP reply must come from the address the probe went to: one socket per address
                addresses = [a for a in v4 if a != held.get((proto, port))]
            else:
                addresses = ["0.0.0.0"]  # also the local addresses that DNAT rules send to
            listen += ["%s:%s:%d" % (proto, a, port) for a in addresses]
            if ruleset["ipv6"] and proto == "udp":
                listen.append("udp:[{address6:%s}]:%d" % (host, port))
            elif ruleset["ipv6"] and port != 22:
                listen.append("tcp:[::]:%d,v6only" % port)
    return {"name": "fwdiff-echo", "listen": listen}


def lab_spec():
    hosts = [{"name": name, "addresses": ["%s/%d" % (a, 128 if ":" in a else 32) for a in addrs]}
             for name, addrs in sorted(SOURCES.items())]
    for name in sorted(RULESETS):
        host = dict(RULESETS[name]["host"])
        host["groups"] = [TARGETS]
        host["sysctls"] = dict(host.get("sysctls", {}), **TARGET_SYSCTLS)
        hosts.append(host)
        if "backend" in RULESETS[name]:
            hosts.append({"name": RULESETS[name]["backend"]["name"], "sysctls": dict(TARGET_SYSCTLS)})
    return {"hosts": hosts}


def _backend_up(lab, ruleset):
    """The backend host behind a veth of the target: its addresses, answers routed back through
    the target (policy routing: the lab bridge would take them past the target's NAT), listeners."""
    backend = ruleset["backend"]
    target, name = ruleset["host"]["name"], backend["name"]
    lab.ns(target, ["ip", "link", "add", backend["link"], "type", "veth", "peer", "name", "up0", "netns", lab.host(name)["netns"]])
    lab.ns(target, ["ip", "addr", "add", backend["target"], "dev", backend["link"]])
    lab.ns(target, ["ip", "link", "set", backend["link"], "up"])
    for address in backend["addresses"]:
        lab.ns(name, ["ip", "addr", "add", address, "dev", "up0"])
    lab.ns(name, ["ip", "link", "set", "up0", "up"])
    subnet = str(ipaddress.ip_interface(backend["addresses"][0]).network)
    lab.ns(name, ["ip", "rule", "add", "from", subnet, "lookup", "100", "pref", "100"])
    lab.ns(name, ["ip", "route", "add", "default", "via", backend["target"].split("/")[0], "dev", "up0", "table", "100"])
    lab.start_service(name, {"name": "fwdiff-backend", "listen": backend["listen"]})


def _routed_up(lab, ruleset):
    """Sources reach the service addresses through the target. What no rule DNATs elsewhere the
    target forwards to its backend, which holds them too (a reset or a port unreachable where
    nothing listens; answers go back through the target): the forward hook sees every one of
    them, and nothing leaves the lab."""
    target = ruleset["host"]["name"]
    backend = ruleset.get("backend")
    assert backend or not ruleset.get("routed"), "routed addresses need a backend host"
    held = [a.split("/")[0] for a in backend["addresses"]] if backend else []
    for address in ruleset.get("routed", []):
        for source in SOURCES:
            lab.ns(source, ["ip", "route", "add", address + "/32", "via", lab.address(target)])
        if address not in held:
            lab.ns(target, ["ip", "route", "add", address + "/32", "via", held[0], "dev", backend["link"]])
            lab.ns(backend["name"], ["ip", "addr", "add", address + "/32", "dev", "up0"])
            lab.ns(backend["name"], ["ip", "rule", "add", "from", address + "/32", "lookup", "100", "pref", "100"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    overlaps = _overlaps()
    if overlaps:
        pytest.fail("the differential lab's addresses would shadow this machine's networks: %s" % "; ".join(overlaps))
    with Lab(lab_spec(), str(tmp_path_factory.mktemp("fwdiff") / "lab")) as built:
        for name in built.state["hosts"]:
            for net in NETWORKS:
                built.ns(name, ["ip", "-6" if ":" in net else "-4", "route", "add", net, "dev", "eth0"])
        for name in sorted(RULESETS):
            if "backend" in RULESETS[name]:
                _backend_up(built, RULESETS[name])
            _routed_up(built, RULESETS[name])
        # After the containers: Podman refuses to publish a port a host process holds.
        for name in RULESETS:
            built.start_service(RULESETS[name]["host"]["name"], _listener(name))
        yield built


def plan(lab, seed):
    """The probes of every rule set: random (seeded) sources, ports, protocols, destinations."""
    rng = random.Random(seed)
    sources = {name: {4: [lab.address(name)] + [a for a in addrs if ":" not in a],
                      6: [lab.host(name)["address6"]] + [a for a in addrs if ":" in a]}
               for name, addrs in sorted(SOURCES.items())}
    used_sports = collections.defaultdict(set)
    probes = []
    for name in sorted(RULESETS):
        ruleset = RULESETS[name]
        limited = ruleset.get("limited", {})
        hits = collections.Counter()
        count = 0
        while count < ruleset.get("probes", PROBES_PER_SET):
            version = 6 if ruleset["ipv6"] and rng.random() < SHARE_IPV6 else 4
            source = rng.choice(sorted(sources))
            src = rng.choice(sources[source][version])
            proto = "udp" if rng.random() < SHARE_UDP else "tcp"
            dport = rng.choice(ruleset[proto])
            routed = ruleset.get("routed") if version == 4 else None
            # half of them to the service addresses routed through the target, if it has any
            dst = rng.choice(routed if routed and rng.random() < 0.5 else _dsts(lab, name, version))
            if (proto, dport) in limited:
                if hits[(src, proto, dport)] >= limited[(proto, dport)]:
                    continue
                hits[(src, proto, dport)] += 1
            sport = rng.randrange(20000, 61000)
            while sport in used_sports[src]:
                sport = rng.randrange(20000, 61000)
            used_sports[src].add(sport)
            probes.append({"id": "%s-%d" % (name, count), "ruleset": name, "source": source, "src": src, "sport": sport,
                           "dst": dst, "proto": proto, "dport": dport})
            count += 1
    return probes


def run_probes(lab, probes):
    """Every source host sends its probes at once (one process each, inside its namespace)."""
    procs = {}
    for source in sorted(SOURCES):
        request = {"probes": [p for p in probes if p["source"] == source], "tcp_timeout": TCP_TIMEOUT,
                   "udp_timeout": UDP_TIMEOUT, "workers": WORKERS}
        proc = subprocess.Popen(["ip", "netns", "exec", lab.host(source)["netns"], HOST_PYTHON, PROBE], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs[source] = (proc, json.dumps(request))
    outcomes = {}
    for source, (proc, request) in procs.items():
        out, err = proc.communicate(request, timeout=300)
        assert proc.returncode == 0, "probes from %s failed: %s" % (source, err)
        outcomes.update((item["id"], item) for item in json.loads(out))
    return outcomes


def gather_facts(lab):
    """port_facts (firewall and addresses) on every target, in one ansible run."""
    tree = tempfile.mkdtemp(prefix="pptree-", dir=lab.workdir)
    env = ansible_env(lab, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                      ANSIBLE_CALLBACK_TREE_DIR=tree)
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, TARGETS, "--forks", str(len(RULESETS)),
                           "-m", "portproof.validate.port_facts", "-a", "gather_subset=firewall,addresses"],
                          capture_output=True, text=True, env=env, check=False)
    facts = {}
    for name in RULESETS:
        host = RULESETS[name]["host"]["name"]
        path = os.path.join(tree, host)
        assert os.path.exists(path), "no port_facts result from %s:\n%s%s" % (host, proc.stdout, proc.stderr)
        with open(path) as handle:
            result = json.load(handle)
        assert result.get("failed") is not True, result
        facts[name] = result["ansible_facts"]["portproof"]
    return facts


def _served(ruleset, local, probe, dst, port):
    """Whether something answers at the place a packet ends up (dst None: untouched)."""
    proto, dst = probe["proto"], dst or probe["dst"]
    if dst in local:
        return port in ruleset[proto] or (proto, port) == ("tcp", 22)
    if "backend" in ruleset:  # forwarded to the backend host (DNAT, or a routed address)
        return "%s:%s:%d" % (proto, dst, port) in ruleset["backend"]["listen"]
    return (proto, port) in ruleset.get("container_ports", ())


def _expected(ruleset, local, probe, verdict):
    """The kernel's answer the evaluator predicts: its verdict, except that an accept that ends on
    a port nothing listens on (after DNAT/REDIRECT) gets a reset or a port unreachable. Load
    balancing over places where some answer and some do not predicts either ("accept|reject")."""
    if verdict["verdict"] != "accept":
        return verdict["verdict"]
    places = verdict.get("destinations") or [{"dst": verdict["final_dst"], "dport": verdict["final_dport"]}]
    answers = sorted(set("accept" if _served(ruleset, local, probe, d["dst"], d["dport"]) else "reject" for d in places))
    return "|".join(answers)


def _excused(name, verdict):
    for ruleset, text, why in UNDECIDABLE:
        if ruleset == name and text in verdict["reason"]:
            return why
    return None


def _endpoint(address, port):
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def _line(row):
    probe, verdict, rule = row["probe"], row["verdict"], row["verdict"]["rule"]
    where = "no rule"
    if rule:
        where = "%s %s %s %s rule %s: %s" % (rule["source"], rule["family"], rule["table"], rule["chain"], rule["index"], rule["text"])
    said = verdict["verdict"]
    if row["expected"] != said:
        said += " to %s, where nothing listens: %s" % (", ".join(
            "%s port %s" % (d["dst"] or probe["dst"], d["dport"]) for d in verdict.get("destinations") or []) or
            "port %s" % verdict["final_dport"], row["expected"])
    return ("%s %s %s -> %s from %s (iface %s): kernel %s (%s), evaluator %s [%s] (%s)" % (
        probe["id"], probe["proto"], _endpoint(probe["src"], probe["sport"]), _endpoint(probe["dst"], probe["dport"]), probe["source"],
        probe["iface"], row["kernel"], row["detail"], said, where, verdict["reason"]))


def _evaluate(name, facts, lab, probes, outcomes):
    """One row per probe of the rule set: the probe, what the kernel did, the verdict, what it predicts."""
    ruleset = RULESETS[name]
    compiled = Compiled(facts["firewall"])
    local = {a["address"] for a in facts["addresses"]}
    # Probes come over the target's link to the lab bridge: the interface holding its lab address.
    iface = [a["interface"] for a in facts["addresses"] if a["address"] == lab.address(ruleset["host"]["name"])]
    assert len(iface) == 1, facts["addresses"]
    rows = []
    for probe in (p for p in probes if p["ruleset"] == name):
        probe["iface"] = iface[0]
        packet = {"src": probe["src"], "dst": probe["dst"], "proto": probe["proto"], "dport": probe["dport"],
                  "sport": probe["sport"], "iface": probe["iface"], "state": "new"}
        verdict = evaluate(compiled, packet)
        outcome = outcomes[probe["id"]]
        rows.append({"probe": probe, "kernel": outcome["kernel"], "detail": outcome["detail"], "verdict": verdict,
                     "expected": _expected(ruleset, local, probe, verdict)})
    return rows


def _disagrees(name, row):
    if row["verdict"]["verdict"] == "unknown" and _excused(name, row["verdict"]):
        return False
    return row["kernel"] not in row["expected"].split("|")


@pytest.fixture(scope="module")
def results(lab):
    seed = int(os.environ.get("PORTPROOF_FWDIFF_SEED") or random.SystemRandom().randrange(1, 2 ** 31))
    print("\nfirewall differential: seed %d (PORTPROOF_FWDIFF_SEED=%d replays it)" % (seed, seed))
    facts = gather_facts(lab)
    probes = plan(lab, seed)
    outcomes = run_probes(lab, probes)
    report = {}
    for name in sorted(RULESETS):
        rows = report[name] = _evaluate(name, facts[name], lab, probes, outcomes)
        kernel = collections.Counter(r["kernel"] for r in rows)
        print("  %-10s %d probes (tcp %d, udp %d, ipv6 %d): kernel accept %d, reject %d, drop %d, error %d; "
              "evaluator agrees on %d, undecidable by design %d" % (
                  name, len(rows), sum(1 for r in rows if r["probe"]["proto"] == "tcp"),
                  sum(1 for r in rows if r["probe"]["proto"] == "udp"), sum(1 for r in rows if ":" in r["probe"]["src"]),
                  kernel["accept"], kernel["reject"], kernel["drop"], kernel["error"],
                  sum(1 for r in rows if not _disagrees(name, r) and r["verdict"]["verdict"] != "unknown"),
                  sum(1 for r in rows if r["verdict"]["verdict"] == "unknown" and _excused(name, r["verdict"]))))
    return {"seed": seed, "facts": facts, "report": report}


@pytest.mark.parametrize("name", sorted(RULESETS))
def test_evaluator_agrees_with_the_kernel(results, name):
    facts = results["facts"][name]
    assert facts["firewall"]["incomplete"] == [], facts["firewall"]["incomplete"]
    rows = results["report"][name]
    # every destination probed is one of the target's addresses, as port_facts gathered them,
    # or a service address the sources route through it
    assert {r["probe"]["dst"] for r in rows} <= {a["address"] for a in facts["addresses"]} | set(RULESETS[name].get("routed", []))
    disagreements = [_line(r) for r in rows if _disagrees(name, r)]
    assert not disagreements, "seed %d, rule set %s: %d of %d packets disagree:\n%s" % (
        results["seed"], name, len(disagreements), len(rows), "\n".join(disagreements))


def test_the_probes_mean_something(results):
    """Enough new connections, both protocols, several sources and addresses, every kind of answer."""
    seen = collections.Counter()
    for name, rows in results["report"].items():
        assert len(rows) >= min(200, RULESETS[name].get("probes", PROBES_PER_SET))
        assert {r["probe"]["proto"] for r in rows} == {"tcp", "udp"}
        assert len({r["probe"]["source"] for r in rows}) == len(SOURCES)
        assert len({r["probe"]["src"] for r in rows}) >= 10
        kinds = {r["kernel"] for r in rows}
        assert "accept" in kinds and kinds & {"reject", "drop"}, "%s: the kernel only said %s" % (name, kinds)
        seen.update(kinds)
    assert {"accept", "reject", "drop"} <= set(seen)
