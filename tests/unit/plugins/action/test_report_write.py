# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""portproof.validate.report_write: the whole report in one task on the controller, run by a real ansible-playbook.

The play's hosts carry the results of a real post_deploy run (fixtures/report/results-lab.json, each result on
the host that recorded it) and the port facts captured on the same lab hosts (fixtures/drift/facts-after-*.json,
set as facts, as port_facts sets them); gone1 leaves the play before the report. Each host's connection is ssh
with an ssh command that does not exist, so a task that tried to reach its host would fail: the action must not.
The files are compared byte for byte with what the report renderers of plugin_utils give for the same input.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from ansible_collections.portproof.validate.plugins.action import report_write
from ansible_collections.portproof.validate.plugins.action.report_write import (ReportWriteError, inside, write_file, write_report)
from ansible_collections.portproof.validate.plugins.plugin_utils._report_html import render_html
from ansible_collections.portproof.validate.plugins.plugin_utils._report_json import render_facts, render_json
from ansible_collections.portproof.validate.plugins.plugin_utils._report_junit import render_junit
from ansible_collections.portproof.validate.plugins.plugin_utils._report_markdown import render_markdown
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect
from ansible_collections.portproof.validate.plugins.plugin_utils._report_prometheus import render_prometheus
from ansible_collections.portproof.validate.plugins.modules import report_write as report_write_doc
# the results of the lab run as each host recorded them, as the report role's tests use them
from ansible_collections.portproof.validate.tests.unit.plugins.plugin_utils.test_report import LAB, lab_hostvars

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "plugin_utils", "fixtures")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.dirname(sys.executable)
REPORT_FILES = ["results.json", "junit.xml", "summary.md", "report.html", "metrics.prom"]
LIVE = ["app1", "db1", "web1"]
HOSTS = LIVE + ["gone1"]
CONTRACT = [{"name": "postgres", "port": 5432, "proto": "tcp", "bind": ["internal"], "allow_from": ["app"]}]
# gone1 recorded one result before it left, whose message is a template of the inventory: the report has it rendered.
GONE1_RESULT = {"host": "gone1", "service": "postgres", "check": "listen", "status": "pass", "source": None,
                "message": "{{ 'postgres listens on ' ~ portproof_address }}", "expected": "listening", "actual": "listening"}
GONE1_MESSAGE = "postgres listens on 10.231.127.14"

# The play: facts as port_facts sets them, gone1 leaves, the action writes the report.
PLAYBOOK = [{
    "name": "The report of a play",
    "hosts": "all",
    "gather_facts": False,
    "tasks": [
        {"name": "The port facts of each host, as port_facts sets them",
         "ansible.builtin.set_fact": {"portproof": "{{ lookup('ansible.builtin.file', facts_fixture) | from_json }}", "cacheable": True},
         "when": "facts_fixture is defined"},
        {"name": "A host leaves the play", "ansible.builtin.fail": {"msg": "leaves the play"},
         "when": "inventory_hostname == 'gone1'"},
        {"name": "Write the report", "portproof.validate.report_write": {"dest": "{{ report_dest }}"},
         "register": "written", "run_once": True, "ignore_errors": True},
        {"name": "Keep what the action returned", "run_once": True, "delegate_to": "localhost", "check_mode": False,
         "ansible.builtin.copy": {"content": "{{ written | to_json }}", "dest": "{{ result_file }}", "mode": "0644"}},
    ],
}]


def facts_fixture(host):
    return os.path.join(FIXTURES, "drift", "facts-after-%s.json" % host)


def inventory():
    """The lab run's hosts: their results and addresses; gone1 recorded one result before it left. No host can be reached."""
    recorded = lab_hostvars()
    no_connection = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_ssh_executable": "/nonexistent/ssh"}
    hosts = {}
    for host in LIVE:
        hosts[host] = dict(no_connection, portproof_results=recorded[host]["portproof_results"],
                           portproof_address=recorded[host]["ansible_host"], facts_fixture=facts_fixture(host))
    hosts["db1"]["portproof_contract"] = CONTRACT
    hosts["gone1"] = dict(no_connection, portproof_results=[GONE1_RESULT], portproof_address="10.231.127.14",
                          facts_fixture=os.path.join(FIXTURES, "static", "facts-db1.json"))
    return {"all": {"hosts": hosts}}


def python_hostvars():
    """The variables the report reads, as the play has them (the facts of each host under ansible_facts)."""
    hostvars = {}
    for host, hvars in inventory()["all"]["hosts"].items():
        with open(hvars["facts_fixture"]) as handle:
            hostvars[host] = dict(hvars, ansible_facts={"portproof": json.load(handle)})
    hostvars["gone1"]["portproof_results"] = [dict(GONE1_RESULT, message=GONE1_MESSAGE)]
    return hostvars


def ansible_env(tmp_path):
    import ansible_collections.portproof.validate as collection  # pylint: disable=import-outside-toplevel
    root = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=root, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_CACHE_PLUGIN="ansible.builtin.memory", ANSIBLE_RETRY_FILES_ENABLED="false")
    env.pop("ANSIBLE_CONFIG", None)
    return env


def play(tmp_path, dest, *argv, umask=None):
    """Run the play from TMP_PATH (the current directory); (process, what the action returned)."""
    with open(tmp_path / "inventory.yml", "w") as handle:
        yaml.safe_dump(inventory(), handle, sort_keys=False)  # the play's hosts in HOSTS order
    with open(tmp_path / "play.yml", "w") as handle:
        yaml.safe_dump(PLAYBOOK, handle, sort_keys=False)
    result_file = tmp_path / "written.json"
    if result_file.exists():
        result_file.unlink()
    extra = {"report_dest": str(dest), "result_file": str(result_file)}
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory.yml", "play.yml", "-e", json.dumps(extra)] + list(argv),
                          cwd=str(tmp_path), env=ansible_env(tmp_path), capture_output=True, text=True, check=False, timeout=300,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    # gone1 failed (it left the play): exit status 2, every other host fine
    assert proc.returncode == 2 and "gone1" in proc.stdout, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert "unreachable=1" not in proc.stdout and result_file.exists(), proc.stdout[-5000:]
    with open(result_file) as handle:
        return proc, json.load(handle)


def snapshot(directory):
    """{relative path: (inode, mtime in ns, mode)} of every file and directory under DIRECTORY."""
    found = {}
    for top, dirs, files in os.walk(str(directory)):
        for name in dirs + files:
            path = os.path.join(top, name)
            status = os.stat(path)
            found[os.path.relpath(path, str(directory))] = (status.st_ino, status.st_mtime_ns, stat.S_IMODE(status.st_mode))
    return found


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The play, once: the report under a relative dest (made with its parents under a umask of 077)."""
    tmp_path = tmp_path_factory.mktemp("report-write")
    proc, written = play(tmp_path, "out/ci/portproof-report", umask=0o077)
    return {"tmp": tmp_path, "dir": tmp_path / "out" / "ci" / "portproof-report", "proc": proc, "written": written}


# ------------------------------------------------------------------------------------------------ one run
def test_every_file_is_written_with_the_paths_returned(first_run):
    written, report_dir = first_run["written"], first_run["dir"]
    assert written["changed"] is True and not written.get("failed"), written
    names = REPORT_FILES + ["facts/%s.json" % host for host in HOSTS]
    assert written["files"] == [str(report_dir / name) for name in names]
    assert sorted(snapshot(report_dir)) == sorted(names + ["facts"])
    # a relative dest is relative to the current directory, and the summary says where the report is
    assert written["summary"]["report_dir"] == str(report_dir) == os.path.realpath(str(report_dir))


def test_the_files_are_the_text_of_the_renderers_called_on_the_same_variables(first_run):
    written, report_dir = first_run["written"], first_run["dir"]
    summary = written["summary"]
    hostvars = python_hostvars()
    report = collect(hostvars, HOSTS, LIVE, generated=summary["generated"], report_dir=summary["report_dir"])
    expected = {
        "results.json": render_json(report), "junit.xml": render_junit(report),
        "summary.md": render_markdown(report), "report.html": render_html(report),
        "metrics.prom": render_prometheus(report),
    }
    for host in HOSTS:
        expected["facts/%s.json" % host] = render_facts(host, hostvars[host], generated=summary["generated"])
    assert dict((name, read(report_dir / name).decode("utf-8")) for name in expected) == expected
    # the summary returned is results.json's, the one the role's later tasks read
    assert summary == report["summary"] == json.loads(expected["results.json"])["summary"]


def test_the_summary_counts_the_lab_run_and_the_host_that_left(first_run):
    summary = first_run["written"]["summary"]
    assert summary["headline"] == "FAIL: 11 fail, 1 error, 36 pass of 48 results on 4 hosts"
    assert summary["hosts"]["gone1"] == {"total": 2, "pass": 1, "fail": 0, "error": 1, "skip": 0, "status": "error", "reachable": False,
                                         "address": "10.231.127.14", "facts": "facts/gone1.json"}
    # its results are incomplete, and the one it recorded is there, its template rendered as Ansible renders it
    results = json.loads(read(first_run["dir"] / "results.json"))["results"]
    assert [(r["check"], r["status"], r["message"]) for r in results if r["host"] == "gone1"] == [
        ("listen", "pass", GONE1_MESSAGE), ("run", "error", "gone1: failed after some of its checks ran; its results are incomplete")]
    for host in LIVE:
        assert summary["hosts"][host] == dict(LAB["summary"]["hosts"][host]), host


def test_a_host_that_left_the_play_still_gets_its_facts_file(first_run):
    document = json.loads(read(first_run["dir"] / "facts" / "gone1.json"))
    with open(os.path.join(FIXTURES, "static", "facts-db1.json")) as handle:
        assert (document["host"], document["gathered"], document["facts"]) == ("gone1", True, json.load(handle))
    db1 = json.loads(read(first_run["dir"] / "facts" / "db1.json"))
    assert (db1["contract"], db1["generated"], db1["address"]) == (CONTRACT, first_run["written"]["summary"]["generated"], "10.231.127.13")


def test_files_are_0644_and_the_directories_made_0755_whatever_the_umask(first_run):
    found = snapshot(first_run["tmp"] / "out")
    modes = dict((path, mode) for path, (_inode, _mtime, mode) in found.items())
    directories = ["ci", "ci/portproof-report", "ci/portproof-report/facts"]
    assert dict((path, modes[path]) for path in directories) == dict((path, 0o755) for path in directories)
    assert set(mode for path, mode in modes.items() if path not in directories) == {0o644}
    # no temporary file is left behind
    assert not [path for path in found if os.path.basename(path).startswith(".")]


def test_the_action_reached_no_host(first_run):
    # run_once on app1, whose ssh command does not exist: no connection, so no remote temporary directory either
    assert "Write the report" in first_run["proc"].stdout
    assert "changed: [app1]" in first_run["proc"].stdout.split("TASK [Write the report]", 1)[1].split("TASK [", 1)[0]


# ------------------------------------------------------------------------------------------------ runs again
def test_check_mode_writes_nothing_and_says_it_would(tmp_path):
    _proc, written = play(tmp_path, "report", "--check")
    assert written["changed"] is True and not written.get("failed"), written
    assert written["files"][0] == str(tmp_path / "report" / "results.json")
    assert not (tmp_path / "report").exists()
    assert written["summary"]["total"] == 48


def test_a_second_run_rewrites_only_what_changed(tmp_path):
    _proc, first = play(tmp_path, "report")
    before = snapshot(tmp_path / "report")
    _proc, checked = play(tmp_path, "report", "--check")
    assert snapshot(tmp_path / "report") == before
    _proc, second = play(tmp_path, "report")
    after = snapshot(tmp_path / "report")
    # summary.md does not hold the time of the report: the same text, not rewritten (same inode and time)
    assert after["summary.md"] == before["summary.md"]
    # every other file holds it: rewritten (a new inode) when the second run is in another second, else left alone
    moved = first["summary"]["generated"] != second["summary"]["generated"]
    assert second["changed"] is moved
    assert checked["changed"] is (first["summary"]["generated"] != checked["summary"]["generated"])
    for name in ["results.json", "junit.xml", "report.html", "metrics.prom", "facts/db1.json"]:
        assert (after[name][0] != before[name][0]) is moved, name
    assert json.loads(read(tmp_path / "report" / "results.json"))["summary"] == second["summary"]


def test_dest_that_is_a_file_fails_naming_it(tmp_path):
    (tmp_path / "report").write_text("not a directory\n")
    proc, written = play(tmp_path, "report")
    path = str(tmp_path / "report")
    assert written["failed"] is True and written["changed"] is False
    assert written["msg"] == "cannot write the report to %s: it is not a directory (dest is the report directory)" % path
    assert "Traceback" not in proc.stdout + proc.stderr
    assert (tmp_path / "report").read_text() == "not a directory\n"


def test_a_report_file_that_cannot_be_replaced_fails_naming_it(tmp_path):
    (tmp_path / "report" / "junit.xml").mkdir(parents=True)
    proc, written = play(tmp_path, "report")
    path = str(tmp_path / "report" / "junit.xml")
    assert written["failed"] is True and written["path"] == path
    assert written["msg"] == "cannot write the report to %s: %s is not a regular file" % (tmp_path / "report", path)
    # the report is written whole or not at all: results.json, staged before, was not put in place
    assert written["changed"] is False and os.listdir(str(tmp_path / "report")) == ["junit.xml"]
    assert "Traceback" not in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------------ the writer itself
def test_write_file_leaves_an_unchanged_file_alone_and_fixes_its_mode(tmp_path):
    path = str(tmp_path / "f.txt")
    assert write_file(path, b"one\n") is True
    inode = os.stat(path).st_ino
    assert write_file(path, b"one\n") is False and os.stat(path).st_ino == inode
    os.chmod(path, 0o600)
    assert write_file(path, b"one\n", check_mode=True) is True and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert write_file(path, b"one\n") is True and stat.S_IMODE(os.stat(path).st_mode) == 0o644 and os.stat(path).st_ino == inode
    assert write_file(path, b"two\n", check_mode=True) is True and read(path) == b"one\n"
    assert write_file(path, b"two\n") is True and read(path) == b"two\n" and os.stat(path).st_ino != inode
    assert os.listdir(str(tmp_path)) == ["f.txt"]


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"), reason="needs root to run the writer as nobody")
def test_permission_denied_is_named():
    """The writer run as nobody (setpriv) on a report directory of root's: the path and the system's reason."""
    import tempfile  # pylint: disable=import-outside-toplevel
    top = tempfile.mkdtemp(prefix="portproof-denied-")
    try:
        os.chmod(top, 0o755)
        os.mkdir(os.path.join(top, "report"), 0o755)
        home = os.path.join(top, "home")  # nobody's, for Ansible's local temporary directory
        os.mkdir(home, 0o700)
        os.chown(home, 65534, 65534)
        collections = os.path.join(REPO, ".build", "collections")
        link = os.path.join(collections, "ansible_collections", "portproof", "validate")
        if not os.path.islink(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.relpath(REPO, os.path.dirname(link)), link)
        code = ("import sys\n"
                "from ansible_collections.portproof.validate.plugins.action.report_write import ReportWriteError, write_report\n"
                "try:\n    write_report(sys.argv[1], [('results.json', '{}\\n')])\n"
                "except ReportWriteError as err:\n    print(err)\n")
        proc = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                               os.path.join(top, "report")], capture_output=True, text=True, check=False, timeout=60,
                              env=dict(os.environ, PYTHONPATH=collections, HOME=home, ANSIBLE_HOME=os.path.join(home, ".ansible"),
                                       ANSIBLE_LOCAL_TEMP=os.path.join(home, "tmp")))
        assert proc.stdout == "%s/report/results.json cannot be written: Permission denied\n" % top, proc.stdout + proc.stderr
        assert os.listdir(os.path.join(top, "report")) == []
    finally:
        subprocess.run(["rm", "-rf", top], check=True)


@pytest.mark.parametrize("relative", ["../x.json", "facts/../../x.json", "/etc/x.json"])
def test_a_path_outside_the_report_directory_is_refused(tmp_path, relative):
    report_dir = str(tmp_path / "report")
    with pytest.raises(ReportWriteError) as caught:
        inside(report_dir, relative)
    outside = os.path.normpath(os.path.join(report_dir, relative))
    assert str(caught.value) == "%s is outside the report directory (from %r)" % (outside, relative)
    # nothing is written when one path is outside: the paths are checked first
    with pytest.raises(ReportWriteError):
        write_report(report_dir, [("results.json", "{}\n"), (relative, "{}\n")])
    assert not os.path.exists(report_dir)


def test_a_directory_in_the_way_is_named(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "facts").write_text("")
    with pytest.raises(ReportWriteError) as caught:
        write_report(str(tmp_path / "report"), [("facts/h.json", "{}\n")])
    assert str(caught.value) == "%s is not a directory" % (tmp_path / "report" / "facts")


# ------------------------------------------------------------------------------------------------ documentation
def test_argument_spec_matches_documentation():
    doc = yaml.safe_load(report_write_doc.DOCUMENTATION)
    spec_of = report_write.ActionModule.ARGUMENT_SPEC
    assert set(doc["options"]) == set(spec_of)
    for name, spec in spec_of.items():
        assert (doc["options"][name]["type"], bool(doc["options"][name].get("required"))) == (spec["type"], spec["required"]), name
    assert doc["version_added"] == "0.1.0"
    # the action attribute comes from the fragment controller_step (no module runs on a host)
    assert "portproof.validate.controller_step" in doc["extends_documentation_fragment"]
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert set(yaml.safe_load(report_write_doc.RETURN)) == {"summary", "files", "console"}
    # the action's renderers are the report filters' (the file names of the report)
    assert [name for name, _render in report_write.RENDERERS] == REPORT_FILES


@pytest.mark.parametrize("made", ["directory", "file"])
def test_a_directory_another_writer_makes_meanwhile_is_used_and_a_file_is_refused(tmp_path, monkeypatch, made):
    """The steps of the play's hosts write into one directory at once (baseline_save runs for each host): the directory
    may appear between the check and the mkdir. The other writer is played here by a real mkdir (or a real file) made
    just before this writer's own mkdir."""
    target = tmp_path / "portproof-baseline"
    real_mkdir = os.mkdir

    def other_writer_first(path, mode=0o777):
        if str(path) == str(target) and not os.path.lexists(path):
            if made == "directory":
                real_mkdir(path, 0o755)
            else:
                open(path, "w").close()
        return real_mkdir(path, mode)

    monkeypatch.setattr(report_write.os, "mkdir", other_writer_first)
    if made == "directory":
        changed, _paths = write_report(str(target), [("app1.json", b"{}")], False)
        assert changed and (target / "app1.json").read_bytes() == b"{}"
    else:
        with pytest.raises(ReportWriteError) as info:
            write_report(str(target), [("app1.json", b"{}")], False)
        assert (info.value.path, info.value.reason) == (str(target), "is not a directory")
