# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the report role prints: the failures of the lab run (fixtures/report/results-lab.json), which host each fails."""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.plugin_utils._report_console import console, failure_line
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect


def result(host, service, check, status, source=None, message="m", recorded_on=None):
    return {"host": host, "service": service, "check": check, "status": status, "source": source, "message": message}


def test_a_line_names_host_service_check_source_and_shows_control_characters_as_escapes():
    item = {"host": "db1", "service": "redis", "check": "process", "status": "fail", "source": None,
            "message": "redis declared as process redis; 0.0.0.0:6379 (process \x1bc\x9b pid 7 user root)\r\n\tnext"}
    assert failure_line(item) == "FAIL db1 redis process: redis declared as process redis; 0.0.0.0:6379 (process \\x1bc\\x9b pid 7 user root) next"
    assert failure_line(dict(item, service=None, source="web1", status="error", message="x" * 500)) == \
        "ERROR db1 process from web1: " + "x" * 399 + "\u2026"


def test_each_failure_fails_the_host_it_is_about_or_its_recorder_and_the_list_stops_at_20():
    recorded = {
        "app1": [result("db1", "pg", "reach", "fail", source="app1")] + [result("app1", "api", "listen", "pass")],
        # a live result about a host outside the play is recorded on its source
        "web1": [result("outside", "pg", "reach", "fail", source="web1")],
        "db1": [result("db1", "pg%d" % n, "listen", "error") for n in range(22)],
    }
    hostvars = dict((host, {"portproof_results": items}) for host, items in recorded.items())
    hostvars["gone"] = {"portproof_results": [result("gone", "x", "listen", "fail")]}
    report = collect(hostvars, ["app1", "web1", "db1", "gone"], ["app1", "web1", "db1"], report_dir="/r")
    shown = console(report, ["app1", "web1", "db1"])
    assert shown["outcome"] == "portproof FAIL: 27 results on 5 hosts: 1 pass, 3 fail, 23 error, 0 skip; report: /r"
    assert shown["failures"][:3] == ["FAIL db1 pg reach from app1: m", "FAIL gone x listen: m", "FAIL outside pg reach from web1: m"]
    assert shown["failures"][20:] == ["... and 6 more failures and errors: see /r/summary.md"] and len(shown["failures"]) == 21
    assert sorted(shown["hosts"]) == ["db1", "web1"]  # gone left the play (Ansible failed it); app1 had no failure
    assert shown["hosts"]["web1"] == ["FAIL outside pg reach from web1: m"]
    assert shown["hosts"]["db1"][0] == "FAIL db1 pg reach from app1: m" and len(shown["hosts"]["db1"]) == 21
    assert shown["hosts"]["db1"][20] == "... and 3 more failures and errors: see /r/summary.md"
