# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Baseline filters of portproof.validate (documentation: baseline_state.yml, drift.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import HAS_NETADDR
from ansible_collections.portproof.validate.plugins.plugin_utils._baseline import snapshot
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import parse_port_spec
from ansible_collections.portproof.validate.plugins.plugin_utils._drift import drift


def _need_netaddr(name):
    if not HAS_NETADDR:
        raise AnsibleFilterError("%s: the Python library netaddr is required on the controller (pip install netaddr)" % name)


def baseline_state_filter(contract, facts, host, groups=None, hostvars=None, address=None, saved=None):
    """The baseline document of HOST: the normalised state of its declared services."""
    _need_netaddr("baseline_state")
    if not isinstance(contract, list):
        raise AnsibleFilterError("baseline_state: the input must be the host's validated contract (portproof_contract)")
    return snapshot(contract, facts, host, groups=groups, hostvars=hostvars, address=address or None, saved=saved)


def drift_filter(baseline, contract, facts, host, groups=None, hostvars=None, address=None, mode="fail", path=None, ignore=None,
                 strict_loopback=False):
    """drift results of HOST against BASELINE (the text of its baseline file, or None when there is none)."""
    _need_netaddr("drift")
    if not isinstance(contract, list):
        raise AnsibleFilterError("drift: contract must be the host's validated contract (portproof_contract)")
    for index, item in enumerate(ignore or []):
        try:
            parse_port_spec(item)
        except ValueError as exc:
            raise AnsibleFilterError("drift: ignore[%d]: %s" % (index, exc))
    return drift(baseline, contract, facts, host, groups=groups, hostvars=hostvars, address=address or None, mode=mode, path=path,
                 ignore=ignore or [], loopback=bool(strict_loopback))


class FilterModule(object):
    """Baseline snapshot and drift."""

    def filters(self):
        return {
            "baseline_state": baseline_state_filter,
            "drift": drift_filter,
        }
