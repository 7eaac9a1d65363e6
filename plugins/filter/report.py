# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Report filters of portproof.validate: collect every host's results, render each report file's text.

Documentation: report_collect.yml, report_json.yml, report_junit.yml, report_markdown.yml,
report_html.yml, report_prometheus.yml, report_facts.yml, evidence_name.yml.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.portproof.validate.plugins.plugin_utils._report_html import render_html
from ansible_collections.portproof.validate.plugins.plugin_utils._report_json import render_facts, render_json
from ansible_collections.portproof.validate.plugins.plugin_utils._report_junit import render_junit
from ansible_collections.portproof.validate.plugins.plugin_utils._report_markdown import render_markdown
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect, evidence_name
from ansible_collections.portproof.validate.plugins.plugin_utils._report_prometheus import render_prometheus


def report_collect_filter(hostvars, hosts_all, hosts_live, generated=None, report_dir=None):
    """{"summary", "results"} from the portproof_results of every host of HOSTS_ALL (ansible_play_hosts_all)."""
    if not isinstance(hosts_all, (list, tuple)) or not isinstance(hosts_live, (list, tuple)):
        raise AnsibleFilterError("report_collect: hosts_all and hosts_live must be lists of host names "
                                 "(ansible_play_hosts_all, ansible_play_hosts)")
    return collect(hostvars, hosts_all, hosts_live, generated=generated, report_dir=report_dir)


def _report(name, report):
    if not isinstance(report, dict) or "summary" not in report or "results" not in report:
        raise AnsibleFilterError("%s: the input must be the report made by portproof.validate.report_collect" % name)
    return report


def report_json_filter(report):
    return render_json(_report("report_json", report))


def report_junit_filter(report):
    return render_junit(_report("report_junit", report))


def report_markdown_filter(report, limit=50):
    return render_markdown(_report("report_markdown", report), limit=int(limit))


def report_html_filter(report):
    return render_html(_report("report_html", report))


def report_prometheus_filter(report):
    return render_prometheus(_report("report_prometheus", report))


def report_facts_filter(hostvars_of_host, host, generated=None):
    return render_facts(host, hostvars_of_host, generated=generated)


def evidence_name_filter(host):
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("evidence_name: the input must be an inventory host name, got %r" % (host,))
    return evidence_name(host)


class FilterModule(object):
    """Report collection and rendering."""

    def filters(self):
        return {
            "report_collect": report_collect_filter,
            "report_json": report_json_filter,
            "report_junit": report_junit_filter,
            "report_markdown": report_markdown_filter,
            "report_html": report_html_filter,
            "report_prometheus": report_prometheus_filter,
            "report_facts": report_facts_filter,
            "evidence_name": evidence_name_filter,
        }
