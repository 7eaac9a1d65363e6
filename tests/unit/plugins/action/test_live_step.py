# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The live step (roles/validate/tasks/live.yml over the actions live_plan, live_probe and live_record), run by a
real ansible-playbook against a real HTTP server and a closed port on 127.0.0.1.

Every host uses the local connection, so the probes really run (port_probe on this machine, from each source in
the play, delegated for the controller and for out1, which is not in the play). tgt1 is the target (127.0.0.1):
api (HTTP with a secret header, put under load) and closed (a bound port that does not listen). gone1 leaves the
play before the live step. The play runs two steps, as the reachability and endpoints roles do: the second reuses
the first one's probe run. The HTTP server counts the requests, so a second probe run would show.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading

import pytest
import yaml

BIN = os.path.dirname(sys.executable)
SECRET = "pplive-unit-secret-token"
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}

PLAYBOOK = [{
    "name": "Two live steps",
    "hosts": "app1:web1:tgt1:gone1",
    "gather_facts": False,
    "tasks": [
        {"name": "A host leaves the play", "ansible.builtin.fail": {"msg": "leaves the play"}, "when": "inventory_hostname == 'gone1'"},
        {"name": "Reach and isolation", "ansible.builtin.include_role": {"name": "portproof.validate.validate", "tasks_from": "live"},
         "vars": {"portproof_live_kinds": ["reach", "isolation"]}},
        {"name": "Count the requests after the first step", "ansible.builtin.uri": {"url": "{{ counter_url }}", "return_content": True},
         "register": "after_first", "run_once": True, "delegate_to": "localhost"},
        {"name": "Response, tls and load", "ansible.builtin.include_role": {"name": "portproof.validate.validate", "tasks_from": "live"},
         "vars": {"portproof_live_kinds": ["response", "tls", "load"]}},
        {"name": "Save what each host recorded", "run_once": True, "delegate_to": "localhost",
         # one expression: ansible-core before 2.19 would render the parts of a dict of templates as text
         "ansible.builtin.copy": {"dest": "{{ result_file }}", "mode": "0644", "content": (
             "{{ {'requests_after_first': after_first.content | from_json,"
             " 'hosts': dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars) | map('dict2items')"
             " | map('selectattr', 'key', 'in', ['portproof_results', 'portproof_live_last', 'portproof_lost']) | map('items2dict')))}"
             " | to_json }}")}},
    ],
}]


class Server(object):
    """An HTTP server on 127.0.0.1 that answers /health with {"status": "ok"} and counts the requests (with the
    Authorization header each carried); /count answers the count so far (not counted)."""

    def __init__(self):
        self.seen = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the name http.server calls)
                if self.path == "/count":
                    body = json.dumps(len(server.seen)).encode()
                else:
                    server.seen.append((self.path, self.headers.get("Authorization")))
                    body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def lab():
    server = Server()
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))  # bound, never listening: a connection to it is refused
    try:
        yield {"server": server, "closed": closed.getsockname()[1]}
    finally:
        closed.close()
        server.close()


def inventory(lab):
    services = [
        {"name": "api", "port": lab["server"].port, "allow_from": ["app1", "controller", "out1"],
         "check": {"http": {"path": "/health", "headers": {"Authorization": "Bearer " + SECRET}, "json_query": "status == 'ok'"},
                   "load": {"requests": 4, "concurrency": 2}}},
        {"name": "closed", "port": lab["closed"], "allow_from": ["gone1"], "deny_from": ["web1"]},
    ]
    hosts = dict((name, dict(LOCAL)) for name in ("app1", "web1", "tgt1", "gone1", "out1"))
    hosts["tgt1"].update(ansible_host="127.0.0.1", portproof_services=services, portproof_probe_timeout=3)
    return {"all": {"hosts": hosts}}


def ansible_env(tmp_path):
    import ansible_collections.portproof.validate as collection  # pylint: disable=import-outside-toplevel
    root = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=root, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_CACHE_PLUGIN="ansible.builtin.memory", ANSIBLE_RETRY_FILES_ENABLED="false")
    env.pop("ANSIBLE_CONFIG", None)
    return env


def play(lab, tmp_path, *argv):
    """Run the play from TMP_PATH; (process, what the hosts recorded, the requests the server saw)."""
    with open(tmp_path / "inventory.yml", "w") as handle:
        yaml.safe_dump(inventory(lab), handle, sort_keys=False)
    with open(tmp_path / "play.yml", "w") as handle:
        yaml.safe_dump(PLAYBOOK, handle, sort_keys=False)
    result_file = tmp_path / "recorded.json"
    extra = {"result_file": str(result_file), "counter_url": "http://127.0.0.1:%d/count" % lab["server"].port}
    before = len(lab["server"].seen)
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory.yml", "play.yml", "-e", json.dumps(extra)] + list(argv),
                          cwd=str(tmp_path), env=ansible_env(tmp_path), capture_output=True, text=True, check=False, timeout=600)
    # gone1 failed (it left the play): exit status 2, every other host fine
    assert proc.returncode == 2 and result_file.exists(), proc.stdout[-6000:] + proc.stderr[-3000:]
    assert re.search(r"^gone1 +: ok=0 +changed=0 +unreachable=0 +failed=1 ", proc.stdout, re.M), proc.stdout[-3000:]
    with open(result_file) as handle:
        saved = json.load(handle)
    saved["requests_after_first"] -= before
    return proc, saved, lab["server"].seen[before:]


def table(results):
    return sorted((r["host"], r["service"], r["check"], r["status"], r["source"]) for r in results)


def task_blocks(stdout):
    """{task name: its output} of every TASK of the run (a name seen twice: both outputs joined)."""
    blocks = {}
    for part in stdout.split("\nTASK [")[1:]:
        name, _sep, body = part.partition("]")
        name = name.split("portproof.validate.validate : ", 1)[-1]  # the role's tasks carry its name
        blocks[name] = blocks.get(name, "") + body.split("\nPLAY RECAP", 1)[0]
    return blocks


HOST_LINE = re.compile(r"^(?:ok|changed|skipping|fatal|failed): \[", re.M)
LIVE_TASKS = ["Plan the live probes of the play, grouped by source", "Show which source probes how many targets",
              "Probe from the controller and from the sources outside the play", "Probe every planned target of each source in the play, in one task",
              "Interpret what every source returned", "Record the live check results (reach, isolation)",
              "Record the live check results (response, tls, load)"]


@pytest.fixture(scope="module")
def verbose_run(lab, tmp_path_factory):
    return play(lab, tmp_path_factory.mktemp("live-v"), "-v")


def test_each_host_records_the_results_of_its_probes_and_the_first_host_those_of_the_others(verbose_run):
    _proc, saved, _seen = verbose_run
    hosts = saved["hosts"]
    assert sorted(hosts) == ["app1", "tgt1", "web1"]
    assert table(hosts["app1"]["portproof_results"]) == [
        ("tgt1", "api", "load", "pass", "app1"), ("tgt1", "api", "reach", "pass", "app1"), ("tgt1", "api", "reach", "pass", "controller"),
        ("tgt1", "api", "reach", "pass", "out1"), ("tgt1", "api", "response", "pass", "app1"), ("tgt1", "api", "response", "pass", "controller"),
        ("tgt1", "api", "response", "pass", "out1"), ("tgt1", "closed", "reach", "error", "gone1")]
    assert table(hosts["web1"]["portproof_results"]) == [("tgt1", "closed", "isolation", "pass", "web1")]
    assert hosts["tgt1"]["portproof_results"] == []
    # the second step's results only, in portproof_live_last
    assert {r["check"] for r in hosts["app1"]["portproof_live_last"]} == {"response", "load"}
    assert hosts["web1"]["portproof_live_last"] == []
    # no host was lost (ansible-core before 2.19 stores the None that set_fact is given as an empty string)
    assert [hosts[host]["portproof_lost"] for host in ("app1", "tgt1", "web1")] in ([None, None, None], ["", "", ""])
    (gone1,) = [r for r in hosts["app1"]["portproof_results"] if r["source"] == "gone1"]
    assert re.match(r"closed: gone1 could not probe 127\.0\.0\.1:\d+/tcp: the source left the play before the plan was made "
                    r"\(unreachable or failed\)$", gone1["message"]), gone1["message"]
    (web1,) = hosts["web1"]["portproof_results"]
    assert re.match(r"closed: web1 is kept out of 127\.0\.0\.1:\d+/tcp: refused \(Connection refused \(ECONNREFUSED\)\)$", web1["message"])


def test_the_second_step_reuses_the_probe_run_of_the_first(verbose_run):
    proc, saved, seen = verbose_run
    # the first step: one request from each source (app1, the controller, out1), with the secret header
    assert saved["requests_after_first"] == 3
    # the second step: the load run only (a first probe, then its 4 requests), from app1
    assert len(seen) == 3 + 1 + 4
    assert seen == [("/health", "Bearer " + SECRET)] * 8
    # the summary is shown once, by the step that probed
    assert re.findall(r'"msg": "(live probes of the play: .*)"', proc.stdout) == [
        "live probes of the play: 5 probes from 5 sources (one port_probe task each): app1 1, controller 1 (delegated to localhost), "
        "gone1 1 (left the play), out1 1 (delegated to out1), web1 1"]


def test_at_verbosity_1_no_task_of_the_live_step_prints_more_than_1_kb_for_a_host(verbose_run):
    proc, _saved, _seen = verbose_run
    blocks = task_blocks(proc.stdout)
    for name in LIVE_TASKS:
        assert name in blocks, sorted(blocks)
        starts = [match.start() for match in HOST_LINE.finditer(blocks[name])] + [len(blocks[name])]
        chunks = [blocks[name][start:end] for start, end in zip(starts, starts[1:])]
        assert chunks, (name, blocks[name])
        too_long = [chunk[:300] for chunk in chunks if len(chunk) > 1024]
        assert too_long == [], (name, [len(chunk) for chunk in chunks], too_long)
    # the probe task says which host probed, not what it saw
    # (the first step: app1 and web1 probe; the second: app1 puts api under load; tgt1 only is a target)
    probing = blocks["Probe every planned target of each source in the play, in one task"]
    assert sorted(re.findall(r"^ok: \[\w+\].*$", probing, re.M)) == ["ok: [app1]", "ok: [app1]", "ok: [web1]"]
    assert sorted(re.findall(r"^skipping: \[(\w+)\]", probing, re.M)) == ["tgt1", "tgt1", "web1"]
    assert SECRET not in proc.stdout + proc.stderr


def test_a_source_outside_the_limit_is_not_probed_and_nothing_secret_prints_even_at_verbosity_3(lab, tmp_path):
    proc, saved, seen = play(lab, tmp_path, "-vvv", "--limit", "app1:web1:tgt1:gone1")
    assert SECRET not in proc.stdout + proc.stderr
    assert len(seen) == 2 + 1 + 4  # app1 and the controller, then the load run; not out1
    assert "out1 1 (outside --limit, not probed)" in proc.stdout
    (out1,) = [r for r in saved["hosts"]["app1"]["portproof_results"] if r["source"] == "out1" and r["check"] == "reach"]
    assert out1["status"] == "skip"
    assert re.match(r"api: not probed from out1 at 127\.0\.0\.1:\d+/tcp: out1 is outside the --limit of this run "
                    r"\(app1:web1:tgt1:gone1\), so it does not probe$", out1["message"]), out1["message"]
