# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""post_deploy on a fleet: --limit, any number of forks, the free strategy (a 4-host lab).

Under --limit, the sources outside the limit are not touched: their probes (and a load only they
could run) are ``skip`` results that name the limit, never errors, while the static firewall checks
still cover them (they need only their addresses). Without a limit, forks 1, forks 50 and the free
strategy give the same results.json, timings aside.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

# Its own step of scripts/test (PORTPROOF_TEST_ONLY=extended), outside the default set: the CI budget.
pytestmark = [pytest.mark.lab, pytest.mark.extended]

DB = [{"name": "postgres", "port": 5432, "process": "^postgres$", "allow_from": ["app"], "deny_from": ["web"],
       "check": {"load": {"requests": 20, "concurrency": 4, "p95_ms": 2000}}}]
API = [{"name": "api", "port": 8080, "process": "^api$", "allow_from": ["web", "controller"], "deny_from": ["db"],
        "check": {"http": {"path": "/health", "status": 200}}}]
REJECT = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s {address:%s}/32 -p tcp --dport %d -j REJECT --reject-with tcp-reset\nCOMMIT\n"
SPEC = {"hosts": [
    {"name": "db1", "groups": ["db"], "vars": {"portproof_services": DB},
     "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}], "iptables": REJECT % ("web1", 5432)},
    {"name": "app1", "groups": ["app"], "vars": {"portproof_services": API},
     "services": [{"name": "api", "listen": ["tcp:0.0.0.0:8080"], "behavior": "http", "status": 200, "body": "ok"}],
     "iptables": REJECT % ("db1", 8080)},
    {"name": "app2", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
]}
LIVE = ("reach", "isolation", "response", "load")


def post_deploy(lab, report, *args, **env):
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.post_deploy",
           "-e", "portproof_report_dir=%s" % report, "-e", "portproof_probe_timeout=2"] + list(args)
    proc = subprocess.run(cmd, env=ansible_env(lab, **env), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    with open(os.path.join(str(report), "results.json")) as handle:
        return json.load(handle), proc.stdout


def without_timings(report):
    """The results, with every measured time (latency_ms, '12.3 ms' in messages, expected/actual) made 'N'."""
    def plain(value):
        return re.sub(r"\d+(\.\d+)? ms", "N ms", value) if isinstance(value, str) else value
    return [dict((key, plain(value)) for key, value in item.items() if key != "latency_ms") for item in report["results"]]


def test_limit_reports_the_sources_outside_it_as_skip(make_lab, tmp_path):
    lab = make_lab(SPEC)
    report, _out = post_deploy(lab, tmp_path / "report", "--limit", "db1,app1")
    assert sorted(report["summary"]["hosts"]) == ["app1", "db1"]
    rows = sorted((r["host"], r["service"], r["check"], r["status"], r["source"]) for r in report["results"] if r["check"] in LIVE)
    assert rows == [
        ("app1", "api", "isolation", "pass", "db1"),
        ("app1", "api", "reach", "pass", "controller"),
        ("app1", "api", "reach", "skip", "web1"),
        ("app1", "api", "response", "pass", "controller"),
        ("app1", "api", "response", "skip", "web1"),
        ("db1", "postgres", "isolation", "skip", "web1"),
        ("db1", "postgres", "load", "pass", "app1"),
        ("db1", "postgres", "reach", "pass", "app1"),
        ("db1", "postgres", "reach", "skip", "app2"),
    ]
    skips = sorted(r["message"] for r in report["results"] if r["status"] == "skip")
    db1, app1 = lab.address("db1"), lab.address("app1")
    assert skips == sorted([
        "api: not probed from web1 at %s:8080/tcp: web1 is outside the --limit of this run (db1,app1), so it does not probe" % app1,
        "api: not probed from web1 at %s:8080/tcp: web1 is outside the --limit of this run (db1,app1), so it does not probe" % app1,
        "postgres: not probed from app2 at %s:5432/tcp: app2 is outside the --limit of this run (db1,app1), so it does not probe" % db1,
        "postgres: not probed from web1 at %s:5432/tcp: web1 is outside the --limit of this run (db1,app1), so it does not probe" % db1,
    ])
    # the static verdicts still cover every source: they need its address only
    static = sorted((r["host"], r["check"], r["status"], r["source"]) for r in report["results"] if r["check"].startswith("firewall_"))
    assert static == [
        ("app1", "firewall_allow", "pass", "controller"),
        ("app1", "firewall_allow", "pass", "web1"),
        ("app1", "firewall_deny", "pass", "db1"),
        ("db1", "firewall_allow", "pass", "app1"),
        ("db1", "firewall_allow", "pass", "app2"),
        ("db1", "firewall_deny", "pass", "web1"),
    ]
    assert report["summary"]["error"] == 0 and report["summary"]["fail"] == 0


def test_a_load_that_only_sources_outside_the_limit_could_run_is_skip(make_lab, tmp_path):
    lab = make_lab(SPEC)
    report, _out = post_deploy(lab, tmp_path / "report", "--limit", "db1")
    rows = sorted((r["check"], r["status"], r["source"], r["message"]) for r in report["results"] if r["check"] in LIVE)
    db1 = lab.address("db1")
    assert rows == [
        ("isolation", "skip", "web1",
         "postgres: not probed from web1 at %s:5432/tcp: web1 is outside the --limit of this run (db1), so it does not probe" % db1),
        ("load", "skip", None, "postgres: not put under load: every allowed source (app1, app2) is outside the --limit of this run (db1)"),
        ("reach", "skip", "app1",
         "postgres: not probed from app1 at %s:5432/tcp: app1 is outside the --limit of this run (db1), so it does not probe" % db1),
        ("reach", "skip", "app2",
         "postgres: not probed from app2 at %s:5432/tcp: app2 is outside the --limit of this run (db1), so it does not probe" % db1),
    ]


def test_forks_and_the_free_strategy_give_the_same_results(make_lab, tmp_path):
    lab = make_lab(SPEC)
    runs = {}
    for name, args, env in (("forks1", ["-f", "1"], {}), ("forks50", ["-f", "50"], {}), ("free", ["-f", "5"], {"ANSIBLE_STRATEGY": "free"})):
        report, out = post_deploy(lab, tmp_path / name, *args, **env)
        runs[name] = without_timings(report)
        if name == "free":
            # the first play (contracts and port facts) ran free; the checks play is linear, so no run_once task ran per host
            assert "Using run_once with the free strategy" not in out.split("PLAY [Prove every service port")[1], out[-4000:]
    assert runs["forks1"] == runs["forks50"] == runs["free"]
    statuses = sorted(set((r["host"], r["service"], r["check"], r["status"], r["source"]) for r in runs["free"] if r["check"] in LIVE))
    assert statuses == [
        ("app1", "api", "isolation", "pass", "db1"),
        ("app1", "api", "reach", "pass", "controller"),
        ("app1", "api", "reach", "pass", "web1"),
        ("app1", "api", "response", "pass", "controller"),
        ("app1", "api", "response", "pass", "web1"),
        ("db1", "postgres", "isolation", "pass", "web1"),
        ("db1", "postgres", "load", "pass", "app1"),
        ("db1", "postgres", "reach", "pass", "app1"),
        ("db1", "postgres", "reach", "pass", "app2"),
    ]
    assert len(runs["free"]) == len({json.dumps(item, sort_keys=True) for item in runs["free"]})  # nothing recorded twice
