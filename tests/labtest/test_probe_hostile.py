# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile services and contracts against the live probes, on real lab hosts.

- A service that echoes its request (the lab's ``echo`` behaviour: the request head as the body)
  sends back the basic-auth header, the cookie and the bearer token the contract makes the probe
  send. After a real ``post_deploy`` run with ``-vvv`` and a playbook log, no output holds any
  form of them (the values, base64(user:password), the header lines), and the masked answer is
  there: the secrets were sent and came back.
- A link-local address (169.254.77.7, on the target host's link inside the lab; never a metadata
  address) is refused as a probe target unless ``allow_link_local`` opts in.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env, module_result  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

MARKER = "PPECHO%s" % secrets.token_hex(6)
TOKEN = "Bearer %s-bearer" % MARKER
COOKIE = "theme=dark; sid=%s-cookie" % MARKER
PASSWORD = "%s-password" % MARKER
BASIC_TOKEN = base64.b64encode(("probe:" + PASSWORD).encode()).decode()
# every form that must not appear anywhere (BASIC_TOKEN holds no MARKER: it is searched for itself)
FORMS = [MARKER, BASIC_TOKEN, BASIC_TOKEN[:16], "probe:" + PASSWORD[:6]]
LINK_LOCAL = "169.254.77.7"

SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"], "addresses": ["169.254.77.8/16"]},
    {"name": "web1", "groups": ["web"], "addresses": [LINK_LOCAL + "/16"],
     "services": [
         {"name": "api", "listen": ["tcp:0.0.0.0:8080"], "behavior": "echo",
          "require_headers": {"Authorization": "Basic " + BASIC_TOKEN, "X-Api-Token": TOKEN, "Cookie": COOKIE}},
         {"name": "meta", "listen": ["tcp:0.0.0.0:8090"], "behavior": "http", "body": "instance credentials"}],
     "vars": {"portproof_services": [
         # the controller probes too: its port_probe runs through the action plugin on the controller
         {"name": "api", "port": 8080, "process": "api", "allow_from": ["app", "controller"],
          "check": {"http": {"path": "/echo", "status": 200, "body": "(?i)x-api-token",
                             # given here, User-Agent and Accept are not sent before the credentials: the
                             # echoed Authorization line falls within the 120 characters of `actual`
                             "headers": {"X-Api-Token": TOKEN, "Cookie": COOKIE, "User-Agent": "portproof-lab", "Accept": "*/*"},
                             "basic_auth": {"user": "probe", "password": PASSWORD}}}},
         {"name": "meta", "port": 8090, "process": "meta", "allow_from": ["app"], "check": {"load": {"requests": 20, "concurrency": 2}}},
     ]}},
]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(SPEC, str(tmp_path_factory.mktemp("lab") / "lab")) as built:
        yield built


def post_deploy(lab, out, *extra):
    env = ansible_env(lab, ANSIBLE_LOG_PATH=str(out / "ansible.log"))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-vvv", "-i", lab.inventory,
                           "portproof.validate.post_deploy", "-e", "portproof_report_dir=%s" % (out / "report"),
                           # the lab hosts share the machine's processes: read only their own network namespace
                           "-e", "portproof_namespaces=host"] + list(extra),
                          env=env, capture_output=True, text=True, check=False, cwd=str(out), timeout=300)
    (out / "stdout.txt").write_text(proc.stdout + proc.stderr)
    return {"proc": proc, "dir": out}


def results(run):
    with open(run["dir"] / "report" / "results.json") as handle:
        return json.load(handle)["results"]


@pytest.fixture(scope="module")
def run(lab, tmp_path_factory):
    return post_deploy(lab, tmp_path_factory.mktemp("run"))


def test_the_echoing_service_got_the_secrets_and_its_answer_is_checked(run):
    assert run["proc"].returncode == 0, run["proc"].stdout[-5000:]
    responses = dict((r["source"], r) for r in results(run) if (r["host"], r["service"], r["check"]) == ("web1", "api", "response"))
    assert sorted(responses) == ["app1", "controller"]
    for response in responses.values():
        # 200 only when the token, the cookie and the basic-auth header all arrived; the body is the request head
        assert response["status"] == "pass"
        assert response["actual"].startswith("http_status: 200; http_body: GET /echo HTTP/1.1\r\nHost: ")
        assert "\r\nAuthorization: ********\r\n" in response["actual"]
    # the echo came back and was masked: the 256 characters of body_excerpt that -vvv prints reach the secrets
    stdout = (run["dir"] / "stdout.txt").read_text()
    for line in ("Authorization: ********", "X-Api-Token: ********", "Cookie: ********"):
        assert line.replace("\r", "") in stdout.replace("\\r\\n", "\n"), line


def test_no_form_of_a_secret_in_any_output(run):
    searched, leaks = [], []
    for root, _dirs, files in os.walk(run["dir"]):
        for name in files:
            path = os.path.join(root, name)
            searched.append(os.path.relpath(path, str(run["dir"])))
            with open(path, "rb") as handle:
                data = handle.read()
            leaks.extend((os.path.relpath(path, str(run["dir"])), form) for form in FORMS if form.encode() in data)
    assert {"ansible.log", "stdout.txt", "report/results.json", "report/junit.xml", "report/summary.md",
            "report/report.html", "report/facts/web1.json"} <= set(searched)
    # -vvv: the port_probe results, with the echoed body, are in the log and on stdout
    for name in ("ansible.log", "stdout.txt"):
        assert '"body_excerpt": "GET /echo HTTP/1.1' in (run["dir"] / name).read_text(), name
    assert leaks == [], leaks
    print("searched %d files, %d bytes" % (len(searched), sum(os.path.getsize(os.path.join(str(run["dir"]), name)) for name in searched)))


def test_a_link_local_target_is_refused_without_the_opt_in(lab):
    args = json.dumps({"targets": [{"host": LINK_LOCAL, "port": 8090, "http": {"path": "/"}, "timeout": 3}]})
    result = module_result(lab, "app1", "portproof.validate.port_probe", args)
    (probe,) = result["probes"]
    assert (probe["state"], probe["connected"], probe["resolved"]) == ("error", False, LINK_LOCAL)
    assert probe["reason"] == ("refused to probe 169.254.77.7: it is a link-local address (169.254.0.0/16), outside the fleet; "
                               "set allow_link_local: true on port_probe (role variable portproof_probe_allow_link_local) to probe it")
    assert result["ok"] is False


def test_the_opt_in_probes_the_link_local_address(lab):
    args = json.dumps({"targets": [{"host": LINK_LOCAL, "port": 8090, "http": {"path": "/", "body": "credentials"}, "timeout": 3}],
                       "allow_link_local": True})
    result = module_result(lab, "app1", "portproof.validate.port_probe", args)
    (probe,) = result["probes"]
    assert (probe["state"], probe["ok"], probe["http"]["status"], probe["http"]["body_excerpt"]) == (
        "open", True, 200, "instance credentials")


def test_the_load_runs_within_the_default_caps(run):
    (load,) = [r for r in results(run) if r["check"] == "load"]
    assert (load["service"], load["source"], load["status"]) == ("meta", "app1", "pass")
    assert load["message"].startswith("meta from app1 at ") and ":8090/tcp: 20 requests, 2 in flight, 0 failed, p50 " in load["message"]


def test_a_load_over_the_cap_given_on_the_command_line_is_an_error_naming_it(lab, tmp_path):
    capped = post_deploy(lab, tmp_path, "-e", "portproof_load_max_requests=10")
    assert capped["proc"].returncode == 2, capped["proc"].stdout[-3000:]
    (load,) = [r for r in results(capped) if r["check"] == "load"]
    assert (load["service"], load["source"], load["status"]) == ("meta", "app1", "error")
    assert load["message"] == ("meta: app1 could not put %s:8090/tcp under load: port_probe failed: load: requests 20 is over the cap "
                               "of 10 (load.max_requests, role variable portproof_load_max_requests); raise the cap to run it"
                               % lab.address("web1"))
    # nothing else changed: every other check of the run still passes
    assert sorted({r["status"] for r in results(capped) if r["check"] != "load"}) == ["pass"]
