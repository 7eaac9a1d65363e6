# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What post_deploy and baseline leave behind and print, on real lab hosts.

db1 runs a listener whose process name is ESC c (``\\x1bc``: it resets a terminal that prints it) on the redis
port, and a firewall rule whose comment holds BEL lets web1 reach it, which the contract denies: the process check,
the firewall check and the isolation probe fail, each message carrying one of them. app1 and web1 have nothing
wrong. The inventory adds two hosts whose names gave one file name before (``src@1`` and ``src_1``, both app1's
address), and db1 keeps its baseline in a directory of its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

ESC_NAME = "\x1bc"
RULES = ("*filter\n:INPUT ACCEPT [0:0]\n"
         "-A INPUT -s {address:web1}/32 -p tcp -m tcp --dport 6379 -m comment --comment \"cache\x07open\" -j ACCEPT\n"
         "COMMIT\n")
CONTRACT = [{"name": "redis", "port": 6379, "process": "redis", "allow_from": ["app"], "deny_from": ["web"]}]
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"], "services": [{"name": ESC_NAME, "listen": ["tcp:0.0.0.0:6379"]}], "iptables": RULES,
     "vars": {"portproof_probe_timeout": 2, "portproof_services": CONTRACT}},
]}
# C0 but tab and newline, DEL, C1 (in UTF-8)
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")
TEXT_FILES = ("summary.md", "junit.xml", "report.html", "metrics.prom")


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def lab(tmp):
    with Lab(SPEC, str(tmp / "lab")) as built:
        # two more hosts whose names made one file name, and db1's baseline in a directory of its own
        with open(built.inventory) as handle:
            inventory = yaml.safe_load(handle)
        hosts = inventory["all"]["hosts"]
        for alias in ("src@1", "src_1"):
            hosts[alias] = dict(hosts["app1"])
        hosts["db1"]["portproof_baseline_dir"] = str(tmp / "baseline-db")
        with open(str(tmp / "inventory.yml"), "w") as handle:
            yaml.safe_dump(inventory, handle)
        yield built


def playbook(lab, tmp, name, *argv):
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(tmp / "inventory.yml"), "portproof.validate." + name]
                          + list(argv), cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=900)
    (tmp / ("%s-%d.txt" % (name, len(list(tmp.glob(name + "-*.txt")))))).write_text(proc.stdout + proc.stderr)
    return proc


@pytest.fixture(scope="module")
def baseline(lab, tmp):
    # no -e for the baseline directory: db1's own (a host variable) and the default one of the others
    return playbook(lab, tmp, "baseline")


@pytest.fixture(scope="module")
def run(lab, tmp, baseline):
    proc = playbook(lab, tmp, "post_deploy", "-e", "portproof_report_dir=%s" % (tmp / "report"))
    return {"proc": proc, "dir": tmp / "report"}


def recap(proc):
    """{host: {ok: n, changed: n, failed: n, ...}} of the play recap."""
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+: (ok=.*?)\s*$", proc.stdout, re.M):
        found[host] = dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", counts))
    return found


def shown_list(stdout, task):
    """The list a debug task of that name printed."""
    block = stdout.split("TASK [%s]" % task, 1)[1].split("\nTASK [", 1)[0]
    return json.loads(block[block.index("{"):block.rindex("}") + 1])["msg"]


def address(lab, host):
    return lab.address(host)


def test_no_text_output_holds_a_control_character_and_each_shows_them_as_escapes(run, lab):
    report = run["dir"]
    for name in TEXT_FILES:
        assert CONTROL.findall((report / name).read_bytes()) == [], name
    # the process name and the rule comment, each shown as \xNN in the format's own escaping
    summary = (report / "summary.md").read_bytes()
    assert b" (process \\\\x1bc pid " in summary and b'--comment "cache\\\\x07open" -j ACCEPT |' in summary
    for name in ("junit.xml", "report.html"):
        data = (report / name).read_bytes()
        assert b" (process \\x1bc pid " in data and b"cache\\x07open" in data, name
    # results.json keeps the real name, JSON-escaped
    raw = (report / "results.json").read_bytes()
    assert CONTROL.findall(raw) == [] and b"(process \\u001bc pid " in raw
    with open(report / "results.json") as handle:
        results = json.load(handle)["results"]
    (process,) = [r for r in results if r["check"] == "process"]
    assert re.fullmatch(r"redis declared as process redis; 0\.0\.0\.0:6379 \(process \x1bc pid \d+ user root\)", process["message"])


def test_the_console_lists_the_failures_and_fails_the_host_that_failed(run, lab):
    proc = run["proc"]
    assert proc.returncode == 2, proc.stdout[-4000:]
    assert CONTROL.findall((proc.stdout + proc.stderr).encode()) == []
    web1, db1 = address(lab, "web1"), address(lab, "db1")
    lines = shown_list(proc.stdout, "portproof.validate.report : List the failures and errors of the run (the first 20, then a count)")
    assert len(lines) == 3
    assert re.fullmatch(r"FAIL db1 redis process: redis declared as process redis; 0\.0\.0\.0:6379 \(process \\x1bc pid \d+ user root\)",
                        lines[0]), lines
    assert lines[1] == ('FAIL db1 redis firewall_deny from web1: redis: new TCP connection from web1 (%s) to %s:6379 (must not get in): '
                        'accept by rule ip filter INPUT #1: -A INPUT -s %s/32 -p tcp -m tcp --dport 6379 -m comment --comment '
                        '"cache\\x07open" -j ACCEPT' % (web1, db1, web1))
    assert re.fullmatch(r"FAIL db1 redis isolation from web1: redis: web1 must not get through, but connected to %s:6379/tcp in "
                        r"[\d.]+ ms" % re.escape(db1), lines[2]), lines
    # db1 alone is failed, with its own failures; no host counts the report, written on the controller, as a change
    assert re.findall(r"^fatal: \[(.*?)\]: FAILED! => (.*)$", proc.stdout, re.M) == [("db1", json.dumps({"changed": False, "msg": lines}))]
    counts = recap(proc)
    assert sorted(counts) == ["app1", "db1", "src@1", "src_1", "web1"]
    assert dict((host, (c["failed"], c["changed"])) for host, c in counts.items()) == {
        "app1": (0, 0), "db1": (1, 0), "src@1": (0, 0), "src_1": (0, 0), "web1": (0, 0)}


def test_each_host_has_its_own_evidence_and_baseline_files(run, baseline, tmp):
    assert baseline.returncode == 0, baseline.stdout[-4000:]
    files = {"portproof-baseline": ["app1.json", "src%401.json", "src_1.json", "web1.json"], "baseline-db": ["db1.json"],
             "report/facts": ["app1.json", "db1.json", "src%401.json", "src_1.json", "web1.json"]}
    for directory, names in files.items():
        assert sorted(os.listdir(str(tmp / directory))) == names, directory
        for name in names:
            with open(str(tmp / directory / name)) as handle:
                assert json.load(handle)["host"] == name[:-len(".json")].replace("%40", "@"), (directory, name)
    # every host found its baseline: no drift, no other failure than the three planted
    with open(str(tmp / "report" / "results.json")) as handle:
        summary = json.load(handle)["summary"]
    assert (summary["fail"], summary["error"]) == (3, 0)
    assert dict((host, info["facts"]) for host, info in summary["hosts"].items()) == dict(
        (name[:-5].replace("%40", "@"), "facts/" + name) for name in files["report/facts"])


def test_check_mode_writes_the_report_it_names_and_booleans_are_taken_as_ansible_takes_them(lab, tmp, run):
    report = tmp / "report-check"
    proc = playbook(lab, tmp, "post_deploy", "--check", "-e", "portproof_report_dir=%s" % report, "-e", "portproof_strict=no")
    assert proc.returncode == 2, proc.stdout[-4000:]
    with open(str(report / "results.json")) as handle:
        summary = json.load(handle)["summary"]
    # the same three failures as without --check; strict=no: no undeclared check, no contract error
    assert (summary["status"], summary["fail"], summary["error"], summary["checks"].get("undeclared")) == ("fail", 3, 0, None)
    assert ('"msg": "portproof FAIL: %d results on 5 hosts: %d pass, 3 fail, 0 error, %d skip; report: %s"'
            % (summary["total"], summary["pass"], summary["skip"], report)) in proc.stdout
    assert re.findall(r"^fatal: \[(.*?)\]", proc.stdout, re.M) == ["db1"]


def test_a_run_with_no_host_to_validate_fails_saying_so(lab, tmp):
    empty = tmp / "empty.yml"
    empty.write_text("all: {}\n")
    for argv, pattern in (([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(empty), "portproof.validate.post_deploy"], "all"),
                          ([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(tmp / "inventory.yml"), "portproof.validate.baseline",
                            "-e", "portproof_hosts=nosuchgroup"], "nosuchgroup")):
        proc = subprocess.run(argv, cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=300)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        message = ("portproof: no host to validate: no host of the inventory matches portproof_hosts (%s); check the inventory (-i), "
                   "portproof_hosts and --limit" % pattern)
        assert re.findall(r"^fatal: \[(.*?)\]: FAILED! => (.*)$", proc.stdout, re.M) == [
            ("localhost", json.dumps({"changed": False, "msg": message}))], proc.stdout
        # the first task of the run, and the last: nothing was gathered, nothing was written
        assert re.findall(r"^TASK \[(.*?)\]", proc.stdout, re.M) == ["Fail when no host of the inventory matches portproof_hosts and --limit"]


def test_a_report_that_cannot_be_written_replaces_nothing_withdraws_the_earlier_one_and_exits_1(lab, tmp, run):
    """The report directory on a full disk: a small tmpfs in a mount namespace of the run's own, holding the earlier
    run's report and a file that fills the rest."""
    top = tmp / "full"
    top.mkdir()
    report = top / "report"
    script = ('set -e\nmount -t tmpfs -o size=1m portproof-full "$1"\ncp -r "$2" "$1/report"\n'
              'dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true\nset +e\n"$3" -i "$4" portproof.validate.post_deploy '
              '-e portproof_report_dir="$1/report" >"$5/out.txt" 2>"$5/err.txt"\necho "rc=$?"\n'
              'cd "$1/report" && find . -mindepth 1 | sort\n')
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(top), str(run["dir"]),
                           os.path.join(VENV_BIN, "ansible-playbook"), str(tmp / "inventory.yml"), str(tmp)],
                          cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=900)
    out, err = (tmp / "out.txt").read_text(), (tmp / "err.txt").read_text()
    lines = proc.stdout.splitlines()
    # exit status 1 (2 is for failed checks), saying why and what became of the earlier report
    assert lines[0] == "rc=1", proc.stdout + proc.stderr + out[-3000:] + err
    assert ("[ERROR]: The filter plugin 'ansible.builtin.mandatory' failed: portproof: this run's report could not be written, so its "
            "results are nowhere: cannot write the report to %s: %s/results.json cannot be written: No space left on device; the "
            "earlier run's report there was removed (10 files), so that it cannot pass for this run's\n" % (report, report)) in err, err
    # nothing of the earlier report is left to look current, and no temporary file is left behind
    assert lines[1:] == ["./facts"]
    # the play ended there: no host was failed for it, the run stopped on the error (Ansible prints no recap then)
    assert "fatal: [" not in out and "PLAY RECAP" not in out
    assert out.rstrip().endswith("TASK [portproof.validate.report : End the play, the report could not be written (the playbook then exits "
                                 "with status 1)] ***")


def test_verbose_output_shows_no_facts_and_no_report_result(lab, tmp, run):
    """-v: the port facts (listeners, rules, mappings of every host) and the report's result are not dumped."""
    proc = playbook(lab, tmp, "post_deploy", "-v", "-e", "portproof_report_dir=%s" % (tmp / "report-v"))
    assert proc.returncode == 2, proc.stdout[-3000:]

    def block(task):
        """The lines the task printed (up to the blank line that ends them)."""
        return proc.stdout.split("TASK [%s]" % task, 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert sorted(block("portproof.validate.validate : Gather the port facts")) == [
        "ok: [app1]", "ok: [db1]", "ok: [src@1]", "ok: [src_1]", "ok: [web1]"]
    assert block("portproof.validate.report : Write the report of every host of the play on the controller") == ["ok: [app1 -> localhost]"]
    # the same run without -v prints the same lines there: the facts are in facts/ of the report
    with open(str(tmp / "report-v" / "facts" / "db1.json")) as handle:
        assert (6379, ESC_NAME) in set((item["port"], item["process"]) for item in json.load(handle)["facts"]["listeners"])
