# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The portproof.validate.firewall_verdict filter (documentation: firewall_verdict.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, FirewallError, firewall_verdict
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError

from typing import Any, Callable, Dict, List, Tuple, Union

# The last few firewall facts seen, compiled: a play asks many verdicts of the same fact.
_CACHE: List[Tuple[Any, Compiled]] = []
_CACHE_SIZE = 8


def _compiled(firewall: Any) -> Compiled:
    for obj, compiled in _CACHE:
        if obj is firewall:
            return compiled
    compiled = Compiled(firewall)
    _CACHE.insert(0, (firewall, compiled))
    del _CACHE[_CACHE_SIZE:]
    return compiled


def firewall_verdict_filter(firewall: Any, packet: Any) -> Union[Dict[str, Any], List[Dict[str, Any]]]:
    """Verdict of the host's firewall for a new inbound packet (or a list of packets)."""
    try:
        compiled = _compiled(firewall)
    except FirewallError as exc:
        raise AnsibleFilterError("firewall_verdict: %s" % exc)
    packets = packet if isinstance(packet, list) else [packet]
    results: List[Dict[str, Any]] = []
    for pos, item in enumerate(packets):
        try:
            verdict = firewall_verdict(compiled, item)
            results.extend(verdict if isinstance(verdict, list) else [verdict])
        except PacketError as exc:
            where = " (packet %d of the list)" % pos if isinstance(packet, list) else ""
            raise AnsibleFilterError("firewall_verdict: %s%s" % (exc, where))
    return results if isinstance(packet, list) else results[0]


class FilterModule(object):
    """Firewall verdict filter."""

    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {"firewall_verdict": firewall_verdict_filter}
