# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The EXAMPLES of every module and filter run, as written, against lab hosts built for them.

Every example is syntax-checked with ``ansible-playbook --syntax-check``; every one not listed in
SYNTAX_ONLY (with the reason) then runs: the module examples of port_probe from app1 against
web1 and db1, the port_facts examples, the examples of the roles' private actions and the filter
examples, in the order of a validation run, on every lab host, then the report_write examples (the whole report, once, on the controller).
The test adds a ``register`` to the example tasks that have none and checks what they returned,
not only that they did not fail."""

from __future__ import annotations

import ast
import glob
import json
import os
import subprocess

import pytest
import yaml

from lab_ansible import REPO, VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

# Examples that need what no lab host has: they are only syntax-checked. (plugin, task name): reason.
SYNTAX_ONLY = {
    ("port_probe", "HTTPS with a certificate for the name, valid two more weeks, TLS 1.2 or newer"):
        "needs an HTTPS service whose certificate the probing host's system CA store trusts",
    ("port_probe", "SSH must offer public keys only, with the host key on record"):
        "needs paramiko on the probing host (lab hosts use the system Python without it) and the recorded host key",
    # private actions whose examples need a whole run around them; each runs end to end in its own lab test
    ("discover_write", "Write the discovered contract to portproof_discover_dir (portproof-discovered by default)"):
        "writes a discovered contract from a whole play's facts: tests/labtest/test_discover.py runs it on three stacks",
    ("discover_identify", "Plan who asks the listeners a host could not reach itself"):
        "plans, for discover, who asks what a host could not reach itself: tests/labtest/test_discover.py runs it",
    ("discover_gather", "Gather the port facts, ask each listener what answers and resolve the other hosts' names, in one run"):
        "gathers, identifies and resolves for discover, which writes the contract: tests/labtest/test_discover.py runs it",
    ("slice_write", "Write the results of this slice"):
        "needs a sliced run over a fact cache: tests/labtest/test_slices.py runs it",
    ("merge_write", "Merge the slices of run 4711"):
        "needs the slices of a run: tests/labtest/test_slices.py runs it",
    ("restart_unit", "Restart the unit of postgres and measure (the role restart_drill does this)"):
        "restarts a systemd unit (changes the host), which needs systemd as PID 1: tests/labtest/test_restart_drill.py runs it",
    ("restart_step", "Plan the drill"):
        "plans the restarts of a whole play's contracts for the drill: tests/labtest/test_restart_drill.py runs it",
}
# Private modules whose every example is syntax-only (see SYNTAX_ONLY).
NOT_RUN = ["discover_gather", "discover_identify", "discover_write", "slice_write", "merge_write", "restart_unit", "restart_step"]
# The filters in the order a validation run uses them: later examples use what earlier ones set.
FILTER_ORDER = ["port_spec", "firewall_verdict"]
# The private actions of the roles, in the order of a validation run (after port_facts, before the filters).
PRIVATE_ORDER = ["contract_load", "host_index", "check_static", "failed_hosts", "baseline_save", "check_drift"]

# The public must not reach redis, on every host (the firewall_verdict example asserts it on each).
NO_PUBLIC_REDIS = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT ! -i lo -p tcp -m tcp --dport 6379 -j DROP\nCOMMIT\n"
SERVICES_DB1 = [{"name": "postgres", "port": 5432, "process": "postgres", "allow_from": ["app"]},
                {"name": "dns", "port": 53, "proto": "udp", "process": "named", "allow_from": ["app"]}]
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"],
     "services": [{"name": "redis-server", "listen": ["tcp:127.0.0.1:6379"], "reply": "+PONG\r\n"}],
     "iptables": NO_PUBLIC_REDIS},
    {"name": "web1", "groups": ["web"],
     "services": [{"name": "nginx", "listen": ["tcp:0.0.0.0:8080"], "behavior": "http", "status": 200,
                   "body": '{"status": "ok"}', "content_type": "application/json"}],
     "iptables": NO_PUBLIC_REDIS},
    {"name": "db1", "groups": ["db"],
     "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]},
                  {"name": "named", "listen": ["udp:0.0.0.0:53"], "reply": "dns-answer"}],
     "iptables": NO_PUBLIC_REDIS,
     "vars": {"portproof_services": SERVICES_DB1}},
]}


def module_examples(name):
    tree = ast.parse(open(os.path.join(REPO, "plugins", "modules", name + ".py"), encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXAMPLES":
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no EXAMPLES" % name)


def filter_examples(name):
    with open(os.path.join(REPO, "plugins", "filter", name + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(yaml.safe_load(handle)["EXAMPLES"])


def all_examples():
    """{(kind, plugin): [task, ...]} for every module and filter of the tree."""
    found = {}
    for path in sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))):
        name = os.path.basename(path)[:-3]
        found[("module", name)] = module_examples(name)
    names = sorted(os.path.basename(path)[:-4] for path in glob.glob(os.path.join(REPO, "plugins", "filter", "*.yml")))
    for name in [n for n in FILTER_ORDER if n in names] + [n for n in names if n not in FILTER_ORDER]:
        found[("filter", name)] = filter_examples(name)
    return found


def prepared(plugin, tasks, registered):
    """The tasks to run: without the syntax-only ones, each with a register the test can read."""
    kept = []
    for index, task in enumerate(tasks):
        if (plugin, task["name"]) in SYNTAX_ONLY:
            continue
        task = dict(task)
        if "register" not in task:
            task["register"] = "example_%s_%d" % (plugin, index)
        registered.append((plugin, task["name"], task["register"]))
        kept.append(task)
    return kept


def write(path, data):
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False, width=1000)


def test_every_example_is_valid_playbook_syntax(tmp_path):
    examples = all_examples()
    assert ("module", "port_facts") in examples and ("filter", "firewall_verdict") in examples
    # Every syntax-only entry names an example that exists.
    names = set((plugin, task["name"]) for (_kind, plugin), tasks in examples.items() for task in tasks)
    assert set(SYNTAX_ONLY) - names == set()
    plays = [{"name": "Examples of %s %s" % (kind, plugin), "hosts": "all", "gather_facts": False, "tasks": tasks}
             for (kind, plugin), tasks in examples.items()]
    write(tmp_path / "examples.yml", plays)
    (tmp_path / "inventory.ini").write_text("app1\nweb1\ndb1\n")
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "--syntax-check", "-i", "inventory.ini",
                           "examples.yml"], cwd=str(tmp_path), env=ansible_env(), capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_examples_run_on_lab_hosts(make_lab, tmp_path):
    lab = make_lab(SPEC)
    examples = all_examples()
    registered = []
    probe_tasks = prepared("port_probe", examples.pop(("module", "port_probe")), registered)
    facts_tasks = prepared("port_facts", examples.pop(("module", "port_facts")), registered)
    report_tasks = prepared("report_write", examples.pop(("module", "report_write")), registered)
    private_tasks = []
    for plugin in PRIVATE_ORDER:
        private_tasks.extend(prepared(plugin, examples.pop(("module", plugin)), registered))
    # the private actions of a live step, in the order of roles/validate/tasks/live.yml: plan, probe, record
    live_tasks = []
    for name in ("live_plan", "live_probe", "live_record"):
        live_tasks.extend(prepared(name, examples.pop(("module", name)), registered))
    for name in NOT_RUN:
        assert prepared(name, examples.pop(("module", name)), registered) == [], name
    filter_tasks = []
    for (kind, plugin), tasks in examples.items():
        assert kind == "filter", plugin
        filter_tasks.extend(prepared(plugin, tasks, registered))

    # Every registered result of every host, for the assertions below.
    def host_vars(host):
        return ", ".join("'%s': hostvars['%s']['%s'] | default(none)" % (var, host, var) for _plugin, _name, var in registered)

    dump = "{{ %s | to_json }}" % ("{" + ", ".join("'%s': {%s}" % (host, host_vars(host)) for host in ("app1", "web1", "db1")) + "}")
    plays = [
        {"name": "Module examples of port_probe, from the application host", "hosts": "app1", "gather_facts": False,
         "tasks": probe_tasks},
        {"name": "Module examples of port_facts, then the filter examples", "hosts": "all", "gather_facts": False,
         # Lab hosts have no sudo: the examples' become goes through su (from root to root).
         "vars": {"ansible_become_method": "su"},
         "tasks": facts_tasks + private_tasks + filter_tasks + live_tasks + report_tasks + [
             {"name": "Keep what the examples returned", "ansible.builtin.copy": {"content": dump,
                                                                                  "dest": str(tmp_path / "results.json"),
                                                                                  "mode": "0644"},
              "delegate_to": "localhost", "run_once": True}]},
    ]
    write(tmp_path / "examples.yml", plays)
    # Where the report examples write, relative to the working directory (baseline_save makes portproof-baseline).
    for directory in ("portproof-report/facts",):
        (tmp_path / directory).mkdir(parents=True)
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "examples.yml"],
                          cwd=str(tmp_path), env=ansible_env(lab), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    results = json.loads((tmp_path / "results.json").read_text())
    app1, db1 = results["app1"], results["db1"]

    # port_probe: every probe of every example held, from app1.
    assert app1["probe"]["ok"] is True, app1["probe"]
    assert [(p["name"], p["state"], p["ok"]) for p in app1["probe"]["probes"]] == \
        [("postgres", "open", True), ("web", "open", True), ("dns", "open", True)]
    assert app1["web_load"]["ok"] is True and app1["web_load"]["load"]["errors"] == 0, app1["web_load"]
    assert app1["redis"]["wait"]["held"] is True, app1["redis"]

    # port_facts: the listeners of db1, also in the example's selection of TCP wildcard listeners.
    gathered = db1["example_port_facts_1"]["ansible_facts"]["portproof"]["listeners"]
    assert {("postgres", 5432, "tcp"), ("named", 53, "udp")} <= set(
        (entry["process"], entry["port"], entry["proto"]) for entry in gathered)
    wildcard = db1["example_port_facts_2"]["msg"]
    assert [(entry["process"], entry["port"], entry["proto"]) for entry in wildcard] == [("postgres", 5432, "tcp")], wildcard

    # Filters: what each example says it gives.
    promised = yaml.safe_load(yaml.safe_load(open(os.path.join(REPO, "plugins", "filter", "port_spec.yml"),
                                                  encoding="utf-8"))["EXAMPLES"].split("#", 1)[1])
    assert db1["example_port_spec_0"]["msg"] == promised == {"first": 8000, "last": 8010, "protos": ["tcp"]}
    assert db1["example_firewall_verdict_0"]["msg"]["verdict"] == "accept"
    assert db1["example_firewall_verdict_1"]["failed"] is False
    # the private actions of the roles: the contract, the static checks, the baseline saved, then drift
    assert [service["name"] for service in db1["portproof_contract_loaded"]["contract"]] == ["postgres", "dns"]
    assert sorted(db1["portproof_host_index"]["host_addresses"]) == ["app1", "db1", "web1"]
    checks = sorted((r["service"], r["check"], r["status"]) for r in db1["static_checked"]["new"])
    assert checks == [("dns", "listen", "pass"), ("postgres", "listen", "pass")], checks
    assert db1["portproof_failed"]["hosts"] == {}  # no result recorded in portproof_last_results: no host failed
    assert db1["example_baseline_save_0"]["path"] == str(tmp_path / "portproof-baseline" / "db1.json")
    drift = sorted((r["service"] or "", r["check"], r["status"]) for r in db1["drift_checked"]["new"])
    assert drift == [("", "drift", "pass"), ("dns", "drift", "pass"), ("postgres", "drift", "pass")], drift
    # the live step: app1 reaches both services of db1
    live = sorted((r["host"], r["service"], r["check"], r["source"], r["status"])
                  for r in app1["portproof_live_record"]["hosts"]["app1"]["portproof_live_last"])
    assert live == [("db1", "dns", "reach", "app1", "pass"), ("db1", "postgres", "reach", "app1", "pass")], live
    assert sorted(app1["portproof_live_step"]["plan"]["sources"]) == ["app1"]
    for name in ("results.json", "junit.xml", "summary.md", "report.html", "metrics.prom", "facts/db1.json"):
        assert (tmp_path / "portproof-report" / name).stat().st_size > 0, name
    # report_write: the report of the whole play, its summary that of results.json, every file named
    written = db1["written"]
    report_dir = str(tmp_path / "portproof-report")
    assert written["summary"] == json.loads((tmp_path / "portproof-report" / "results.json").read_text())["summary"]
    assert (sorted(written["summary"]["hosts"]), written["summary"]["report_dir"]) == (["app1", "db1", "web1"], report_dir)
    assert written["files"][:5] == [os.path.join(report_dir, name) for name in ("results.json", "junit.xml", "summary.md", "report.html",
                                                                                "metrics.prom")]
    assert sorted(written["files"][5:]) == [os.path.join(report_dir, "facts", host + ".json") for host in ("app1", "db1", "web1")]
    assert results["app1"]["example_report_write_1"]["msg"] == "%s; see %s/report.html" % (written["summary"]["headline"], report_dir)
    assert (tmp_path / "portproof-baseline" / "db1.json").is_file()


@pytest.mark.parametrize("plugin, name", sorted(SYNTAX_ONLY))
def test_only_syntax_checked(plugin, name):
    """Names, in the test summary, each example that was only syntax-checked, and why."""
    kind = "module" if os.path.exists(os.path.join(REPO, "plugins", "modules", plugin + ".py")) else "filter"
    assert name in [task["name"] for task in all_examples()[(kind, plugin)]]
    pytest.skip("only syntax-checked: %s: %s (%s)" % (plugin, name, SYNTAX_ONLY[(plugin, name)]))
