# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The DNS names discover proposes for a service (``names``): those its clients resolve to the host.

Candidates of a host: its inventory name and its ``ansible_host``, each when it is a DNS name (not an
address). Every gathered host resolves the candidates of the other hosts once, as its clients do (one
``port_probe`` run with ``resolve``, in the private module discover_gather). A service gets a name only when every
allowed source resolves it to the address the host is reached at and to nothing else: the check ``dns``
(each allowed source resolves each name to an address of the target) then passes, and so do the live
probes that connect by the first name, which reach the address the firewall verdicts were computed for.
At least one allowed host must have resolved it; the controller, when allowed, resolves only the names
the hosts agreed on (through the same resolver call as port_probe, on the controller). A name that one
source resolves otherwise (another host, several addresses, split horizon) or not at all is left out,
with a comment saying where and why.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import dns_name_problem

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

Answer = Dict[str, Any]  # port_probe's resolved item: {name, addresses, error, reason, ms}
ControllerLookup = Callable[[Sequence[str]], Mapping[str, Answer]]
CONTROLLER = "controller"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def candidates(host: str, ansible_host: Any) -> List[str]:
    """The names HOST's clients may use: its inventory name and its ansible_host, each when it is a DNS name."""
    found: List[str] = []
    for name in (host, ansible_host):
        if isinstance(name, str) and name and not _is_address(name) and dns_name_problem(name) is None and name not in found:
            found.append(name)
    return found


def resolved_from(run: Any, names: Sequence[str]) -> Optional[Dict[str, Answer]]:
    """{name: answer} from a port_probe result run with ``resolve``; None when the run failed or answered otherwise."""
    if not isinstance(run, Mapping) or run.get("failed") or not isinstance(run.get("resolved"), list):
        return None
    answers = {str(item.get("name")): dict(item) for item in run["resolved"] if isinstance(item, Mapping)}
    return {name: answers[name] for name in names if name in answers}


def _describe(answer: Optional[Answer]) -> Optional[List[str]]:
    """The addresses of an answer, None when it did not resolve."""
    if not answer or answer.get("error") or not isinstance(answer.get("addresses"), list) or not answer["addresses"]:
        return None
    return [str(a).split("%", 1)[0] for a in answer["addresses"]]


class Naming(object):
    """Which names each service gets: CANDIDATES {host: [names]}, RESOLVED {source host: {name: answer}, or None when its
    run failed}, CONTROLLER_LOOKUP called with the names the controller must resolve (None: the controller resolves
    nothing, so a service the controller may reach gets no name)."""

    def __init__(self, candidates_of: Mapping[str, Sequence[str]], resolved: Mapping[str, Optional[Mapping[str, Answer]]],
                 controller_lookup: Optional[ControllerLookup] = None) -> None:
        self.candidates = candidates_of
        self.resolved = resolved
        self.controller_lookup = controller_lookup
        self._controller: Dict[str, Answer] = {}

    def _from_controller(self, name: str) -> Optional[Answer]:
        if self.controller_lookup is None:
            return None
        if name not in self._controller:
            self._controller.update(self.controller_lookup([name]))
        return self._controller.get(name)

    def _verdict(self, source: str, name: str, answer: Optional[Answer], address: str, host: str) -> Optional[str]:
        """None when SOURCE resolves NAME to ADDRESS only, else why not."""
        got = _describe(answer)
        if got is None:
            why = "%s (%s)" % (answer.get("error"), answer.get("reason") or "no reason given") if answer else "no answer"
            return "%s does not resolve it: %s" % (source, why)
        if sorted(set(got)) != [address]:
            return "%s resolves it to %s, not only to %s, where %s is reached" % (source, ", ".join(got), address, host)
        return None

    def names(self, host: str, address: Optional[str], sources: Sequence[str]) -> Tuple[List[str], List[str]]:
        """(names, comments) for a service of HOST reached at ADDRESS whose allowed sources are SOURCES (host names, and
        ``controller``)."""
        mine = list(self.candidates.get(host) or [])
        if not mine:
            return [], []
        hosts = [s for s in sources if s != CONTROLLER and s != host]
        if not address or not _is_address(address):
            return [], ["names: none proposed, the address %s is reached at is not known" % host]
        if not hosts:
            return [], ["names: none proposed, no allowed host resolved %s (discover asks the allowed hosts first)"
                        % ", ".join(mine)]
        kept: List[str] = []
        comments: List[str] = []
        for name in mine:
            why: Optional[str] = None
            for source in hosts:
                if source not in self.resolved or self.resolved[source] is None:
                    why = "%s was not asked (not gathered, or its resolve run failed)" % source
                else:
                    why = self._verdict(source, name, (self.resolved[source] or {}).get(name), address, host)
                if why:
                    break
            if not why and CONTROLLER in sources:
                if self.controller_lookup is None:
                    why = "the controller was not asked"
                else:
                    why = self._verdict(CONTROLLER, name, self._from_controller(name), address, host)
            if why:
                comments.append("names: %s left out, %s" % (name, why))
            else:
                kept.append(name)
        if kept:
            comments.append("names: %s, as every allowed source (%s) resolves %s" % (
                ", ".join(kept), ", ".join(list(hosts) + ([CONTROLLER] if CONTROLLER in sources else [])),
                "them to %s only" % address if len(kept) > 1 else "it to %s only" % address))
        return kept, comments
