# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What port_facts gathers, as one function: the modules port_facts and discover_gather (private) both call it."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence, Union

from ansible_collections.portproof.validate.plugins.module_utils._sockets import _addresses, _listeners, _netlink
from ansible_collections.portproof.validate.plugins.module_utils._command import Limits
from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import engine_view, gather_containers
from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
from ansible_collections.portproof.validate.plugins.module_utils._firewall._loaders import gather_loaders, loader_units
from ansible_collections.portproof.validate.plugins.module_utils._firewall._saved import gather_saved_firewall
from ansible_collections.portproof.validate.plugins.module_utils._mappings._gather import gather_mappings
from ansible_collections.portproof.validate.plugins.module_utils._starters import gather_starters

SUBSETS = ("listeners", "firewall", "mappings", "addresses", "saved_firewall", "starters")


def gather_addresses() -> List[Dict[str, Union[str, int]]]:
    sock = _netlink.open_socket(_netlink.NETLINK_ROUTE)
    try:
        return _addresses.read_addresses(sock)
    finally:
        sock.close()


def gather_facts(module: Any, gather_subset: Sequence[str], namespaces: str, engine_timeout: float, limits: Limits) -> Dict[str, Any]:
    """The facts port_facts returns under ansible_facts.portproof, for the subsets GATHER_SUBSET ("all" or SUBSETS)."""
    wanted = set(SUBSETS) if "all" in gather_subset else set(gather_subset)
    facts: Dict[str, Any] = {"unavailable": []}

    containers = None
    if "mappings" in wanted or "starters" in wanted or ("listeners" in wanted and namespaces == "all"):
        # asked once: it names containers, gives their published ports and restart policies
        containers = gather_containers(module, timeout=engine_timeout, limits=limits, read_only=True)
    if "starters" in wanted:
        wanted.add("listeners")  # who starts what holds a listening socket
    if "listeners" in wanted:
        names = dict((c["id"], c["name"]) for c in containers[0]) if containers else {}
        listeners, unavailable, warnings = _listeners.gather(namespaces, container_names=names,
                                                             containers=engine_view(containers) if containers else None)
        facts["listeners"] = listeners
        facts["unavailable"].extend(unavailable)
        for warning in warnings:
            module.warn(warning)
    if "addresses" in wanted:
        try:
            facts["addresses"] = gather_addresses()
        except (OSError, _netlink.NetlinkError) as exc:
            facts["addresses"] = None
            facts["unavailable"].append({"subset": "addresses", "tool": "rtnetlink", "reason": str(exc)})
    if "firewall" in wanted:
        firewall, unavailable = gather_firewall(module, limits=limits)
        facts["firewall"] = firewall
        facts["unavailable"].extend(unavailable)
    if "saved_firewall" in wanted:
        saved, unavailable = gather_saved_firewall()
        facts["saved_firewall"] = saved
        facts["unavailable"].extend(unavailable)
        saved["loaders"], unavailable = gather_loaders(module, loader_units(saved), limits)
        facts["unavailable"].extend(unavailable)
    if "starters" in wanted:
        starters, unavailable = gather_starters(module, facts.get("listeners") or [], limits, containers=containers)
        facts["starters"] = starters
        facts["unavailable"].extend(unavailable)
    if "mappings" in wanted:
        mappings, unavailable = gather_mappings(module, facts.get("firewall"), containers, limits)
        facts["mappings"] = mappings
        facts["unavailable"].extend(unavailable)

    # The address this session came from: where the controller reaches the host from.
    facts["ssh_client"] = (os.environ.get("SSH_CLIENT") or "").split(" ")[0] or None
    return facts
