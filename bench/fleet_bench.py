# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet scale: post_deploy on labs of 10, 25 and 50 hosts against `ansible all -m ping`.

Each lab host declares 10 services (an HTTP health endpoint, eight TCP services of one worker
process, a UDP request/reply service: three processes a host). Hosts are in racks of 5 (groups
rack0, rack1, ...); every service of a host names two source groups, the next rack in
``allow_from`` and the one after in ``deny_from``, and the host's iptables rule set lets the
allowed rack in and rejects everyone else on the service ports. So each service has about 10
source hosts whatever the fleet's size, and the probes and results grow linearly with the hosts
(when every host is a source of every other, they grow with the square). For each size, in
one run on the same inventory and with the same forks: a warm-up ping (SSH control masters),
``ansible all -m ansible.builtin.ping``, ``ansible-playbook portproof.validate.post_deploy``,
and the ping again (the ping figure is the mean of the two). Wall time, and the controller's
peak memory: the sum of the proportional set size (PSS, /proc/PID/smaps_rollup) of the
ansible process and every process below it, sampled every 0.1 s (PSS, not RSS: forked workers
share most of their pages, and a sum of RSS counts those once per worker). The counts come
from the run's results.json. Then a controller-only part: the probe plan, the static checks,
the live result interpretation and the report for 10, 100 and 1,000 synthetic hosts made from
port facts captured on the lab's hosts, to show that the controller's work grows linearly.

Usage (root): ./bench/run fleet, or .venv/bin/python bench/fleet_bench.py [--out docs/benchmarks]
Environment: PORTPROOF_FLEET_SIZES (default 10,25,50; at least 10), PORTPROOF_FLEET_FORKS (default 10),
PORTPROOF_FLEET_SAMPLE (portproof_probe_sample, default 0: every source host probes),
PORTPROOF_FLEET_MICRO (default 10,100,1000; empty skips the controller-only part), PORTPROOF_FLEET_NOTE
(a line for fleet.md about the run), PORTPROOF_FLEET_ANALYSIS (a Markdown file: the "Where the time goes" section).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ipaddress
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

from lab_ansible import VENV_BIN, ansible_env, collections_path  # noqa: E402  pylint: disable=wrong-import-position
from portproof_lab import Lab  # noqa: E402  pylint: disable=wrong-import-position

SERVICES = 10
TARGET_RATIO = 2.0
# peak memory (PSS of ansible-playbook and everything below it) at every size, in MB
TARGET_PEAK_MB = 400
HTTP_PORT, TCP_FIRST, TCP_LAST, UDP_PORT = 8000, 8001, 8008, 8009


# ---------------------------------------------------------------------------------------- the lab
RACK = 5


def host_names(count):
    """Host names, in racks of RACK consecutive hosts (consecutive lab addresses): [[names of rack 0], ...]."""
    names = ["f%02d" % number for number in range(1, count + 1)]
    return [names[index:index + RACK] for index in range(0, count, RACK)]


def sources(rack, racks):
    """The two source groups of the hosts of RACK: the next rack is allowed in, the one after is kept out."""
    return "rack%d" % ((rack + 1) % racks), "rack%d" % ((rack + 2) % racks)


def contract(allow, deny):
    common = {"bind": "internal", "allow_from": [allow], "deny_from": [deny]}
    services = [dict(common, name="health", port=HTTP_PORT, process="^web$", check={"http": {"path": "/health", "status": 200}})]
    services += [dict(common, name="tcp%d" % port, port=port, process="^worker$") for port in range(TCP_FIRST, TCP_LAST + 1)]
    services.append(dict(common, name="stats", port=UDP_PORT, proto="udp", process="^stats$", check={"send": "ping", "expect": "^pong$"}))
    assert len(services) == SERVICES
    return services


def firewall(allowed):
    """The hosts of ALLOWED (consecutive addresses) get in, everything else on the service ports is rejected (so isolation is quick)."""
    source = "-m iprange --src-range {address:%s}-{address:%s}" % (allowed[0], allowed[-1])
    return ("*filter\n:INPUT ACCEPT [0:0]\n"
            "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            "-A INPUT %s -p tcp -m multiport --dports %d:%d -j ACCEPT\n"
            "-A INPUT %s -p udp --dport %d -j ACCEPT\n"
            "-A INPUT -p tcp -m multiport --dports %d:%d -j REJECT --reject-with tcp-reset\n"
            "-A INPUT -p udp --dport %d -j REJECT\n"
            "COMMIT\n") % (source, HTTP_PORT, UDP_PORT - 1, source, UDP_PORT, HTTP_PORT, UDP_PORT - 1, UDP_PORT)


def spec(count, sample):
    racks = host_names(count)
    hosts = []
    for rack, names in enumerate(racks):
        allow, deny = sources(rack, len(racks))
        hostvars = {"portproof_services": contract(allow, deny), "portproof_strict": True, "portproof_ignore": ["22/tcp"]}
        if sample:
            hostvars["portproof_probe_sample"] = sample
        for name in names:
            hosts.append({
                "name": name, "groups": ["rack%d" % rack], "vars": copy.deepcopy(hostvars),
                "services": [
                    {"name": "web", "listen": ["tcp:{address:%s}:%d" % (name, HTTP_PORT)], "behavior": "http", "status": 200,
                     "body": '{"status": "ok"}', "content_type": "application/json"},
                    {"name": "worker", "listen": ["tcp:{address:%s}:%d-%d" % (name, TCP_FIRST, TCP_LAST)]},
                    {"name": "stats", "listen": ["udp:{address:%s}:%d" % (name, UDP_PORT)], "reply": "pong"},
                ],
                "iptables": firewall(racks[int(allow[4:])]),
            })
    return {"hosts": hosts}


# ------------------------------------------------------------------------------ the kernel's room
NEIGHBOURS_PER_HOST = 64
GC_THRESH = "/proc/sys/net/%s/neigh/default/gc_thresh%d"


@contextlib.contextmanager
def neighbour_room(count):
    """Room in the kernel's neighbour (ARP and NDP) tables for COUNT lab hosts, for the time of the run.

    The kernel keeps one neighbour table for all network namespaces, and refuses a new entry
    (ENOBUFS: "No buffer space available") once it holds gc_thresh3 entries, 1,024 by default.
    Each lab host resolves about 25 neighbours (its sources, its targets, the bridge), so 50 lab
    hosts fill it; 50 real machines each have a table of their own. gc_thresh2 and gc_thresh3
    are raised to NEIGHBOURS_PER_HOST entries a host (never lowered) and put back afterwards,
    also on failure, unless something else changed them meanwhile.
    """
    wanted = {2: count * NEIGHBOURS_PER_HOST // 2, 3: count * NEIGHBOURS_PER_HOST}
    changed = []
    try:
        for family in ("ipv4", "ipv6"):
            for level in (3, 2):
                path = GC_THRESH % (family, level)
                with open(path) as handle:
                    old = int(handle.read())
                if old < wanted[level]:
                    with open(path, "w") as handle:
                        handle.write("%d\n" % wanted[level])
                    changed.append((path, old, wanted[level]))
        yield changed
    finally:
        for path, old, ours in reversed(changed):
            with open(path) as handle:
                if int(handle.read()) != ours:
                    continue
            with open(path, "w") as handle:
                handle.write("%d\n" % old)


# ------------------------------------------------------------------------------------ measuring
def _children():
    """{pid: [child pids]} of every process on the machine."""
    tree = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:  # the name in it need not be UTF-8
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _memory(pid):
    """(pss, rss) in kB of one process, (0, 0) when it is gone."""
    values = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as handle:
            for line in handle:
                key, _sep, rest = line.partition(":")
                if key in ("Pss", "Rss"):
                    values[key] = int(rest.split()[0])
    except OSError:
        return 0, 0
    return values.get("Pss", 0), values.get("Rss", 0)


class Sampler(threading.Thread):
    """Peak of the summed PSS (and RSS) of a process and its descendants, sampled every INTERVAL s."""

    def __init__(self, pid, interval=0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_pss = self.peak_rss = 0
        self.done = threading.Event()
        self.error = None

    def run(self):
        try:
            self._sample()
        except Exception as exc:  # pylint: disable=broad-except
            self.error = "%s: %s" % (type(exc).__name__, exc)

    def _sample(self):
        while not self.done.is_set():
            tree, todo, pss, rss = _children(), [self.pid], 0, 0
            while todo:
                pid = todo.pop()
                one = _memory(pid)
                pss, rss = pss + one[0], rss + one[1]
                todo.extend(tree.get(pid, []))
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.done.wait(self.interval)


def measured(argv, env, ok=(0,)):
    """Run ARGV; returns {wall_s, peak_pss_mb, peak_rss_mb, rc, stdout}."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    out, _err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    if sampler.error:
        raise SystemExit("the memory sampler of %s failed: %s" % (" ".join(argv), sampler.error))
    if proc.returncode not in ok:
        raise SystemExit("failed (%d): %s\n%s" % (proc.returncode, " ".join(argv), out[-5000:]))
    return {"wall_s": round(wall, 2), "peak_pss_mb": round(sampler.peak_pss / 1024.0, 1), "peak_rss_mb": round(sampler.peak_rss / 1024.0, 1),
            "rc": proc.returncode, "stdout": out}


def counts(report):
    results = report["results"]
    services = {(item["host"], item["service"]) for item in results if item["service"]}
    live = [item for item in results if item["check"] in ("reach", "isolation")]
    statuses = dict((status, report["summary"][status]) for status in ("pass", "fail", "error", "skip"))
    return {"services": len(services), "probes": len(live), "results": len(results), "statuses": statuses}


def run_size(count, forks, sample, facts_out=None):
    lab_spec = spec(count, sample)
    with neighbour_room(count), Lab(lab_spec) as lab:
        env = ansible_env(lab, ANSIBLE_FORKS=str(forks), ANSIBLE_HOST_KEY_CHECKING="False")
        report_dir = os.path.join(lab.workdir, "report")
        ping = [os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, "all", "-m", "ansible.builtin.ping", "-f", str(forks)]
        post_deploy = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.post_deploy",
                       "-f", str(forks), "-e", "portproof_report_dir=%s" % report_dir]
        measured(ping, env)  # warm-up: SSH control masters for both
        ping_before = measured(ping, env)
        run = measured(post_deploy, env, ok=(0, 2))
        ping_after = measured(ping, env)
        with open(os.path.join(report_dir, "results.json")) as handle:
            report = json.load(handle)
        if facts_out is not None:
            racks = host_names(count)
            captured = {}
            for name in (racks[0][0], racks[1][0]):
                with open(os.path.join(report_dir, "facts", "%s.json" % name)) as handle:
                    captured[name] = json.load(handle)
            captured["addresses"] = dict((name, lab.address(name)) for rack in racks for name in rack)
            facts_out.update(captured)
    row = {"hosts": count, "forks": forks, "sample": sample}
    row.update(counts(report))
    row["rc"] = run["rc"]
    row["tasks"] = run["stdout"].count("\nTASK [")
    row["wall_s"] = run["wall_s"]
    row["peak_pss_mb"], row["peak_rss_mb"] = run["peak_pss_mb"], run["peak_rss_mb"]
    row["ping_wall_s"] = round((ping_before["wall_s"] + ping_after["wall_s"]) / 2.0, 2)
    row["ping_runs_s"] = [ping_before["wall_s"], ping_after["wall_s"]]
    row["ping_peak_pss_mb"] = max(ping_before["peak_pss_mb"], ping_after["peak_pss_mb"])
    row["ratio"] = round(row["wall_s"] / row["ping_wall_s"], 2)
    if run["rc"] != 0:
        row["failed"] = [item["message"] for item in report["results"] if item["status"] in ("fail", "error")][:10]
    return row


# ----------------------------------------------------------------------- the controller-only part
def synthetic(count, captured):
    """hostvars and groups of COUNT hosts made from the captured port facts of two lab hosts.

    Hosts are in racks of 10 (groups rack0, rack1, ...); each host's services allow the next rack
    and deny the one after, so every service has 20 source hosts whatever the fleet's size, and
    the number of results grows linearly with the hosts."""
    from ansible_collections.portproof.validate.plugins.plugin_utils._contract import contract_variables, load_contract  # noqa: E501 pylint: disable=import-error

    templates = [name for name in captured if name != "addresses"]
    lab_address = dict((name, captured["addresses"][name]) for name in templates)
    racks = (count + 9) // 10
    groups = {"all": [], "ungrouped": []}
    hostvars = {}
    net = ipaddress.ip_network("10.0.0.0/8")
    for index in range(count):
        name = "h%04d" % index
        rack = index // 10
        groups.setdefault("rack%d" % rack, []).append(name)
        groups["all"].append(name)
        address = str(net[index + 10])
        template = captured[templates[index % len(templates)]]
        facts = json.loads(json.dumps(template["facts"]).replace(lab_address[template["host"]], address))
        services = contract("rack%d" % ((rack + 1) % racks), "rack%d" % ((rack + 2) % racks))
        hvars = {"ansible_host": address, "portproof_services": services, "portproof_strict": True, "portproof_ignore": ["22/tcp"],
                 "portproof_probe_sample": 3, "ansible_facts": {"portproof": facts}}
        hvars["portproof_contract"] = load_contract(name, contract_variables(hvars), set(groups) | {"rack%d" % r for r in range(racks)},
                                                    set(groups["all"]), strict=True, ignore=["22/tcp"])
        hostvars[name] = hvars
    return hostvars, groups


# The timing key of each report file's rendering.
RENDERED = {"results.json": "json", "junit.xml": "junit", "summary.md": "markdown", "report.html": "html", "metrics.prom": "prometheus"}


def micro(sizes, captured):
    """Seconds of each controller step for each number of synthetic hosts."""
    sys.path.insert(0, collections_path())
    from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import static_checks  # noqa: E501 pylint: disable=import-error
    from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import make_plan, record  # noqa: E501 pylint: disable=import-error
    from ansible_collections.portproof.validate.plugins.action.report_write import RENDERERS  # pylint: disable=import-error
    from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect  # pylint: disable=import-error

    rows = []
    for count in sizes:
        hostvars, groups = synthetic(count, captured)
        hosts = groups["all"]
        timing = {}
        start = time.perf_counter()
        for host in hosts:
            hvars = hostvars[host]
            hvars["portproof_results"] = static_checks(hvars["portproof_contract"], hvars["ansible_facts"]["portproof"], host,
                                                       groups=groups, hostvars=hostvars, strict=True, ignore=["22/tcp"],
                                                       address=hvars["ansible_host"])
        timing["static_s"] = time.perf_counter() - start
        start = time.perf_counter()
        plan = make_plan(hostvars, groups, hosts, hosts, sample=3)
        timing["plan_s"] = time.perf_counter() - start
        # every probe got through (reach passes, isolation fails): the interpretation's cost, not the network's
        start = time.perf_counter()
        registered = {}
        for host in hosts:
            own = plan["sources"].get(host, {"probes": []})["probes"]
            registered[host] = {"probe": {"probes": [{"state": "open", "connected": True, "latency_ms": 0.4, "total_ms": 1.1, "response": []}
                                                     for _entry in own]}, "load": []}
        recorded = record(plan, ["reach", "isolation", "response", "tls", "load"], "bench", True, hosts, registered, None,
                          dict((host, {"portproof_results": hostvars[host]["portproof_results"]}) for host in hosts), None)
        for host in hosts:
            hostvars[host]["portproof_results"] = recorded["hosts"][host]["portproof_results"]
        timing["live_s"] = time.perf_counter() - start
        start = time.perf_counter()
        report = collect(hostvars, hosts, hosts, generated="2025-01-01T00:00:00Z", report_dir="/tmp/r")
        timing["collect_s"] = time.perf_counter() - start
        for file_name, render in RENDERERS:
            start = time.perf_counter()
            render(report)
            timing["%s_s" % RENDERED[file_name]] = time.perf_counter() - start
        total = sum(timing.values())
        probes = sum(len(source["probes"]) for source in plan["sources"].values())
        results = len(report["results"])
        row = {"hosts": count, "services": count * SERVICES, "probes": probes, "results": results, "total_s": round(total, 3),
               "us_per_result": round(total / results * 1e6, 1)}
        row.update((key, round(value, 3)) for key, value in timing.items())
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------- reporting
def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    ansible_core = subprocess.run([os.path.join(VENV_BIN, "python"), "-c", "import ansible.release as r; print(r.__version__)"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024.0 / 1024.0, 1), "kernel": platform.release(),
            "python": platform.python_version(), "ansible_core": ansible_core, "load_before": load}


def table(rows):
    lines = ["| hosts | services | probes | results | post_deploy wall s | peak MB (PSS) | ping wall s | ratio |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append("| %d | %d | %d | %d | %.1f | %.0f | %.1f | %.2f |" % (
            row["hosts"], row["services"], row["probes"], row["results"], row["wall_s"], row["peak_pss_mb"], row["ping_wall_s"], row["ratio"]))
    return "\n".join(lines)


def micro_table(rows):
    lines = ["| hosts | services | probes | results | static s | plan s | live s | collect s | render s | total s | us/result |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        render = sum(row["%s_s" % name] for name in ("json", "junit", "markdown", "html", "prometheus"))
        lines.append("| %d | %d | %d | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f |" % (
            row["hosts"], row["services"], row["probes"], row["results"], row["static_s"], row["plan_s"], row["live_s"], row["collect_s"],
            render, row["total_s"], row["us_per_result"]))
    return "\n".join(lines)


def plot(data, path):
    """The PNG: wall time against hosts for post_deploy and ping (matplotlib, from .venv-bench)."""
    import matplotlib  # pylint: disable=import-error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-error

    rows = data["fleet"]
    hosts = [row["hosts"] for row in rows]
    fig, axis = plt.subplots(figsize=(7, 4.5), dpi=100)
    axis.plot(hosts, [row["wall_s"] for row in rows], "o-", label="ansible-playbook portproof.validate.post_deploy")
    axis.plot(hosts, [row["ping_wall_s"] for row in rows], "s-", label="ansible all -m ansible.builtin.ping")
    axis.plot(hosts, [TARGET_RATIO * row["ping_wall_s"] for row in rows], ":", color="grey", label="target: %g x ping" % TARGET_RATIO)
    axis.set_xlabel("lab hosts (10 services each)")
    axis.set_ylabel("wall time, s")
    axis.set_xlim(left=0)
    axis.set_ylim(bottom=0)
    axis.set_title("Fleet scale, forks %s (%s, %s cores)" % (rows[0]["forks"], data["machine"]["cpu"], data["machine"]["cores"]), fontsize=9)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def markdown(data):
    m = data["machine"]
    rows = data["fleet"]
    lines = [
        "# Fleet scale",
        "",
        "Measured with `./bench/run fleet` (`bench/fleet_bench.py`) on %s." % data["date"],
        "",
        "Machine: %s, %s cores, %s GB RAM, Linux %s, Python %s, ansible-core %s. Load average before the run: %s."
        % (m["cpu"], m["cores"], m["ram_gb"], m["kernel"], m["python"], m["ansible_core"], " ".join(m["load_before"])),
        "",
        "Each size is a lab of real hosts (network namespaces with their own sshd) on this one machine: every host declares",
        "10 services (an HTTP health check, eight TCP services, a UDP request/reply service; three processes). Hosts are in",
        "racks of 5 (groups `rack0`, `rack1`, ...); each service names two source groups, the next rack in `allow_from` and",
        "the one after in `deny_from`, and the host's iptables rules let the allowed rack in and reject the rest on the",
        "service ports: about 10 source hosts a service at every size, each probing live (`portproof_probe_sample: %s`) and"
        % (rows[0]["sample"] or "0"),
        "each judged statically against the target's rules. Both commands ran in the same run on",
        "the same inventory with forks %s, after a warm-up ping (SSH control masters); the ping figure is the mean of a run"
        % rows[0]["forks"],
        "before and one after post_deploy. Peak MB: the largest sum of PSS (proportional set size) over the",
        "`ansible-playbook` process and every process below it (workers, ssh clients), sampled every 0.1 s.",
        "The lab's namespaces share the kernel's one neighbour (ARP) table, 1,024 entries by default, which 50 lab hosts",
        "fill (UDP probes then fail with ENOBUFS); the run raises its limits to %d entries a host and puts them back after."
        % NEIGHBOURS_PER_HOST,
        "",
        table(rows),
        "",
        "Target: post_deploy at most %.1f x the ping and %d MB peak (PSS) at every size, growing linearly: %s."
        % (TARGET_RATIO, TARGET_PEAK_MB, data["verdict"]),
        "",
        "![time against hosts](fleet.png)",
        "",
        "Results per size: %s." % "; ".join("%d hosts: %s" % (row["hosts"], ", ".join("%d %s" % (n, s) for s, n in row["statuses"].items()))
                                            for row in rows),
        "",
    ]
    if data.get("note"):
        lines += [data["note"], ""]
    if data.get("analysis"):
        lines += ["## Where the time goes", ""] + data["analysis"] + [""]
    if data.get("micro"):
        lines += [
            "## The controller alone",
            "",
            "Static checks, probe plan (sample 3), live result interpretation, report collection and the five",
            "renderings (JSON, JUnit, Markdown, HTML, Prometheus), in one process, for synthetic hosts made from the port facts",
            "captured on two hosts of the lab above, each with the same 10 services; hosts in racks of 10, every service",
            "allowing the next rack and denying the one after (20 source hosts a service at every size). Linear means a",
            "constant time per result:",
            "",
            micro_table(data["micro"]),
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks"), help="where fleet.json, fleet.md and fleet.png go")
    parser.add_argument("--plot", metavar="JSON", help="only draw fleet.png from this fleet.json (needs matplotlib)")
    parser.add_argument("--render", metavar="JSON", help="only write fleet.md from this fleet.json (and the plot, as after a run)")
    parser.add_argument("--note", default=os.environ.get("PORTPROOF_FLEET_NOTE", ""), help="a line for fleet.md")
    args = parser.parse_args(argv)
    # SIGINT and SIGTERM end the run through KeyboardInterrupt, so that the lab of the moment is torn down
    # (a background job's SIGINT may start out ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.plot:
        with open(args.plot) as handle:
            plot(json.load(handle), os.path.join(os.path.dirname(os.path.abspath(args.plot)), "fleet.png"))
        return 0
    if args.render:
        with open(args.render) as handle:
            data = json.load(handle)
        read_analysis(data)
        write(data, os.path.dirname(os.path.abspath(args.render)))
        return 0
    sizes = [int(size) for size in os.environ.get("PORTPROOF_FLEET_SIZES", "10,25,50").split(",") if size.strip()]
    forks = int(os.environ.get("PORTPROOF_FLEET_FORKS", "10"))
    sample = int(os.environ.get("PORTPROOF_FLEET_SAMPLE", "0"))
    if any(size < 2 * RACK for size in sizes):
        raise SystemExit("PORTPROOF_FLEET_SIZES: every size must be at least %d hosts (two racks)" % (2 * RACK))
    micro_sizes = [int(size) for size in os.environ.get("PORTPROOF_FLEET_MICRO", "10,100,1000").split(",") if size.strip()]
    data = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "fleet": [], "micro": [], "note": args.note}
    captured = {}
    for count in sizes:
        row = run_size(count, forks, sample, captured if not captured else None)
        data["fleet"].append(row)
        print("%d hosts: post_deploy %.1f s (rc %d), ping %.1f s, ratio %.2f, peak %.0f MB PSS, %d probes, %d results" % (
            count, row["wall_s"], row["rc"], row["ping_wall_s"], row["ratio"], row["peak_pss_mb"], row["probes"], row["results"]), flush=True)
    if micro_sizes and captured:
        data["micro"] = micro(micro_sizes, captured)
    rows = data["fleet"]
    ok = all(row["ratio"] <= TARGET_RATIO and row["peak_pss_mb"] <= TARGET_PEAK_MB and row["rc"] == 0 for row in rows)
    data["verdict"] = "met" if ok else "NOT met"
    print("")
    print(table(rows))
    if data["micro"]:
        print("")
        print(micro_table(data["micro"]))
    print("")
    print("targets %s" % data["verdict"])
    read_analysis(data)
    write(data, args.out)
    return 0 if ok else 1


def read_analysis(data):
    """The "Where the time goes" section from the Markdown file named by PORTPROOF_FLEET_ANALYSIS, if set."""
    analysis = os.environ.get("PORTPROOF_FLEET_ANALYSIS")
    if analysis:
        with open(analysis) as handle:
            data["analysis"] = handle.read().rstrip("\n").split("\n")


def write(data, out):
    """fleet.json, fleet.md and (with .venv-bench's matplotlib) fleet.png in OUT."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "fleet.json"), "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    with open(os.path.join(out, "fleet.md"), "w") as handle:
        handle.write(markdown(data))
    bench_python = os.path.join(REPO, ".venv-bench", "bin", "python")
    if os.access(bench_python, os.X_OK):
        subprocess.run([bench_python, os.path.abspath(__file__), "--plot", os.path.join(out, "fleet.json")], check=True)
    else:
        print("no .venv-bench: fleet.png not drawn (./bench/run fleet makes it)")


if __name__ == "__main__":
    sys.exit(main())
