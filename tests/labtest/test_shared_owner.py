# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The owner of a shared socket after a reload across a pid wrap: a real nginx, master and workers.

The lab host's sshd runs in a PID namespace of its own whose pids wrap at 400 (``pid_max``).
nginx starts (master as root, two workers as nobody), ``portproof.validate.baseline`` saves the
host's state, pids are used up until they wrap below the master's, ``nginx -s reload`` forks new
workers (now with lower pids than the master), and ``portproof.validate.post_deploy`` runs. The
contract declares ``process: nginx``, ``user: root``: the ``process`` check and ``drift`` pass,
and the facts name the master as the owner, the workers in ``shared_with``.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.skipif(not os.path.exists("/usr/sbin/nginx"), reason="needs nginx (Debian package)")]

PORT = 8088
CONF = """user nobody nogroup;
worker_processes 2;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    server { listen %(port)d; return 200 "ok\\n"; }
}
"""
CONTRACT = [{"name": "nginx", "port": PORT, "process": "nginx", "user": "root"}]
# Uses up pids until they are close below pid_max, so that the master gets a high pid (bounded).
HIGH = ("i=0; while [ $i -lt 2000 ]; do p=$(sh -c 'echo $$'); [ \"$p\" -ge 360 ] && [ \"$p\" -le 380 ] && exit 0; "
        "i=$((i+1)); done; echo no pid near 370 >&2; exit 1")
# In one session (a new SSH session uses up pids of its own): uses up pids until they wrap well
# below the master's (bounded), reloads, then waits (bounded) until every worker is a new one.
RELOAD = ("m=$(cat %(dir)s/nginx.pid); i=0; while [ $i -lt 2000 ]; do p=$(sh -c 'echo $$'); [ \"$p\" -lt $((m - 10)) ] && break; "
          "i=$((i+1)); done; /usr/sbin/nginx -c %(dir)s/nginx.conf -p %(dir)s -s reload; i=0; "
          "while [ $i -lt 100 ]; do w=$(pgrep -P $m | sort -n | tr '\\n' ' '); ok=1; n=0; for p in $w; do n=$((n+1)); "
          "[ $p -lt $m ] || ok=0; done; [ $ok = 1 ] && [ $n = 2 ] && echo \"$m $w\" && exit 0; sleep 0.1; i=$((i+1)); done; "
          "echo workers not replaced: $w >&2; exit 1")


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def lab(tmp):
    spec = {"hosts": [{"name": "web1", "sshd": {"pid_max": 400}, "vars": {"portproof_services": CONTRACT}}]}
    with Lab(spec, str(tmp / "lab")) as built:
        yield built


def playbook(lab, name, tmp, *extra):
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, name,
                           "-e", "portproof_baseline_dir=%s" % (tmp / "baseline")] + list(extra),
                          env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=300)
    (tmp / ("%s.txt" % name.rsplit(".", 1)[1])).write_text(proc.stdout + proc.stderr)
    return proc


@pytest.fixture(scope="module")
def run(lab, tmp):
    nginx = tmp / "nginx"
    nginx.mkdir()
    os.chmod(str(tmp), 0o755)
    os.chmod(str(nginx), 0o755)
    values = {"dir": str(nginx), "port": PORT}
    (nginx / "nginx.conf").write_text(CONF % values)
    lab.ssh("web1", HIGH)
    lab.ssh("web1", "/usr/sbin/nginx -c %(dir)s/nginx.conf -p %(dir)s" % values)
    baseline = playbook(lab, "portproof.validate.baseline", tmp)
    assert baseline.returncode == 0, baseline.stdout[-4000:]
    master, *workers = [int(pid) for pid in lab.ssh("web1", RELOAD % values).stdout.split()]
    report = tmp / "report"
    proc = playbook(lab, "portproof.validate.post_deploy", tmp, "-e", "portproof_report_dir=%s" % report)
    with open(report / "results.json") as handle:
        results = json.load(handle)["results"]
    with open(report / "facts" / "web1.json") as handle:
        facts = json.load(handle)["facts"]
    return {"proc": proc, "results": results, "facts": facts, "master": master, "workers": workers}


def test_the_workers_have_lower_pids_than_the_master(run):
    assert len(run["workers"]) == 2 and all(pid < run["master"] for pid in run["workers"]), run


def test_the_master_is_the_owner_and_the_workers_share_the_socket(run):
    found = [i for i in run["facts"]["listeners"] if i["port"] == PORT and i["netns"] == "host"]
    assert [(i["pid"], i["process"], i["user"]) for i in found] == [(run["master"], "nginx", "root")], found
    assert [(h["pid"], h["process"], h["user"]) for h in found[0]["shared_with"]] == \
        [(pid, "nginx", "nobody") for pid in run["workers"]]


def test_process_and_drift_pass(run):
    rows = [(r["check"], r["status"], r["message"]) for r in run["results"] if r["service"] == "nginx"
            and r["check"] in ("process", "drift")]
    assert [(check, status) for check, status, _message in rows] == [("process", "pass"), ("drift", "pass")], rows
    assert run["proc"].returncode == 0, run["proc"].stdout[-4000:]
