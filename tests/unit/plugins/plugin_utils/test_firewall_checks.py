# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Static firewall checks of a service on port auto, over port_facts captured on the lab of the molecule scenario
"report" (fixtures/drift: web1 publishes its container "static" port 80 on host port 8080, see capture.py)."""

from __future__ import annotations

import copy
import json
import os

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import check_firewall

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "drift")
with open(os.path.join(FIXTURES, "lab.json")) as _handle:
    LAB = json.load(_handle)
with open(os.path.join(FIXTURES, "facts-before-web1.json")) as _handle:
    WEB1 = json.load(_handle)
HOSTVARS = {name: {"ansible_host": address} for name, address in LAB["addresses"].items()}
STATIC = {"name": "static", "port": "auto", "publish": {"container": "static", "container_port": 80},
          "allow_from": ["app"], "deny_from": ["db"]}
# web1 filters nothing: podman's DNAT forwards the host port to the container
ACCEPTED = "accepted (no rule stops it; the base chains' policies accept), forwarded to 10.88.0.88 via podman0"


def _check(facts):
    service = load_contract("web1", [("portproof_services", [STATIC])], set(LAB["groups"]), set(LAB["addresses"]))[0]
    results = check_firewall("web1", service, facts, LAB["groups"], HOSTVARS, LAB["addresses"]["web1"], {})
    return [(r["check"], r["status"], r["source"], r["message"]) for r in results]


def test_port_auto_is_checked_on_the_published_host_port():
    """The firewall is asked about the host port that port auto resolves to (the published one), from every source."""
    assert [(m["container"], m["host_port"], m["target_port"]) for m in WEB1["mappings"]] == [("static", 8080, 80)]
    assert _check(WEB1) == [
        ("firewall_allow", "pass", "app1", "static: new TCP connection from app1 (10.231.127.12) to 10.231.127.11:8080 (must get in): "
                                           + ACCEPTED),
        ("firewall_deny", "fail", "db1", "static: new TCP connection from db1 (10.231.127.13) to 10.231.127.11:8080 (must not get in): "
                                         + ACCEPTED),
    ]


def test_port_auto_without_mappings_is_an_error_per_source():
    """Mappings not gathered: port auto has no host port, so no verdict (an error per source, not a crash)."""
    facts = copy.deepcopy(WEB1)
    facts["mappings"] = None
    assert _check(facts) == [
        ("firewall_allow", "error", "app1", "static: port auto could not be resolved, no verdict for app1"),
        ("firewall_deny", "error", "db1", "static: port auto could not be resolved, no verdict for db1"),
    ]
