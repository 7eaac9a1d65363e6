# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An IPv4-only host and IPv6 sources: the static firewall checks that do not apply are one note of the host, not
skip results. The results are those of the static checks over db1's facts captured on a lab host
(fixtures/static/facts-db1.json) with its IPv6 addresses taken out, as on a host without IPv6."""

from __future__ import annotations

import copy

from ansible_collections.portproof.validate.plugins.plugin_utils._report_html import render_html
from ansible_collections.portproof.validate.plugins.plugin_utils._report_json import render_json
from ansible_collections.portproof.validate.plugins.plugin_utils._report_markdown import render_markdown
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect
from ansible_collections.portproof.validate.tests.unit.plugins.plugin_utils.report_checks import check_results_json
from ansible_collections.portproof.validate.tests.unit.plugins.plugin_utils.test_static_checks import facts, run

SERVICES = [{"name": "postgres", "port": 5432, "allow_from": ["app", "2001:db8::/64"], "deny_from": ["web", "2001:db8:1::7"]}]
NOTE = ("db1 has no IPv6 address: 3 firewall checks from IPv6 sources do not apply (postgres: 2001:db8:1::7, "
        "2001:db8::/64 2001:db8::1, 2001:db8::/64 2001:db8::ffff:ffff:ffff:fffe)")


def ipv4_only_results():
    host_facts = copy.deepcopy(facts("db1"))
    host_facts["addresses"] = [item for item in host_facts["addresses"] if item["family"] != "ipv6"]
    return run("db1", services=SERVICES, host_facts=host_facts, strict=False)


def test_the_checks_that_do_not_apply_are_one_note_of_the_host(tmp_path):
    recorded = ipv4_only_results()
    assert sum(1 for item in recorded if item["status"] == "skip") == 3  # what the checks give: a skip per IPv6 source
    report = collect({"db1": {"portproof_results": recorded}}, ["db1"], ["db1"], report_dir="/r")
    assert [(r["check"], r["status"], r["source"]) for r in report["results"] if r["check"].startswith("firewall")] == [
        ("firewall_allow", "pass", "app1"), ("firewall_deny", "pass", "web1")]
    info = report["summary"]["hosts"]["db1"]
    assert (info["notes"], info["skip"], report["summary"]["skip"]) == ([NOTE], 0, 0)
    path = tmp_path / "results.json"
    path.write_text(render_json(report))
    check_results_json(str(path))  # the schema has the notes
    assert "\n\n- \u2139\ufe0f %s\n" % NOTE in render_markdown(report)
    assert '<ul class="notes"><li>%s</li></ul>' % NOTE in render_html(report)


def test_a_host_with_both_families_has_no_note():
    recorded = run("db1", services=SERVICES, strict=False)
    report = collect({"db1": {"portproof_results": recorded}}, ["db1"], ["db1"])
    assert "notes" not in report["summary"]["hosts"]["db1"]
    assert [r["source"] for r in report["results"] if r["check"] == "firewall_deny"] == ["web1", "2001:db8:1::7"]
