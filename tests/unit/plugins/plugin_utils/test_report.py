# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report: collecting every host's results, and each file's text, checked with real validators.

Input: the results of a real post_deploy run on the lab of the molecule scenario "report" after
its faults were planted (fixtures/report/results-lab.json, made by fixtures/drift/capture.py),
and hand-made results with hostile strings.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
from xml.etree import ElementTree

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._report_html import COLOURS, render_html
from ansible_collections.portproof.validate.plugins.plugin_utils._report_json import render_facts, render_json
from ansible_collections.portproof.validate.plugins.plugin_utils._report_junit import render_junit
from ansible_collections.portproof.validate.plugins.plugin_utils._report_markdown import render_markdown
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import INCOMPLETE, UNREACHABLE, collect, evidence_name, matrix
from ansible_collections.portproof.validate.plugins.plugin_utils._report_prometheus import render_prometheus

from .report_checks import CheckError, check_junit, check_results_json, parse_prometheus

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "report")
with open(os.path.join(FIXTURES, "results-lab.json")) as _handle:
    LAB = json.load(_handle)
HOSTS = list(LAB["summary"]["hosts"])
GENERATED = "2026-01-02T03:04:05Z"
HOSTILE = '<script>alert(1)</script> "q" \'a\' & <img src=x onerror=alert(2)> | `x` *b* [l](javascript:alert(3)) ]]> \x00\x1b \n\tend'


def lab_hostvars():
    """The hostvars the report role sees: each host's own portproof_results (as recorded) and address."""
    hostvars = dict((host, {"portproof_results": [], "ansible_host": LAB["summary"]["hosts"][host]["address"]}) for host in HOSTS)
    for item in LAB["results"]:
        recorded = dict(item)
        del recorded["recorded_on"]
        hostvars[item["recorded_on"]]["portproof_results"].append(recorded)
    return hostvars


def lab_report():
    return collect(lab_hostvars(), HOSTS, HOSTS, generated=GENERATED, report_dir="/srv/ci/portproof-report")


def result(host, service, check, status, source=None, message="m", **extra):
    item = {"host": host, "service": service, "check": check, "status": status, "source": source, "message": message,
            "expected": "e", "actual": "a"}
    item.update(extra)
    return item


def hostile_report():
    results = [
        result("web1", HOSTILE, "reach", "fail", source=HOSTILE, message=HOSTILE, latency_ms=2.5, expected=HOSTILE, actual={"k": HOSTILE}),
        result("web1", "http", "listen", "pass", message=HOSTILE),
        result("web1", "http", "tls", "skip", source="app1", message=HOSTILE),
        result("web1", "http", "response", "error", source="app1", message=HOSTILE),
    ]
    return collect({"web1": {"portproof_results": results, "ansible_host": HOSTILE}}, ["web1"], ["web1"], generated=GENERATED,
                   report_dir=HOSTILE)


# ------------------------------------------------------------------------------------------- collect
def test_collect_reproduces_the_lab_run():
    report = lab_report()
    assert report["results"] == LAB["results"]
    expected = dict(LAB["summary"], generated=GENERATED, report_dir="/srv/ci/portproof-report")
    assert report["summary"] == expected
    assert report["summary"]["headline"] == "FAIL: 11 fail, 35 pass of 46 results on 3 hosts"


def test_collect_groups_results_by_target_host_not_by_recorder():
    report = lab_report()
    reach = [item for item in report["results"] if item["host"] == "db1" and item["check"] == "reach"]
    assert [(item["source"], item["recorded_on"], item["status"]) for item in reach] == [("app1", "app1", "fail")]
    assert report["summary"]["hosts"]["db1"] == {"total": 14, "pass": 7, "fail": 7, "error": 0, "skip": 0, "status": "fail",
                                                 "reachable": True, "address": LAB["summary"]["hosts"]["db1"]["address"],
                                                 "facts": "facts/db1.json"}


def test_collect_orders_each_host_by_service_then_check_kind():
    report = collect({"h": {"portproof_results": [
        result("h", None, "undeclared", "pass"), result("h", "b", "drift", "pass"), result("h", "a", "reach", "pass", "x"),
        result("h", "b", "listen", "pass"), result("h", "a", "listen", "fail"), result("h", "a", "reach", "pass", "w")]}}, ["h"], ["h"])
    assert [(item["service"], item["check"], item["source"]) for item in report["results"]] == [
        ("b", "listen", None), ("b", "drift", None), ("a", "listen", None), ("a", "reach", "x"), ("a", "reach", "w"), (None, "undeclared", None)]


@pytest.mark.parametrize("recorded, message", [([], "gone1: " + UNREACHABLE), ([result("gone1", "s", "listen", "pass")], "gone1: " + INCOMPLETE)])
def test_a_host_that_left_the_play_is_an_error(recorded, message):
    hostvars = {"ok1": {"portproof_results": [result("ok1", "s", "listen", "pass")]}, "gone1": {"portproof_results": recorded}}
    report = collect(hostvars, ["ok1", "gone1"], ["ok1"])
    errors = [item for item in report["results"] if item["status"] == "error"]
    assert [(item["host"], item["check"], item["message"]) for item in errors] == [("gone1", "run", message)]
    assert report["summary"]["status"] == "error"
    assert report["summary"]["hosts"]["gone1"]["reachable"] is False
    assert report["summary"]["hosts"]["ok1"]["status"] == "pass"


def test_a_host_lost_during_the_live_checks_is_an_error_and_not_reachable():
    hostvars = {"ok1": {"portproof_results": [result("ok1", "s", "listen", "pass")]},
                "gone1": {"portproof_results": [result("gone1", "s", "listen", "pass")],
                          "portproof_lost": "Failed to connect to the host via ssh: Connection timed out"}}
    report = collect(hostvars, ["ok1", "gone1"], ["ok1", "gone1"])
    errors = [(item["host"], item["check"], item["message"]) for item in report["results"] if item["status"] == "error"]
    assert errors == [("gone1", "run", "gone1: became unreachable during the run (its later checks did not run): "
                       "Failed to connect to the host via ssh: Connection timed out")]
    assert report["summary"]["hosts"]["gone1"]["reachable"] is False
    assert report["summary"]["hosts"]["ok1"]["reachable"] is True


def test_a_host_never_reached_has_no_variables_at_all():
    report = collect({"gone1": {}}, ["gone1"], [])
    assert [(item["host"], item["status"], item["message"]) for item in report["results"]] == [("gone1", "error", "gone1: " + UNREACHABLE)]


def test_a_malformed_result_becomes_an_error_naming_its_recorder():
    report = collect({"h": {"portproof_results": [{"host": "h", "check": "listen", "status": "maybe"}, "junk"]}}, ["h"], ["h"])
    assert [(item["host"], item["check"], item["status"]) for item in report["results"]] == [("h", "report", "error")] * 2
    assert report["results"][0]["message"].startswith("h recorded a malformed result (needs host, check and status pass|fail|error|skip)")


def test_results_about_hosts_outside_the_play_come_last():
    report = collect({"a": {"portproof_results": [result("zz", "s", "reach", "pass", "a"), result("a", "s", "listen", "pass")]}}, ["a"], ["a"])
    assert [item["host"] for item in report["results"]] == ["a", "zz"]
    assert report["summary"]["hosts"]["zz"]["reachable"] is None and report["summary"]["hosts"]["zz"]["facts"] is None


def test_skips_alone_pass_and_an_empty_run_passes():
    assert collect({"h": {"portproof_results": [result("h", "s", "tls", "skip")]}}, ["h"], ["h"])["summary"]["status"] == "pass"
    empty = collect({"h": {}}, ["h"], ["h"])
    assert (empty["summary"]["status"], empty["summary"]["total"], empty["summary"]["headline"]) == (
        "pass", 0, "PASS: no results of 0 results on 1 hosts")


def test_facts_file_names_cannot_leave_the_report_directory():
    report = collect({"../../etc/x y": {}}, ["../../etc/x y"], ["../../etc/x y"])
    assert report["summary"]["hosts"]["../../etc/x y"]["facts"] == "facts/..%2F..%2Fetc%2Fx%20y.json"


@pytest.mark.parametrize("host, name", [
    ("db1.example.com", "db1.example.com"), ("src_1", "src_1"), ("src@1", "src%401"), ("src%401", "src%25401"),
    ("web-1", "web-1"), ("..", "%2E%2E"), (".", "%2E"), ("h\u00f6st", "h%C3%B6st"),
    ("a" * 250, "a" * 183 + "~" + hashlib.sha256(b"a" * 250).hexdigest()[:16])])
def test_evidence_file_names_are_readable_and_distinct(host, name):
    assert evidence_name(host) == name and len(name) <= 200


def test_hosts_that_shared_a_file_name_have_their_own():
    hosts = ["src@1", "src_1", "src 1", "src%401"]
    report = collect(dict((host, {}) for host in hosts), hosts, hosts)
    assert [report["summary"]["hosts"][host]["facts"] for host in hosts] == [
        "facts/src%401.json", "facts/src_1.json", "facts/src%201.json", "facts/src%25401.json"]


# -------------------------------------------------------------------------------------------- matrix
def test_matrix_of_the_lab_run():
    grid = matrix(lab_report()["results"])
    assert grid["sources"] == ["app1", "db1", "web1", "controller"]
    assert grid["targets"] == ["app1/api", "app1/statsd", "db1/postgres", "web1/http", "web1/static"]
    cells = dict(((source, target), (cell["kind"], cell["expect"], cell["status"])) for (source, target), cell in grid["cells"].items())
    assert cells == {
        ("web1", "app1/api"): ("live", "allow", "pass"), ("db1", "app1/api"): ("live", "deny", "pass"),
        ("web1", "app1/statsd"): ("live", "allow", "pass"), ("db1", "app1/statsd"): ("live", "allow", "pass"),
        ("app1", "db1/postgres"): ("live", "allow", "fail"), ("web1", "db1/postgres"): ("live", "deny", "pass"),
        ("controller", "web1/http"): ("live", "allow", "pass"), ("app1", "web1/http"): ("live", "allow", "pass"),
        ("app1", "web1/static"): ("live", "allow", "fail"),
    }


def test_matrix_falls_back_to_the_firewall_verdict_and_takes_the_worst_status():
    results = collect({"h": {"portproof_results": [
        result("h", "db", "firewall_allow", "pass", "10.0.0.0/8 (10.0.0.1)"),
        result("h", "db", "firewall_allow", "fail", "10.0.0.0/8 (10.255.255.254)"),
        result("h", "db", "firewall_deny", "pass", "public"), result("h", "db", "firewall_deny", "error", "public"),
        result("h", "db", "firewall_allow", "fail", "app1"), result("h", "db", "reach", "pass", "app1", latency_ms=1.5),
        result("h", "db", "reach", "skip", "app1", latency_ms=9.0), result("h", "db", "drift", "fail", "app1"),
    ]}}, ["h"], ["h"])["results"]
    grid = matrix(results)
    assert grid["sources"] == ["10.0.0.0/8 (10.0.0.1)", "10.0.0.0/8 (10.255.255.254)", "app1", "public"]
    summary = dict(((s, t), (c["kind"], c["expect"], c["status"], c["latency_ms"])) for (s, t), c in grid["cells"].items())
    assert summary == {
        ("10.0.0.0/8 (10.0.0.1)", "h/db"): ("static", "allow", "pass", None),
        ("10.0.0.0/8 (10.255.255.254)", "h/db"): ("static", "allow", "fail", None),
        ("public", "h/db"): ("static", "deny", "error", None),
        ("app1", "h/db"): ("live", "allow", "pass", 9.0),  # the static fail stands behind the live probe, in the cell's title
    }


# ---------------------------------------------------------------------------------------------- JSON
def test_results_json_matches_its_schema(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(render_json(lab_report()), encoding="utf-8")
    document = check_results_json(str(path))
    assert document == {"summary": lab_report()["summary"], "results": lab_report()["results"]}
    path.write_text(render_json(hostile_report()), encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8"))["results"][0]["message"] == HOSTILE
    check_results_json(str(path))


def test_the_schema_check_catches_a_wrong_document(tmp_path):
    report = lab_report()
    report["results"][0]["status"] = "warn"
    path = tmp_path / "results.json"
    path.write_text(render_json(report), encoding="utf-8")
    with pytest.raises(CheckError, match="'warn' is not one of"):
        check_results_json(str(path))
    report = lab_report()
    report["summary"]["fail"] += 1
    path.write_text(render_json(report), encoding="utf-8")
    with pytest.raises(CheckError, match="summary.fail is 12, the results hold 11"):
        check_results_json(str(path))


def test_facts_document_keeps_the_evidence():
    text = render_facts("db1", {"ansible_host": "10.1.0.5", "portproof_contract": [{"name": "pg"}],
                                "ansible_facts": {"portproof": {"listeners": [], "unavailable": []}}}, generated=GENERATED)
    assert json.loads(text) == {"version": 1, "host": "db1", "generated": GENERATED, "address": "10.1.0.5", "gathered": True,
                                "contract": [{"name": "pg"}], "facts": {"listeners": [], "unavailable": []}}
    assert json.loads(render_facts("gone1", {}))["gathered"] is False


# --------------------------------------------------------------------------------------------- JUnit
@pytest.mark.parametrize("make", [lab_report, hostile_report], ids=["lab", "hostile"])
def test_junit_is_valid_for_jenkins_and_ant(tmp_path, make):
    path = tmp_path / "junit.xml"
    path.write_text(render_junit(make()), encoding="utf-8")
    assert check_junit(str(path)) == {"ant": "%s validates" % path, "jenkins": "%s validates" % path}


def test_junit_one_testsuite_per_host_one_testcase_per_result():
    root = ElementTree.fromstring(render_junit(lab_report()).encode("utf-8"))
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped"), s.get("timestamp")) for s in suites] == [
        ("app1", "19", "0", "0", "0", "2026-01-02T03:04:05"), ("db1", "14", "7", "0", "0", "2026-01-02T03:04:05"),
        ("web1", "13", "4", "0", "0", "2026-01-02T03:04:05")]
    cases = suites[1].findall("testcase")
    assert [c.get("name") for c in cases[:6]] == [
        "postgres listen", "postgres bind", "postgres process", "postgres firewall_allow from app1", "postgres firewall_deny from web1",
        "postgres reach from app1"]
    failure = cases[5].find("failure")
    assert (cases[5].get("classname"), failure.get("type")) == ("db1.postgres", "reach")
    assert failure.get("message").startswith("postgres: app1 cannot reach ")
    assert "expected: open\nactual: timeout\nsource: app1\n" in failure.text


def test_junit_keeps_hostile_strings_as_text():
    root = ElementTree.fromstring(render_junit(hostile_report()).encode("utf-8"))
    shown = HOSTILE.replace("\x00", "\\x00").replace("\x1b", "\\x1b")
    failure = root.find("testsuite/testcase/failure")
    assert failure.get("message") == shown
    assert failure.text.startswith("fail: " + shown + "\nexpected: " + shown)
    assert root.find("testsuite/testcase/skipped").get("message") == shown
    assert root.find("testsuite/properties/property[@name='portproof.address']").get("value") == shown


# ------------------------------------------------------------------------------------------ Markdown
def _cells(line):
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_summary_of_the_lab_run():
    text = render_markdown(lab_report())
    lines = text.split("\n")
    assert lines[0] == "## \u274c portproof: FAIL: 11 fail, 35 pass of 46 results on 3 hosts"
    assert "| db1 | \u274c fail | 7 | 7 | 0 | 0 |" in lines
    assert "### Failures and errors (11)" in lines
    failing = [line for line in lines if line.startswith("| \u274c fail |")]
    assert len(failing) == 11 and all(len(_cells(line)) == 6 for line in failing)
    assert "| \u274c fail | db1 | postgres | firewall\\_allow | app1 |" in text
    assert lines[-2] == "Full report: /srv/ci/portproof-report (report.html, results.json, junit.xml, metrics.prom, facts/)."


def test_markdown_is_inert_and_cut():
    text = render_markdown(hostile_report(), limit=1)
    assert "<" not in text and ">" not in text.replace("&gt;", "")
    row = [line for line in text.split("\n") if line.startswith("| \u274c fail")][0]
    assert len(_cells(row)) == 6
    assert "\\[l\\](javascript:alert(3))" in row and "\\`x\\`" in row and "\\*b\\*" in row and "\\|" in row
    assert "\u2026 and 1 more in report.html." in text


# ---------------------------------------------------------------------------------------- Prometheus
def test_metrics_of_the_lab_run_parse_strictly():
    samples = parse_prometheus(render_prometheus(lab_report()))
    success = [s for s in samples if s["name"] == "portproof_check_success"]
    assert len(success) == 46
    assert {"host": "db1", "service": "postgres", "check": "reach", "source": "app1", "status": "fail"} in [s["labels"] for s in success]
    assert sum(s["value"] for s in success) == 35
    totals = dict((s["labels"]["status"], s["value"]) for s in samples if s["name"] == "portproof_results")
    assert totals == {"pass": 35.0, "fail": 11.0, "error": 0.0, "skip": 0.0}
    hosts = dict((s["labels"]["host"], s["value"]) for s in samples if s["name"] == "portproof_host_success")
    assert hosts == {"app1": 1.0, "db1": 0.0, "web1": 0.0}
    latency = [s for s in samples if s["name"] == "portproof_probe_latency_seconds"]
    assert len(latency) == len([item for item in LAB["results"] if item.get("latency_ms") is not None]) > 0
    assert [s["value"] for s in samples if s["name"] == "portproof_report_timestamp_seconds"] == [1767323045.0]


def test_metrics_tell_apart_results_with_the_same_labels_and_escape_values():
    recorded = [result("h", None, "undeclared", "fail"), result("h", None, "undeclared", "fail"),
                result("h", "x", "reach", "pass", source=HOSTILE, latency_ms=12)]
    report = collect({"h": {"portproof_results": recorded}}, ["h"], ["h"])
    samples = parse_prometheus(render_prometheus(report))
    success = [s["labels"] for s in samples if s["name"] == "portproof_check_success"]
    assert [label.get("n") for label in success] == [None, "1", "2"]  # host-wide results come last
    # control characters reach the label as the text \xNN (a terminal showing the metrics obeys none of them)
    assert success[0]["source"] == HOSTILE.replace("\x00", "\\x00").replace("\x1b", "\\x1b")
    assert [s["value"] for s in samples if s["name"] == "portproof_probe_latency_seconds"] == [0.012]


def test_the_metrics_reader_is_strict():
    with pytest.raises(CheckError, match="duplicate series"):
        parse_prometheus('# HELP a x\n# TYPE a gauge\na{b="1"} 1\na{b="1"} 2\n')
    with pytest.raises(CheckError, match="bad label set"):
        parse_prometheus('# HELP a x\n# TYPE a gauge\na{b=1} 1\n')
    with pytest.raises(CheckError, match="lacks HELP or TYPE"):
        parse_prometheus('# TYPE a gauge\na 1\n')


# ---------------------------------------------------------------------------------------------- HTML
class _Tags(html.parser.HTMLParser):
    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.tags, self.attributes, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(name for name, _value in attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_escapes_every_value():
    page = render_html(hostile_report())
    parsed = _Tags()
    parsed.feed(page)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "main", "nav", "a",
                                "section", "div", "b", "article", "span", "dl", "dt", "dd", "pre", "table", "thead", "tbody", "tr", "th",
                                "td", "small", "i", "details", "summary"}
    assert not {"src", "onerror", "onload", "onclick"} & set(parsed.attributes)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    shown = HOSTILE.replace("\x00", "\\x00").replace("\x1b", "\\x1b")
    assert "<script>" not in page and "\x00" not in page and "\x1b" not in page  # never raw
    assert html.escape(shown, quote=True) in page
    assert any(shown in text for text in parsed.text)  # shown as text
    assert "http://" not in page and "https://" not in page


def test_html_lays_out_the_sections_and_the_matrix():
    page = render_html(lab_report())
    assert [m.group(1) for m in re.finditer(r'<section id="([a-z]+)"', page)] == ["summary", "failures", "hosts", "matrix", "results"]
    assert page.index('<article class="finding status-fail">') < page.index('id="hosts"')
    cell = re.search(r'<td class="cell bg-fail live" data-source="app1" data-target="db1/postgres" data-status="fail" data-kind="live"', page)
    assert cell
    assert ".bg-fail { background: %s; }" % COLOURS["fail"] in page
    assert '<a href="facts/db1.json">facts/db1.json</a>' in page
    assert page.count("<tr data-source=") == 4
