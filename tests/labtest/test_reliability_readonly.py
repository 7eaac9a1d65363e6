# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Nothing changed, nothing leaked: one full post_deploy run on a lab host with services, iptables,
ip6tables, nft and ipset rules and a Podman container with a published port.

- Read-only: the host's listeners, rule sets, ipsets and containers are identical before and after
  the run (packet and byte counters aside: they count the run's own traffic), and both modules
  return ``changed: false`` in check mode with real results. Every file under the Podman storage of
  ``web1`` (which runs a container), under the pristine Podman storage of ``fresh`` (configured,
  never used) and under ``/etc`` keeps its content hash, size and mtime, and no file appears or
  disappears (in ``/etc``, the account files and ``/etc/netns``, which other labs on the machine
  change while this runs, aside).
- Secrets: a marker planted in an HTTP header and a basic-auth password of the contract reaches the
  service (which answers 401 without them) and appears in no report file, no facts file, not in the
  ``-vvv`` playbook log and not on its stdout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import stat
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env, module_result  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

MARKER = "PPSECRET-%s" % secrets.token_hex(8)
TOKEN = "%s-token" % MARKER
PASSWORD = "%s-password" % MARKER
BASIC = "Basic " + base64.b64encode(("probe:" + PASSWORD).encode()).decode()

IPTABLES = """*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s {lab_address}/32 -p tcp --dport 22 -j ACCEPT
-A INPUT -s {address:app1}/32 -p tcp -m multiport --dports 8080,8081 -m comment --comment "app tier" -j ACCEPT
-A INPUT -p tcp --dport 5432 -m set --match-set trusted src -j ACCEPT
COMMIT
"""
IP6TABLES = """*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 5432 -j REJECT --reject-with tcp-reset
COMMIT
"""
NFT = """table inet guard {
  chain input {
    type filter hook input priority 10; policy accept;
    tcp dport 6379 counter drop
  }
}
"""

SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"],
     "services": [
         {"name": "api", "listen": ["tcp:0.0.0.0:8080"], "behavior": "http", "body": "ok",
          "require_headers": {"X-Api-Token": TOKEN, "Authorization": BASIC}},
         {"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}],
     "ipset": "create trusted hash:ip family inet\nadd trusted {address:app1}\n",
     "iptables": IPTABLES, "ip6tables": IP6TABLES, "nft": NFT,
     "containers": [{"name": "site", "publish": ["8081:80/tcp"]}],
     "vars": {"portproof_services": [
         {"name": "api", "port": 8080, "process": "api", "allow_from": ["app"],
          "check": {"http": {"path": "/health", "status": 200, "headers": {"X-Api-Token": TOKEN},
                             "basic_auth": {"user": "probe", "password": PASSWORD}}}},
         {"name": "postgres", "port": 5432, "process": "postgres", "allow_from": ["app"]},
         {"name": "site", "port": 8081, "publish": {"container": "site", "container_port": 80}, "allow_from": ["app"]},
     ]}},
]}

_COUNTERS = re.compile(r"\[\d+:\d+\]|packets \d+ bytes \d+")


def snapshot(lab, host):
    """What a run must not change on HOST: listeners, rule sets, ipsets, containers."""
    views = {}
    for name, argv in (("ss", ["ss", "-H", "-ltunp"]), ("iptables-save", ["iptables-save"]),
                       ("ip6tables-save", ["ip6tables-save"]), ("nft", ["nft", "list", "ruleset"]),
                       ("ipset", ["ipset", "save"])):
        text = lab.ns(host, argv).stdout
        # counters count packets, including the run's own SSH and probes; the rules are what must not change
        text = _COUNTERS.sub("[counters]", text)
        views[name] = sorted(line for line in text.splitlines() if not line.startswith("# "))
    containers = json.loads(lab.podman(host, ["ps", "-a", "--format", "json"]).stdout)
    views["podman"] = sorted((c["Id"], c["State"], json.dumps(c.get("Ports"), sort_keys=True), c["Names"][0])
                             for c in containers)
    return views


# Changed by other labs on the same machine while this runs (users they add and delete, ufw copies).
_ETC_OTHERS = re.compile(r"^/etc/(passwd|group|shadow|gshadow|subuid|subgid)(-|\+)?$|^/etc/\.pwd\.lock$|^/etc/netns(/|$)")


def file_states(*roots):
    """{path: (kind, size, mtime_ns, sha256)} of everything under ROOTS (symlinks not followed)."""
    states = {}
    for top in roots:
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(root, name)
                if _ETC_OTHERS.match(path):
                    continue
                info = os.lstat(path)
                digest = None
                if stat.S_ISREG(info.st_mode):
                    with open(path, "rb") as handle:
                        digest = hashlib.sha256(handle.read()).hexdigest()
                states[path] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns, digest)
    return states


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Podman configuration for a store that was never used: its directories do not exist yet."""
    base = tmp_path_factory.mktemp("fresh")
    store = base / "podman"
    store.mkdir()
    (base / "containers.conf").write_text(
        '[engine]\nevents_logger = "file"\nevents_logfile_path = "%s/events.log"\ntmp_dir = "%s/tmp"\n'
        '[network]\nnetwork_config_dir = "%s/networks"\n' % (store, store, store))
    (base / "storage.conf").write_text('[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\nrunroot = "%s/run"\n'
                                       % (store, store))
    return {"store": str(store), "env": {"CONTAINERS_CONF": str(base / "containers.conf"),
                                         "CONTAINERS_STORAGE_CONF": str(base / "storage.conf")}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory, fresh):
    spec = dict(SPEC, hosts=SPEC["hosts"] + [{"name": "fresh", "groups": ["db"], "sshd": {"env": fresh["env"]}}])
    with Lab(spec, str(tmp_path_factory.mktemp("lab") / "lab")) as built:
        yield built


def storage_roots(lab, fresh):
    return [os.path.join(lab.host("web1")["dir"], "podman"), fresh["store"], "/etc"]


@pytest.fixture(scope="module")
def run(lab, fresh, tmp_path_factory):
    """One post_deploy run with -vvv and a playbook log; the host's state before and after it."""
    out = tmp_path_factory.mktemp("run")
    before = snapshot(lab, "web1")
    files_before = file_states(*storage_roots(lab, fresh))
    env = ansible_env(lab, ANSIBLE_LOG_PATH=str(out / "ansible.log"))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-vvv", "-i", lab.inventory,
                           "portproof.validate.post_deploy", "-e", "portproof_report_dir=%s" % (out / "report")],
                          env=env, capture_output=True, text=True, check=False, cwd=str(out))
    (out / "stdout.txt").write_text(proc.stdout + proc.stderr)
    after = snapshot(lab, "web1")
    files_after = file_states(*storage_roots(lab, fresh))
    return {"proc": proc, "dir": out, "before": before, "after": after, "files_before": files_before,
            "files_after": files_after}


def results(run):
    with open(run["dir"] / "report" / "results.json") as handle:
        return json.load(handle)["results"]


def test_the_run_passes_and_the_secret_headers_reached_the_service(run):
    assert run["proc"].returncode == 0, run["proc"].stdout[-5000:]
    rows = {(r["host"], r["service"], r["check"], r.get("source")): r["status"] for r in results(run)}
    # the service answers 401 unless both the token and the basic-auth credentials arrive
    assert rows[("web1", "api", "response", "app1")] == "pass"
    assert rows[("web1", "api", "reach", "app1")] == "pass"
    assert rows[("web1", "site", "mapping", None)] == "pass"


def test_nothing_on_the_host_changed(run):
    before, after = run["before"], run["after"]
    # the snapshot holds what the run could have changed: make sure it is not empty
    assert any(":8080" in line for line in before["ss"]) and any(":8081" in line for line in before["ss"])
    assert any("match-set trusted" in line for line in before["iptables-save"])
    assert any("reject-with tcp-reset" in line for line in before["ip6tables-save"])
    assert any("table inet guard" in line for line in before["nft"])
    assert any("add trusted" in line for line in before["ipset"])
    assert [c[1:] for c in before["podman"]] == [("running", before["podman"][0][2], "site")]
    assert "8081" in before["podman"][0][2]
    for view in before:
        assert after[view] == before[view], view


def test_no_file_of_the_engines_or_etc_changed(run, lab, fresh):
    before, after = run["files_before"], run["files_after"]
    web1 = os.path.join(lab.host("web1")["dir"], "podman")
    # what was compared: web1's store with its container, the never-used store, /etc
    assert any(path.endswith("/containers.json") and path.startswith(web1) for path in before)
    assert [path for path in before if path.startswith(fresh["store"])] == []
    assert "/etc/hostname" in before
    assert sorted(set(after) - set(before)) == []
    assert sorted(set(before) - set(after)) == []
    assert sorted(path for path in before if before[path] != after[path]) == []


def test_no_secret_in_any_output(run, lab):
    searched = []
    for root, _dirs, files in os.walk(run["dir"]):
        for name in files:
            path = os.path.join(root, name)
            searched.append(os.path.relpath(path, str(run["dir"])))
            with open(path, "rb") as handle:
                assert MARKER.encode() not in handle.read(), path
    # every output was there to search: the report, the facts of both hosts, the log and stdout
    assert {"ansible.log", "stdout.txt", "report/results.json", "report/junit.xml", "report/summary.md",
            "report/report.html", "report/metrics.prom", "report/facts/web1.json", "report/facts/app1.json"} <= set(searched)
    assert os.path.getsize(str(run["dir"] / "ansible.log")) > 100000  # -vvv: module arguments and results are in it
    # the secrets were in play: the contract holds them, masked where Ansible printed it
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in (run["dir"] / "ansible.log").read_text() \
        or "********" in (run["dir"] / "ansible.log").read_text()


def test_port_facts_in_check_mode_changes_nothing(lab):
    result = module_result(lab, "web1", "portproof.validate.port_facts", "namespaces=all", extra=["--check"])
    assert result["changed"] is False and not result.get("failed"), result
    facts = result["ansible_facts"]["portproof"]
    assert {(i["port"], i["process"]) for i in facts["listeners"] if i["netns"] == "host"} >= {(8080, "api"), (5432, "postgres")}
    assert [(m["host_port"], m["container"]) for m in facts["mappings"]] == [(8081, "site")]
    assert facts["unavailable"] == [u for u in facts["unavailable"] if u["tool"] == "docker"]


def test_port_probe_in_check_mode_changes_nothing(lab):
    args = json.dumps({"targets": [{"host": lab.address("web1"), "port": 8080,
                                    "http": {"path": "/", "headers": {"X-Api-Token": TOKEN}, "user": "probe",
                                             "password": PASSWORD}}]})
    result = module_result(lab, "app1", "portproof.validate.port_probe", args, extra=["--check"])
    assert result["changed"] is False and not result.get("failed"), result
    assert [(p["state"], p["http"]["status"]) for p in result["probes"]] == [("open", 200)]
    assert MARKER not in json.dumps(result)
