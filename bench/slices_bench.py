# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sliced runs: post_deploy on a lab of 50 hosts unsliced, against three slices run at once over a Redis fact cache
and the merge, on this one machine; and a model of the wall time of 2,000 hosts on 1, 5 and 20 controllers from the
costs measured here.

The lab is the fleet benchmark's (bench/fleet_bench.py: 10 services a host, racks of 5, each service allowed from the
next rack and denied to the one after, iptables rules to match). The three slices are every third host of the
inventory (as AWX slices one), each a ``post_deploy --limit`` with one ``portproof_run_id`` and the redis cache plugin
of community.general on a redis-server of the benchmark's own (loopback, a free port, ended by its pid); then
``portproof.validate.merge``. The merged results.json must equal the unsliced one (timings and timestamps aside).

The three slices share this machine's 2 cores, so the measured speed-up is bounded by the cores, not by the design:
the model reads the per-host cost of a slice (its wall time over its hosts: the slices ran at once, each on a third of
the cores) and of the merge (controller only, one process) and puts them on controllers of their own.

Usage (root): ./bench/run slices, or .venv/bin/python bench/slices_bench.py [--out docs/benchmarks]
Environment: PORTPROOF_SLICES_HOSTS (default 50), PORTPROOF_SLICES_FORKS (default 10).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

from fleet_bench import counts, host_names, machine, measured, neighbour_room, spec  # noqa: E402  pylint: disable=wrong-import-position
from lab_ansible import VENV_BIN, ansible_env  # noqa: E402  pylint: disable=wrong-import-position
from portproof_lab import Lab  # noqa: E402  pylint: disable=wrong-import-position

SLICES = 3
FLEET = 2000
CONTROLLERS = (1, 5, 20)
EXTRA_COLLECTIONS = os.path.join(REPO, ".build", "extra-collections")
RUN_ID = "bench"


def comparable(report):
    """results.json without timings, timestamps and the report's own path."""
    summary = dict(report["summary"], generated=None, report_dir=None)
    results = [dict((key, value) for key, value in item.items() if key != "latency_ms") for item in report["results"]]
    for item in results:
        for key in ("message", "actual"):
            if isinstance(item.get(key), str) and " ms" in item[key]:
                item[key] = "timed"
    return {"summary": summary, "results": results}


class Redis(object):
    """A redis-server of the benchmark on a free loopback port, no persistence; ended by its pid."""

    def __init__(self, workdir):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        server = shutil.which("redis-server")
        if not server:
            raise SystemExit("redis-server is missing: install the bindep.txt test profile (scripts/bootstrap)")
        self.proc = subprocess.Popen([server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                      "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise SystemExit("redis-server did not answer on 127.0.0.1:%d" % self.port)
            time.sleep(0.1)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parallel(commands, env):
    """Run COMMANDS at once (each measured: wall time, peak memory); their results in order."""
    found = [None] * len(commands)

    def one(index, argv):
        found[index] = measured(argv, env, ok=(0,))
    threads = [threading.Thread(target=one, args=(index, argv)) for index, argv in enumerate(commands)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(item is None for item in found):
        raise SystemExit("a slice failed (see above)")
    return found


def run(count, forks):
    names = [name for rack in host_names(count) for name in rack]
    with neighbour_room(count), Lab(spec(count, 0)) as lab:
        base = ansible_env(lab, ANSIBLE_FORKS=str(forks), ANSIBLE_HOST_KEY_CHECKING="False")
        playbook = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "-f", str(forks)]
        ping = [os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, "all", "-m", "ansible.builtin.ping", "-f", str(forks)]
        measured(ping, base)  # warm-up: SSH control masters
        unsliced_dir = os.path.join(lab.workdir, "unsliced")
        unsliced = measured(playbook + ["portproof.validate.post_deploy", "-e", "portproof_report_dir=%s" % unsliced_dir], base, ok=(0, 2))
        redis = Redis(lab.workdir)
        try:
            env = dict(base, ANSIBLE_CACHE_PLUGIN="community.general.redis", ANSIBLE_CACHE_PLUGIN_CONNECTION="127.0.0.1:%d:0" % redis.port,
                       ANSIBLE_CACHE_PLUGIN_PREFIX="portproof_bench_")
            env["ANSIBLE_COLLECTIONS_PATH"] = base["ANSIBLE_COLLECTIONS_PATH"] + os.pathsep + EXTRA_COLLECTIONS
            results_dir = os.path.join(lab.workdir, "results")
            slices = [names[index::SLICES] for index in range(SLICES)]
            started = time.perf_counter()
            runs = parallel([playbook + ["portproof.validate.post_deploy", "--limit", ",".join(hosts), "-e", "portproof_run_id=%s" % RUN_ID,
                                         "-e", "portproof_slice=%d" % (number + 1), "-e", "portproof_results_dir=%s" % results_dir]
                             for number, hosts in enumerate(slices)], env)
            slices_wall = time.perf_counter() - started
            merged_dir = os.path.join(lab.workdir, "merged")
            merge = measured(playbook + ["portproof.validate.merge", "-e", "portproof_run_id=%s" % RUN_ID,
                                         "-e", "portproof_results_dir=%s" % results_dir, "-e", "portproof_report_dir=%s" % merged_dir], env, ok=(0, 2))
        finally:
            redis.close()
        with open(os.path.join(unsliced_dir, "results.json")) as handle:
            one = json.load(handle)
        with open(os.path.join(merged_dir, "results.json")) as handle:
            merged = json.load(handle)
    equal = comparable(one) == comparable(merged)
    return {"hosts": count, "forks": forks, "slices": SLICES, "counts": counts(one), "unsliced_s": unsliced["wall_s"],
            "unsliced_rc": unsliced["rc"], "unsliced_peak_pss_mb": unsliced["peak_pss_mb"],
            "slice_s": [item["wall_s"] for item in runs], "slice_peak_pss_mb": [item["peak_pss_mb"] for item in runs],
            "slices_s": round(slices_wall, 2), "merge_s": merge["wall_s"], "merge_rc": merge["rc"], "merge_peak_pss_mb": merge["peak_pss_mb"],
            "sliced_total_s": round(slices_wall + merge["wall_s"], 2), "equal": equal}


def model(row):
    """Wall seconds of FLEET hosts on 1, 5 and 20 controllers, from the measured per-host costs.

    One controller: the unsliced per-host cost (unsliced_s / hosts) times FLEET. N controllers: each runs a slice of
    FLEET / N hosts at the per-host cost of an unsliced run (a slice on a controller of its own does the work of an
    unsliced run of its hosts, plus its probes to the targets of other slices, which the per-host cost already holds:
    every source probes its ~10 targets whatever slice they are in), then the merge on one controller, its measured
    cost per host times FLEET (it grows with the results)."""
    per_host = row["unsliced_s"] / float(row["hosts"])
    merge_per_host = row["merge_s"] / float(row["hosts"])
    found = []
    for controllers in CONTROLLERS:
        if controllers == 1:
            total = per_host * FLEET
            found.append({"controllers": 1, "slice_s": round(total, 0), "merge_s": 0.0, "total_s": round(total, 0)})
        else:
            slice_s = per_host * FLEET / controllers
            merge_s = merge_per_host * FLEET
            found.append({"controllers": controllers, "slice_s": round(slice_s, 0), "merge_s": round(merge_s, 0),
                          "total_s": round(slice_s + merge_s, 0)})
    return found


def markdown(data):
    row = data["run"]
    out = ["# Sliced runs", "",
           "Measured with `./bench/run slices` (`bench/slices_bench.py`) on %s." % data["date"], "",
           "Machine: %(cpu)s, %(cores)d cores, %(ram_gb)s GB RAM, Linux %(kernel)s, Python %(python)s, ansible-core %(ansible_core)s. "
           "Load average before the run: %(load)s." % dict(data["machine"], load=" ".join(data["machine"]["load_before"])), "",
           "The lab of `docs/benchmarks/fleet.md` (%d hosts, 10 services each, racks of 5: each service allowed from the next rack "
           "and denied to the one after; %d probes, %d results), forks %d. Unsliced: one `post_deploy`. Sliced: %d `post_deploy "
           "--limit` runs at once (every third host), one `portproof_run_id`, the port facts shared through the `community.general.redis` "
           "fact cache on a local redis-server, then `portproof.validate.merge`." % (
               row["hosts"], row["counts"]["probes"], row["counts"]["results"], row["forks"], row["slices"]), "",
           "| run | wall s | peak MB (PSS) |", "|---|---:|---:|",
           "| unsliced post_deploy | %.1f | %.0f |" % (row["unsliced_s"], row["unsliced_peak_pss_mb"])]
    for index, (wall, peak) in enumerate(zip(row["slice_s"], row["slice_peak_pss_mb"])):
        out.append("| slice %d (%d hosts) | %.1f | %.0f |" % (index + 1, len(range(index, row["hosts"], row["slices"])), wall, peak))
    out += ["| the %d slices at once | %.1f | |" % (row["slices"], row["slices_s"]),
            "| merge | %.1f | %.0f |" % (row["merge_s"], row["merge_peak_pss_mb"]),
            "| sliced, slices + merge | %.1f | |" % row["sliced_total_s"], "",
            "Sliced against unsliced on this machine: %.2f x the wall time (%s). The merged `results.json` %s the unsliced one "
            "(timings and timestamps aside)." % (
                row["sliced_total_s"] / row["unsliced_s"],
                "faster" if row["sliced_total_s"] < row["unsliced_s"] else "slower",
                "equals" if row["equal"] else "DIFFERS FROM"), "",
            "On one machine the slices share its 2 cores: three Ansible processes at once do the same work as one, so no "
            "speed-up is to be had here beyond what one process leaves idle (SSH round trips, probe timeouts); the slices also "
            "each pay Ansible's start, the inventory and the plan of every target, and wait for the other slices' facts. The "
            "gain of slicing is on controllers of their own, which the model below puts it on.", "",
            "## 2,000 hosts on 1, 5 and 20 controllers (model)", "",
            "From the costs measured above: the unsliced per-host cost %.2f s (%.1f s / %d hosts) and the merge's per-host cost "
            "%.3f s (%.1f s / %d hosts, one process on one controller, growing with the results). With N controllers, each "
            "runs a slice of 2,000 / N hosts at the unsliced per-host cost (its sources probe their targets in any slice; the "
            "contracts' fan-in is the same), then the merge runs once:" % (
                row["unsliced_s"] / row["hosts"], row["unsliced_s"], row["hosts"], row["merge_s"] / row["hosts"], row["merge_s"],
                row["hosts"]), "",
            "| controllers | slice wall s | merge s | total s | total |", "|---:|---:|---:|---:|---|"]
    for item in data["model"]:
        out.append("| %d | %.0f | %.0f | %.0f | %.1f min |" % (item["controllers"], item["slice_s"], item["merge_s"], item["total_s"],
                                                               item["total_s"] / 60.0))
    out += ["", "What the model leaves out: the merge's cost at 2,000 hosts is extrapolated linearly from %d hosts (its Ansible "
            "start, about a second, is counted per host, so the figure is high); the slices are taken to start together (AWX "
            "starts the nodes of a workflow at once when the instance group has the capacity); the fact cache's round trips "
            "(one read per host of other slices, a few milliseconds each on Redis) and the wait for the slowest slice are in "
            "the measured slice times only as far as this lab shows them." % row["hosts"], ""]
    idle = idle_model(row)
    if idle:
        out += ["The same model from the per-host cost of `docs/benchmarks/fleet.md` (%d hosts, %.1f s, a machine not shared "
                "with other jobs: %.2f s a host) and the merge's cost measured here: %s." % (
                    idle["hosts"], idle["wall_s"], idle["per_host"], "; ".join(
                        "%d controller%s %.0f min" % (item["controllers"], "" if item["controllers"] == 1 else "s", item["total_s"] / 60.0)
                        for item in idle["model"])), ""]
    if data.get("note"):
        out += [data["note"], ""]
    return "\n".join(out)


def idle_model(row):
    """The model from the largest run of docs/benchmarks/fleet.json (measured on its own), if there is one."""
    path = os.path.join(REPO, "docs", "benchmarks", "fleet.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        fleet = max(json.load(handle)["fleet"], key=lambda item: item["hosts"])
    return {"hosts": fleet["hosts"], "wall_s": fleet["wall_s"], "per_host": fleet["wall_s"] / float(fleet["hosts"]),
            "model": model(dict(row, unsliced_s=fleet["wall_s"] * row["hosts"] / float(fleet["hosts"])))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks"), help="where slices.json and slices.md go")
    parser.add_argument("--render", metavar="JSON", help="only write slices.md from this slices.json")
    parser.add_argument("--note", default="", help="a line for slices.md")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.render:
        with open(args.render) as handle:
            data = json.load(handle)
    else:
        count = int(os.environ.get("PORTPROOF_SLICES_HOSTS", "50"))
        forks = int(os.environ.get("PORTPROOF_SLICES_FORKS", "10"))
        if not os.path.isdir(os.path.join(EXTRA_COLLECTIONS, "ansible_collections", "community", "general")):
            raise SystemExit("community.general is missing from %s: run scripts/bootstrap" % EXTRA_COLLECTIONS)
        data = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "note": args.note}
        data["run"] = run(count, forks)
        data["model"] = model(data["run"])
    row = data["run"]
    print("%d hosts: unsliced %.1f s; %d slices at once %.1f s (each %s s) + merge %.1f s = %.1f s; ratio sliced/unsliced %.2f; "
          "merged results equal: %s" % (row["hosts"], row["unsliced_s"], row["slices"], row["slices_s"], ", ".join("%.1f" % s for s in row["slice_s"]),
                                        row["merge_s"], row["sliced_total_s"], row["sliced_total_s"] / row["unsliced_s"], row["equal"]))
    for item in data["model"]:
        print("model, %d hosts on %2d controllers: %6.0f s (%.1f min)" % (FLEET, item["controllers"], item["total_s"], item["total_s"] / 60.0))
    os.makedirs(args.out, exist_ok=True)
    if not args.render:
        with open(os.path.join(args.out, "slices.json"), "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
    with open(os.path.join(args.out, "slices.md"), "w") as handle:
        handle.write(markdown(data))
    return 0 if row["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
