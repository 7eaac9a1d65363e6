# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# A failed tls result shows its evidence (protocol, cipher, chain as presented, OCSP stapling) in
# report.html and junit.xml next to expected and actual: a missing intermediate is seen there.

from __future__ import annotations

import html
import json
from xml.etree import ElementTree

from ansible_collections.portproof.validate.plugins.plugin_utils._report_html import render_html
from ansible_collections.portproof.validate.plugins.plugin_utils._report_junit import render_junit
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect

# The tls result of the lab test's leaf-alone server (tests/labtest/test_tls_chain.py), as recorded.
EVIDENCE = {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain_visible": True, "ocsp_stapled": False,
            "chain": [{"subject": "CN=web.pplab.test,O=portproof lab", "issuer": "CN=portproof lab intermediate,O=portproof lab",
                       "not_after": "2027-02-04T20:14:00Z", "sha256": "2d39889ef3c8398d162196e8be6e46fab8c6291be1b75d07dbb31dd0101ad4fa"}]}
RESULT = {"host": "web1", "service": "nochain", "check": "tls", "status": "fail", "source": "app1",
          "message": "nochain from app1 at 10.231.28.11:8443/tcp: tls_verify fail: chain does not verify against the trust store of app1: "
                     "unable to get local issuer certificate; the server presented 1 certificate: CN=web.pplab.test,O=portproof lab "
                     "(issued by CN=portproof lab intermediate,O=portproof lab)",
          "expected": "tls_verify: the system CA store", "actual": "tls_handshake: TLSv1.3; tls_verify: unable to get local issuer certificate",
          "latency_ms": 12.5, "tls": EVIDENCE}


def report():
    return collect({"web1": {"portproof_results": [], "ansible_host": "10.231.28.11"},
                    "app1": {"portproof_results": [dict(RESULT)], "ansible_host": "10.231.28.12"}},
                   ["web1", "app1"], ["web1", "app1"], generated="2026-01-02T03:04:05Z", report_dir="/srv/ci/portproof-report")


def test_junit_failure_shows_the_tls_evidence():
    root = ElementTree.fromstring(render_junit(report()).encode("utf-8"))
    (failure,) = root.findall("testsuite/testcase/failure")
    assert failure.text == "\n".join([
        "fail: " + RESULT["message"], "expected: " + RESULT["expected"], "actual: " + RESULT["actual"],
        "tls: " + json.dumps(EVIDENCE, sort_keys=True), "source: app1", "latency_ms: 12.5", "recorded_on: app1"])


def test_html_finding_shows_the_tls_evidence():
    page = render_html(report())
    shown = "<dt>tls</dt><dd><pre>%s</pre></dd>" % html.escape(json.dumps(EVIDENCE, indent=2, sort_keys=True))
    assert shown in page
    assert page.index("<dt>actual</dt>") < page.index(shown) < page.index("<dt>latency_ms</dt>")
