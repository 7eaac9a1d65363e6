# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults on real lab hosts, all in one run of the validate role (what post_deploy runs):

- ``gone`` dies after gathering (its processes end, its link goes down), between the phases;
- ``bare`` has no ss, iptables, ip6tables, nft, ipset, docker or podman for its SSH sessions;
- ``nonroot`` is gathered by an unprivileged user (no become);
- ``german`` has LC_ALL/LANG/LANGUAGE set to German for its sessions;
- ``broken`` has an ``nft`` first on its PATH that exits 3 with a message;
- ``hung`` has a ``podman`` first on its PATH that never answers (and a Podman store holding a
  container, whose runtime ran since boot: port_facts runs podman only where there is something
  to list).

Each gives its exact ``unavailable`` entries or ``error`` results, and the run completes: every
other host's results are decided and the report is written.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env, command_wrappers  # pylint: disable=import-error
from portproof_lab import HERE as LAB_DIR, Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

ENGINE_TIMEOUT = 3
RULES = """*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s {lab_address}/32 -p tcp --dport 22 -j ACCEPT
-A INPUT -s {address:app1}/32 -p tcp --dport 5432 -m comment --comment "app tier only" -j ACCEPT
COMMIT
"""
HIDDEN = ["ss", "iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save", "nft", "ipset",
          "docker", "podman"]
PG = {"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}
PG_CONTRACT = [{"name": "postgres", "port": 5432, "process": "postgres", "allow_from": ["app"]}]

PLAYBOOK = """
- name: Prove every service port while hosts fail in every way
  hosts: all
  gather_facts: false
  module_defaults:
    portproof.validate.port_facts:
      engine_timeout: %(timeout)d
  vars:
    portproof_defer_failures: true
    portproof_probe_timeout: 2
  tasks:
    - name: Validate the contracts and gather
      ansible.builtin.include_role:
        name: portproof.validate.validate
      vars:
        portproof_checks: []
    - name: A host dies between the phases
      ansible.builtin.command:
        argv: [%(python)s, %(lab)s, cut, --dir, %(dir)s, gone]
      delegate_to: localhost
      run_once: true
      changed_when: true
    - name: Everything else, then the report
      ansible.builtin.include_role:
        name: portproof.validate.validate
"""


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def lab(tmp):
    broken = command_wrappers(str(tmp / "broken-bin"), {"nft": 'echo "Error: planted failure: netlink cache unavailable" >&2\nexit 3'})
    hung = command_wrappers(str(tmp / "hung-bin"), {"podman": "exec sleep 600"})
    store = tmp / "hung-podman"
    (store / "root" / "overlay-containers").mkdir(parents=True)
    (store / "root" / "overlay-containers" / "containers.json").write_text('[{"id": "%s", "names": ["web"]}]' % ("a" * 64))
    (store / "tmp").mkdir()
    (store / "tmp" / "alive").write_text("")
    (tmp / "hung-storage.conf").write_text('[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\n' % store)
    (tmp / "hung-containers.conf").write_text('[engine]\ntmp_dir = "%s/tmp"\n' % store)
    path = ":/usr/local/bin:/usr/bin:/bin"
    spec = {"hosts": [
        {"name": "app1", "groups": ["app"]},
        {"name": "gone", "groups": ["app"], "services": [{"name": "redis", "listen": ["tcp:0.0.0.0:6379"]}],
         "vars": {"portproof_services": [{"name": "redis", "port": 6379, "process": "redis", "allow_from": ["app1"]}]}},
        {"name": "db1", "groups": ["db"], "services": [PG], "iptables": RULES, "vars": {"portproof_services": PG_CONTRACT}},
        {"name": "bare", "groups": ["db"], "services": [PG], "sshd": {"hide": HIDDEN}, "vars": {"portproof_services": PG_CONTRACT}},
        {"name": "nonroot", "groups": ["db"], "sshd": {"unprivileged_user": True}, "iptables": RULES,
         "services": [PG, {"name": "memcached", "listen": ["tcp:127.0.0.1:11211"], "user": "nobody"}],
         "vars": {"portproof_services": PG_CONTRACT}},
        {"name": "german", "groups": ["db"], "services": [PG], "iptables": RULES, "vars": {"portproof_services": PG_CONTRACT},
         "sshd": {"env": {"LC_ALL": "de_DE.UTF-8", "LANG": "de_DE.UTF-8", "LANGUAGE": "de"}}},
        {"name": "broken", "groups": ["db"], "services": [PG], "vars": {"portproof_services": PG_CONTRACT},
         "sshd": {"env": {"PATH": broken + path}}},
        {"name": "hung", "groups": ["db"], "services": [PG], "vars": {"portproof_services": PG_CONTRACT},
         "sshd": {"env": {"PATH": hung + path, "CONTAINERS_STORAGE_CONF": str(tmp / "hung-storage.conf"),
                          "CONTAINERS_CONF": str(tmp / "hung-containers.conf")}}},
    ]}
    with Lab(spec, str(tmp / "lab")) as built:
        yield built


@pytest.fixture(scope="module")
def run(lab, tmp):
    playbook = tmp / "play.yml"
    playbook.write_text(PLAYBOOK % {"timeout": ENGINE_TIMEOUT, "python": json.dumps(os.path.join(VENV_BIN, "python")),
                                    "lab": json.dumps(os.path.join(LAB_DIR, "portproof_lab.py")), "dir": json.dumps(lab.workdir)})
    report = tmp / "report"
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, str(playbook),
                           "-e", "portproof_report_dir=%s" % report], env=ansible_env(lab), capture_output=True, text=True,
                          check=False, timeout=600)
    (tmp / "stdout.txt").write_text(proc.stdout + proc.stderr)
    assert (report / "results.json").exists(), proc.stdout[-5000:] + proc.stderr
    with open(report / "results.json") as handle:
        data = json.load(handle)
    facts = {}
    for name in os.listdir(report / "facts"):
        with open(report / "facts" / name) as handle:
            facts[name[:-len(".json")]] = json.load(handle)
    return {"proc": proc, "report": data, "facts": facts}


def results(run, host, **match):
    return [r for r in run["report"]["results"] if r["host"] == host and all(r.get(k) == v for k, v in match.items())]


def unavailable(run, host):
    return run["facts"][host]["facts"]["unavailable"]


def test_the_run_completes_with_a_report_of_every_host(run):
    # fail and error results make it exit 2 at the end, after the report: not an aborted run
    assert run["proc"].returncode == 2, run["proc"].stdout[-5000:]
    assert sorted(run["facts"]) == ["app1", "bare", "broken", "db1", "german", "gone", "hung", "nonroot"]
    for host in ("db1", "bare", "nonroot", "german", "broken", "hung"):
        assert [r["status"] for r in results(run, host, service="postgres", check="reach", source="app1")] == ["pass"], host
        assert [r["status"] for r in results(run, host, service="postgres", check="listen")] == ["pass"], host


def test_a_host_that_went_down_gives_errors_where_it_probes_and_fails_where_it_is_probed(run, lab):
    gone = lab.address("gone")
    errors = sorted((r["host"], r["message"]) for r in run["report"]["results"] if r.get("source") == "gone" and r["check"] == "reach")
    assert [host for host, _message in errors] == ["bare", "broken", "db1", "german", "hung", "nonroot"]
    for host, message in errors:
        assert message == ("postgres: gone could not probe %s:5432/tcp: unreachable: Task failed: Failed to connect to the host "
                           "via ssh: ssh: connect to host %s port 22: Connection timed out" % (lab.address(host), gone)), message
    assert [r["status"] for r in results(run, "gone", source="gone")] == []
    # the report does not call it reachable: one run error says when it was lost
    assert run["report"]["summary"]["hosts"]["gone"]["reachable"] is False
    assert [r["message"] for r in results(run, "gone", check="run")] == [
        "gone: became unreachable during the run (its later checks did not run): Task failed: Failed to connect to the host "
        "via ssh: ssh: connect to host %s port 22: Connection timed out" % gone]
    # its own service was gathered before it went down (listen passes) and is probed after: no answer
    assert [(r["check"], r["status"]) for r in results(run, "gone", service="redis") if r["check"] in ("listen", "reach")] == \
        [("listen", "pass"), ("reach", "fail")]
    assert results(run, "gone", service="redis", check="reach")[0]["message"] == \
        "redis: app1 cannot reach %s:6379/tcp: timeout (no answer to the connection attempt within 2 s)" % gone


def test_a_host_without_the_tools(run):
    assert unavailable(run, "bare") == [
        {"subset": "firewall", "tool": "iptables-save", "reason": "iptables-save not found: iptables rules not read"},
        {"subset": "firewall", "tool": "ip6tables-save", "reason": "ip6tables-save not found: iptables rules not read"},
        {"subset": "firewall", "tool": "nft", "reason": "nft not found: native nftables rules not read"},
        {"subset": "mappings", "tool": "firewall", "reason": "NAT rules incomplete: the firewall subset could not read no "
         "firewall tool is installed (nft, iptables-save, ip6tables-save): the rules are unknown, not absent"},
    ]  # no docker or podman command and no engine socket: no engine, nothing to report
    facts = run["facts"]["bare"]["facts"]
    assert facts["firewall"]["incomplete"] == [
        "no firewall tool is installed (nft, iptables-save, ip6tables-save): the rules are unknown, not absent"]
    # listeners come from the kernel (sock_diag), not from ss
    assert {(i["port"], i["process"]) for i in facts["listeners"] if i["netns"] == "host"} == {(22, "sshd"), (5432, "postgres")}
    assert [r["message"] for r in results(run, "bare", check="firewall_allow", source="app1")] == [
        "postgres: new TCP connection from app1 (%s) to %s:5432 (must get in): cannot be decided statically: the firewall "
        "facts are incomplete: no firewall tool is installed (nft, iptables-save, ip6tables-save): the rules are unknown, "
        "not absent" % (run["facts"]["app1"]["address"], run["facts"]["bare"]["address"])]


def test_a_host_gathered_without_root(run):
    entries = unavailable(run, "nonroot")
    assert entries[0] == {"subset": "listeners", "tool": "namespaces",
                          "reason": "reading other network namespaces needs root; only the host's own namespace was read"}
    firewall = [e for e in entries if e["subset"] == "firewall"]
    assert [e["tool"] for e in firewall] == ["iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save",
                                             "ip6tables-legacy-save", "nft"]
    assert all(e["reason"].endswith("(reading the firewall needs root)") for e in firewall), firewall
    assert "Permission denied (you must be root)" in firewall[0]["reason"]
    listeners = [(i["port"], i["pid"], i["process"], i["user"]) for i in run["facts"]["nonroot"]["facts"]["listeners"]]
    assert sorted(set(listeners)) == [(22, None, None, None), (5432, None, None, None), (11211, None, None, None)]
    assert [r["message"] for r in results(run, "nonroot", check="process")] == [
        "postgres: the owner of 0.0.0.0:5432 could not be read (gather facts as root, become: true)"]
    assert [r["status"] for r in results(run, "nonroot", check="firewall_allow")] == ["error", "error"]
    assert "[WARNING]: not running as root: the owning process of " in run["proc"].stderr


def test_a_german_locale_changes_no_parse(run, lab):
    # the host's SSH sessions run in German (the locale is not installed here: Ansible's module code then
    # falls back to C.UTF-8 for itself, and the modules run every tool with LC_ALL=C in any case)
    assert lab.ssh("german", "printenv LC_ALL LANG LANGUAGE").stdout.split() == ["de_DE.UTF-8", "de_DE.UTF-8", "de"]
    assert [e["tool"] for e in unavailable(run, "german")] == ["docker"]  # the machine's docker has no daemon
    firewall = run["facts"]["german"]["facts"]["firewall"]
    assert (firewall["backend"], firewall["incomplete"]) == ("iptables-nft", [])
    assert {(r["source"], r["status"]) for r in results(run, "german", check="firewall_allow")} == {("app1", "pass"), ("gone", "fail")}
    assert results(run, "german", check="firewall_allow", source="gone")[0]["message"].endswith("dropped by the policy of ip filter INPUT")


def test_a_firewall_tool_that_exits_non_zero(run, tmp):
    reason = "%s/nft -j list ruleset exited with 3: Error: planted failure: netlink cache unavailable" % (tmp / "broken-bin")
    assert unavailable(run, "broken")[0] == {"subset": "firewall", "tool": "nft", "reason": reason}
    assert run["facts"]["broken"]["facts"]["firewall"]["incomplete"] == [reason]
    assert [r["status"] for r in results(run, "broken", check="firewall_allow")] == ["error", "error"]
    assert all(r["message"].endswith("the firewall facts are incomplete: " + reason) for r in results(run, "broken", check="firewall_allow"))


def test_a_container_engine_that_never_answers(run):
    assert unavailable(run, "hung")[0] == {
        "subset": "mappings", "tool": "podman",
        "reason": "podman ps --pod --format json timed out after %d s (killed): the engine does not answer" % ENGINE_TIMEOUT}
    # the rest of the host was gathered and checked
    assert [r["status"] for r in results(run, "hung", check="firewall_allow", source="app1")] == ["pass"]
