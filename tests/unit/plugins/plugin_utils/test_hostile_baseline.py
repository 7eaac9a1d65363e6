# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Saved baselines of the wrong shape (hand-edited, truncated, from another tool) give one drift
``error`` naming the service and the field, never a Python exception (found by test_contract_props.py)."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._drift import drift
from ansible_collections.portproof.validate.tests.unit.plugins.plugin_utils.test_contract_props import (
    BASELINES, CONTRACTS, FACTS, GROUP_MAP, HOSTVARS, LAB,
)


def _edit(change):
    baseline = copy.deepcopy(BASELINES["web1"])
    change(baseline["services"])
    return json.dumps(baseline)


def _drift(text):
    return drift(text, CONTRACTS["web1"], copy.deepcopy(FACTS["web1"]), "web1", GROUP_MAP, HOSTVARS, LAB["addresses"]["web1"])


@pytest.mark.parametrize("change, problem", [
    (lambda s: s.update(http=["not", "a", "mapping"]), "service http: not a mapping"),
    (lambda s: s["http"].update(listeners={"where": "host"}), "service http: listeners is not a list"),
    (lambda s: s["http"]["listeners"][0].pop("port"), "service http: listeners[0] lacks or has a wrong port"),
    (lambda s: s["http"]["listeners"][0].update(port="80", interface=7), "service http: listeners[0] lacks or has a wrong port, interface"),
    (lambda s: s["http"]["firewall"][0].update(verdict=None), "service http: firewall[0] lacks or has a wrong verdict"),
    (lambda s: s["http"]["firewall"][0].update(port=[80]), "service http: firewall[0] lacks or has a wrong port"),
    (lambda s: s["static"]["mappings"].append(None), "service static: mappings[1] lacks or has a wrong host_ip, host_port, image, digest"),
])
def test_baseline_of_the_wrong_shape_is_one_error(change, problem):
    results = _drift(_edit(change))
    assert [(r["service"], r["check"], r["status"], r["message"]) for r in results] == [
        (None, "drift", "error", "web1: the baseline for web1 is not a portproof baseline (%s)" % problem)]


def test_the_saved_baseline_itself_compares_cleanly():
    """A version 1 baseline: every service passes, the host-level part cannot be compared (one skip)."""
    results = _drift(json.dumps(BASELINES["web1"]))
    assert set(r["status"] for r in results if r["service"]) == {"pass"}
    assert [(r["status"], r["message"].split(" (a version")[0]) for r in results if not r["service"]] == [
        ("skip", "web1: the baseline of %s has no host-level state" % BASELINES["web1"]["saved"])]


@pytest.mark.parametrize("host_state, problem", [
    ([], "not a mapping"),
    ({"listeners": {"port": 80}}, "listeners is not a list"),
    ({"listeners": [{"address": "0.0.0.0", "port": "80", "proto": "tcp", "process": None, "user": None}]},
     "listeners[0] lacks or has a wrong port"),
    ({"mappings": [None]}, "mappings[0] lacks or has a wrong container, target_port, proto, host_ip, host_port, image"),
    ({"openings": {"sources": [["public", "nowhere"]], "ports": []}}, "openings.sources[0] has no IP address"),
    ({"openings": {"sources": [], "ports": [{"port": 80, "proto": "sctp", "from": [], "checked": []}]}},
     "openings.ports[0] is not {port, proto, from, checked}"),
    ({"openings": {"sources": [], "ports": [{"port": True, "proto": "tcp", "from": [], "checked": []}]}},
     "openings.ports[0] is not {port, proto, from, checked}"),
    ({"openings": {"sources": [], "ports": [{"port": 80, "proto": "tcp", "from": []}]}},
     "openings.ports[0] is not {port, proto, from, checked}"),
    ({"openings": []}, "openings is not {sources, ports}"),
])
def test_host_state_of_the_wrong_shape_is_one_error(host_state, problem):
    baseline = dict(copy.deepcopy(BASELINES["web1"]), version=2, host_state=host_state)
    results = _drift(json.dumps(baseline))
    assert [(r["service"], r["check"], r["status"], r["message"]) for r in results] == [
        (None, "drift", "error", "web1: the baseline for web1 is not a portproof baseline (host_state: %s)" % problem)]
