# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A sliced run on 12 lab hosts: three parallel ``--limit`` runs of post_deploy with one portproof_run_id and a real
Redis fact cache (Debian's redis-server on loopback, community.general's redis cache plugin), then the merge.

The merged results.json equals that of one unsliced run (timings and timestamps aside), including a planted fault
seen from a source in another slice than its target; stale cached facts, a missing slice and a duplicated slice each
fail with their own message. One lab and one Redis server for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from lab_ansible import REPO, VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

# Its own step of scripts/test (PORTPROOF_TEST_ONLY=extended), outside the default set: the CI budget.
pytestmark = [pytest.mark.lab, pytest.mark.extended]

# community.general (its redis cache plugin), installed by scripts/bootstrap from the ansible package on PyPI
EXTRA_COLLECTIONS = os.path.join(REPO, ".build", "extra-collections")
REDIS_PLUGIN = os.path.join(EXTRA_COLLECTIONS, "ansible_collections", "community", "general", "plugins", "cache", "redis.py")

DB = [{"name": "postgres", "port": 5432, "process": "^postgres$", "allow_from": ["app"], "deny_from": ["web"]}]
API = [{"name": "api", "port": 8080, "process": "^api$", "allow_from": ["web", "controller"],
        "check": {"http": {"path": "/health", "status": 200}}}]
WEB = [{"name": "nginx", "port": 80, "process": "^nginx$", "allow_from": ["controller"]}]
# every db rejects the web hosts on postgres; the planted fault: db3 (slice 3) rejects app1 (slice 2) too
RULE = "-A INPUT -s {address:%s}/32 -p tcp --dport 5432 -j REJECT --reject-with tcp-reset\n"
DB_RULES = "*filter\n:INPUT ACCEPT [0:0]\n%sCOMMIT\n" % "".join(RULE % ("web%d" % n) for n in range(1, 5))
FAULT = DB_RULES.replace("COMMIT", (RULE % "app1") + "COMMIT")


def _host(name):
    kind = name.rstrip("0123456789")
    host = {"name": name, "groups": [kind]}
    if kind == "db":
        host.update(vars={"portproof_services": DB}, services=[{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}],
                    iptables=FAULT if name == "db3" else DB_RULES)
    elif kind == "app":
        host.update(vars={"portproof_services": API},
                    services=[{"name": "api", "listen": ["tcp:0.0.0.0:8080"], "behavior": "http", "status": 200, "body": "ok"}])
    else:
        host.update(vars={"portproof_services": WEB}, services=[{"name": "nginx", "listen": ["tcp:0.0.0.0:80"]}])
    return host


HOSTS = ["db%d" % n for n in range(1, 5)] + ["app%d" % n for n in range(1, 5)] + ["web%d" % n for n in range(1, 5)]
SPEC = {"hosts": [_host(name) for name in HOSTS]}
RUN_ID = "run-7"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A redis-server of this test on a free loopback port (no persistence), ended by its pid."""
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: install the bindep.txt test profile (scripts/bootstrap)"
    assert os.path.exists(REDIS_PLUGIN), "community.general is missing from %s: run scripts/bootstrap" % EXTRA_COLLECTIONS
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not answer on 127.0.0.1:%d" % port
            time.sleep(0.1)
        yield "127.0.0.1:%d:0" % port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    built = Lab(SPEC, str(tmp_path_factory.mktemp("slices") / "lab"), keep_workdir=True)
    try:
        yield built.up()
    finally:
        built.down()


def cache_env(lab, redis_url, **extra):
    env = ansible_env(lab, ANSIBLE_CACHE_PLUGIN="community.general.redis", ANSIBLE_CACHE_PLUGIN_CONNECTION=redis_url,
                      ANSIBLE_CACHE_PLUGIN_PREFIX="portproof_test_", **extra)
    env["ANSIBLE_COLLECTIONS_PATH"] = env["ANSIBLE_COLLECTIONS_PATH"] + os.pathsep + EXTRA_COLLECTIONS
    return env


def playbook(lab, env, name, *args):
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.%s" % name,
           "-e", "portproof_probe_timeout=2"] + list(args)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout=300):
    out, _err = proc.communicate(timeout=timeout)
    return proc.returncode, out


def comparable(report):
    """results.json without what differs between any two runs: timings, timestamps and the report's own path."""
    summary = dict(report["summary"], generated=None, report_dir=None)
    results = [dict((key, value) for key, value in item.items() if key != "latency_ms") for item in report["results"]]
    for item in results:
        for key in ("message", "actual"):
            if isinstance(item.get(key), str) and " ms" in item[key]:
                item[key] = "timed"
    return {"summary": summary, "results": results}


def load(path):
    with open(os.path.join(str(path), "results.json")) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def sliced(lab, redis_url, tmp_path_factory):
    """One unsliced run, then three slices in parallel (every third host each, as AWX slices an inventory), then the
    merge; with the wall times."""
    base = tmp_path_factory.mktemp("runs")
    started = time.monotonic()
    code, out = finish(playbook(lab, ansible_env(lab), "post_deploy", "-e", "portproof_report_dir=%s" % (base / "unsliced")))
    unsliced_s = time.monotonic() - started
    assert code == 2, out[-6000:]  # the planted fault fails the run
    results = base / "results"
    slices = [HOSTS[index::3] for index in range(3)]
    env = cache_env(lab, redis_url)
    started = time.monotonic()
    procs = [playbook(lab, env, "post_deploy", "--limit", ",".join(hosts), "-e", "portproof_run_id=%s" % RUN_ID,
                      "-e", "portproof_slice=%d" % (number + 1), "-e", "portproof_results_dir=%s" % results,
                      "-e", "portproof_report_dir=%s" % (base / "unused"))
             for number, hosts in enumerate(slices)]
    outs = [finish(proc) for proc in procs]
    for code, out in outs:
        assert code == 0, out[-6000:]  # a slice fails no host: the merge does
    code, merge_out = finish(playbook(lab, env, "merge", "-e", "portproof_run_id=%s" % RUN_ID, "-e", "portproof_results_dir=%s" % results,
                                      "-e", "portproof_report_dir=%s" % (base / "merged")))
    sliced_s = time.monotonic() - started
    print("slices lab: unsliced %.1f s, 3 parallel slices + merge %.1f s" % (unsliced_s, sliced_s))
    return {"base": base, "results": results, "env": env, "merge": (code, merge_out), "slices": outs}


def test_the_merged_report_equals_one_unsliced_run(sliced):
    code, out = sliced["merge"]
    assert code == 2, out[-6000:]
    assert "portproof: the checks of run run-7 failed on 1 host(s): db3" in out
    unsliced, merged = load(sliced["base"] / "unsliced"), load(sliced["base"] / "merged")
    assert comparable(merged) == comparable(unsliced)
    # the planted fault, seen from app1 (slice 2) on db3 (slice 3)
    failed = [(r["host"], r["service"], r["check"], r["source"], r["recorded_on"]) for r in merged["results"] if r["status"] == "fail"]
    assert failed == [("db3", "postgres", "firewall_allow", "app1", "db3"), ("db3", "postgres", "reach", "app1", "app1")]
    assert merged["summary"]["error"] == 0 and sorted(merged["summary"]["hosts"]) == sorted(HOSTS)
    # every file of the report, as one run writes them
    assert sorted(os.listdir(sliced["base"] / "merged")) == sorted(os.listdir(sliced["base"] / "unsliced"))
    assert sorted(os.listdir(sliced["base"] / "merged" / "facts")) == sorted("%s.json" % host for host in HOSTS)
    assert sorted(os.listdir(sliced["results"] / RUN_ID)) == ["1.json", "2.json", "3.json"]


def test_stale_cached_facts_are_refused(lab, sliced):
    time.sleep(2)
    code, out = finish(playbook(lab, sliced["env"], "post_deploy", "--limit", "db1", "-e", "portproof_run_id=%s" % RUN_ID,
                                "-e", "portproof_slice=again", "-e", "portproof_facts_max_age=1",
                                "-e", "portproof_results_dir=%s" % (sliced["base"] / "stale")))
    assert code == 2, out[-6000:]
    assert "live checks: sliced run run-7: refusing stale port facts from the fact cache: app1: its port facts were gathered at " in out
    assert "more than portproof_facts_max_age (1 s)" in out
    assert not os.path.exists(sliced["base"] / "stale" / RUN_ID / "again.json")


def test_a_missing_slice_fails_the_merge(lab, sliced):
    partial = sliced["base"] / "partial"
    shutil.copytree(sliced["results"], partial)
    os.unlink(partial / RUN_ID / "2.json")
    code, out = finish(playbook(lab, sliced["env"], "merge", "-e", "portproof_run_id=%s" % RUN_ID, "-e", "portproof_results_dir=%s" % partial,
                                "-e", "portproof_report_dir=%s" % (sliced["base"] / "partial-report")))
    assert code == 2, out[-6000:]
    # in the order of the inventory (the lab's lists its hosts by name)
    assert ("portproof: merge of run run-7: missing slice: 4 host(s) of the inventory were checked by no slice: app1, app4, db2, web3 "
            "(slices found: 1.json, 3.json)") in out
    assert not os.path.exists(sliced["base"] / "partial-report")


def test_a_duplicated_slice_fails_the_merge(lab, sliced):
    twice = sliced["base"] / "twice"
    shutil.copytree(sliced["results"], twice)
    shutil.copy(twice / RUN_ID / "3.json", twice / RUN_ID / "3-retry.json")
    code, out = finish(playbook(lab, sliced["env"], "merge", "-e", "portproof_run_id=%s" % RUN_ID, "-e", "portproof_results_dir=%s" % twice,
                                "-e", "portproof_report_dir=%s" % (sliced["base"] / "twice-report")))
    assert code == 2, out[-6000:]
    assert ("portproof: merge of run run-7: duplicated slice: 4 host(s) were checked by more than one slice: app2 (in 3-retry.json, "
            "3.json); db3 (in 3-retry.json, 3.json); web1 (in 3-retry.json, 3.json); web4 (in 3-retry.json, 3.json)") in out
    assert not os.path.exists(sliced["base"] / "twice-report")
