# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The live probe plan of a play: from every target's contract, which source probes what, and how.

Targets are the hosts of the play. For each service of a target, each host of the groups and
hosts of ``allow_from`` probes it with the service's ``check`` block (``reach`` and the
``response``, ``tls`` and ``load`` checks), each host of ``deny_from`` probes it plainly
(``isolation``) and ``controller`` probes it from the machine running Ansible. CIDRs and
``public`` are static only (the firewall role), and a host never probes itself.

The plan is grouped by source, so that each source runs one ``port_probe`` task with all its
probes. A source is probed from itself when it is in the play (``run: self``), by delegation
when it is not (``run: delegate``; ``controller`` is delegated to ``localhost``), and is
``lost`` when it was in the play but left it (unreachable or failed): its probes become
``error`` results. When the run has a ``--limit`` (``limit_hosts``: the hosts it selects), a
source outside it is not touched (``run: skip``, with the ``reason``): its probes become ``skip``
results. Groups are indexed once and each source's address is read once; the work is linear in
the number of probes.

Sampling: with ``sample`` N, each target picks N hosts of each source group (the target
itself left out) with a random generator seeded by the target's and the group's names, so the
choice is the same on every run and differs between targets (a fleet's sources all take turns).
"""

from __future__ import annotations

import random

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import FirewallError
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import parse_network
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service, Source
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import (
    CompiledOrError, HostVars, compile_firewall, destination, host_address, inbound_verdict, rule_text,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import keep_entry
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts, RawFacts, Result, host_ports, result

from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

# How a source was sampled out of its group: {group, chosen, of}; None when it was not.
SampleInfo = Optional[Dict[str, Any]]
# One plan entry: {source, host, service, kind, target (port_probe's target options)[, checks, secret, sample, silence]}
# for a probe, {source, host, service, target, load[, secret]} for a load run.
Entry = Dict[str, Any]
# What a source runs: {run: self|delegate|lost|skip, delegate_to, probes: [Entry], load: [Entry], names: [Entry][, reason]};
# a names entry: {source, host, service, kind: dns, name, addresses (the target's), timeout[, sample]}.
SourcePlan = Dict[str, Any]

CONTROLLER = "controller"
LIVE_KINDS = ("reach", "isolation", "response", "tls", "protocol", "load", "dns")
DEFAULT_TIMEOUT = 5.0


class SourceIndex(object):
    """Hosts of each group, sorted once, and the deterministic sample of a group for a target."""

    def __init__(self, groups: Mapping[str, Sequence[str]], sample: Optional[int] = None) -> None:
        self.groups = groups
        self.sample: int = sample or 0
        self._members: Dict[str, Tuple[List[str], FrozenSet[str]]] = {}

    def members(self, group: str) -> Tuple[List[str], FrozenSet[str]]:
        if group not in self._members:
            members = sorted(self.groups.get(group) or [])
            self._members[group] = (members, frozenset(members))
        return self._members[group]

    def expand(self, entry: Source, target: str) -> List[Tuple[str, SampleInfo]]:
        """[(source, sample info or None)] for one allow_from/deny_from entry of TARGET's service."""
        kind = entry["kind"]
        if kind == "host":
            return [(entry["name"], None)] if entry["name"] != target else []
        if kind == "controller":
            return [(CONTROLLER, None)]
        if kind != "group":
            return []  # CIDRs and 'public' are evaluated statically only
        members, present = self.members(entry["name"])
        size = len(members) - (1 if target in present else 0)
        if not self.sample or self.sample >= size:
            return [(member, None) for member in members if member != target]
        extra = 1 if target in present else 0
        picked = random.Random("%s/%s" % (target, entry["name"])).sample(members, self.sample + extra)
        chosen = sorted(member for member in picked if member != target)[:self.sample]
        info = {"group": entry["name"], "chosen": chosen, "of": size}
        return [(member, info) for member in chosen]


def probe_checks(check: Optional[Dict[str, Any]], proto: str) -> Tuple[Dict[str, Any], List[str], Optional[str], bool]:
    """Map a contract check block onto port_probe target options.

    Returns (options, kinds, problem, secret): the kinds of result the probe feeds besides
    reach (``response``, ``tls``, ``protocol``), the reason the block cannot be probed as given (the probe
    then only connects), and whether it carries secrets (HTTP headers, basic auth) that are
    left out of the plan and added when the probing task runs (``_live_step.probe_targets``).
    """
    check = check or {}
    http, tls, ssh = check.get("http"), check.get("tls"), check.get("ssh")
    send, expect, max_ms = check.get("send"), check.get("expect"), check.get("max_ms")
    protocol = check.get("protocol")
    problems: List[str] = []
    if protocol is not None and any(check.get(key) is not None for key in ("http", "tls", "send", "expect", "ssh")):
        problems.append("protocol cannot be combined with http, tls, send, expect or ssh in one probe")
    if proto == "udp":
        problems.extend("%s needs proto tcp" % key for key in ("http", "tls", "ssh") if check.get(key) is not None)
    if ssh is not None and (http is not None or tls is not None or send is not None or expect is not None):
        problems.append("ssh cannot be combined with http, tls, send or expect in one probe")
    if http is not None and (send is not None or expect is not None):
        problems.append("http cannot be combined with send or expect (use http.body)")
    auth = (http or {}).get("basic_auth")
    if auth is not None and not (isinstance(auth, dict) and set(auth) <= {"user", "password"} and auth.get("user")):
        problems.append("http.basic_auth must be a mapping with user and password")
    kinds: List[str] = []
    if http is not None or ssh is not None or send is not None or expect is not None or max_ms is not None:
        kinds.append("response")
    if tls is not None:
        kinds.append("tls")
    if protocol is not None:
        kinds.append("protocol")
    if problems:
        return {}, kinds, "; ".join(problems), False
    options: Dict[str, Any] = {}
    secret = False
    if http is not None:
        options["http"] = dict((key, http[key]) for key in ("method", "path", "body", "json_query") if http.get(key) is not None)
        if http.get("status") is not None:
            options["http"]["status"] = [http["status"]]
        if http.get("host"):
            options["http"]["host_header"] = http["host"]
        secret = bool(http.get("headers") or http.get("basic_auth"))
    if tls is not None:
        options["tls"] = dict((key, tls[key]) for key in ("min_days", "verify", "ca", "hostname", "min_version") if tls.get(key) is not None)
    if ssh is not None:
        options["ssh"] = {}
        if ssh.get("auth_methods") is not None:
            options["ssh"]["auth_methods"] = list(ssh["auth_methods"])
        if ssh.get("host_key") is not None:
            keys = ssh["host_key"]
            options["ssh"]["host_key"] = [keys] if isinstance(keys, str) else list(keys)
    if send is not None:
        options["send"] = send
    if expect is not None:
        options["expect"] = expect
    if proto == "udp" and (send is not None or expect is not None):
        options["expect_reply"] = True
    if protocol is not None:
        options["protocol"] = protocol
    if max_ms is not None:
        options["max_ms"] = max_ms
    return options, kinds, None, secret


def secret_options(check: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The HTTP secrets of a check block as port_probe http options (never stored in the plan)."""
    http = (check or {}).get("http") or {}
    options: Dict[str, Any] = {}
    if http.get("headers"):
        options["headers"] = dict(http["headers"])
    auth = http.get("basic_auth")
    if isinstance(auth, dict):
        options["user"] = auth.get("user")
        options["password"] = auth.get("password")
    return options


class Target(object):
    """What the plan needs to know of one target host: address, facts, compiled firewall."""

    def __init__(self, name: str, hostvars: HostVars, gathered: bool, cached: Optional[RawFacts] = None) -> None:
        self.name = name
        self.hostvars: Mapping[str, Any] = hostvars.get(name) or {}
        self.address = host_address(hostvars, name, fallback_to_name=True)
        # a target in another slice of a sliced run: its facts as its slice cached them (read fresh, checked for age)
        facts = (self.hostvars.get("ansible_facts") or {}).get("portproof") if gathered else cached
        self.facts: Optional[RawFacts] = facts or None
        self.indexed = Facts(self.facts) if self.facts else None
        self._compiled: Dict[str, Any] = {}

    def compiled(self) -> CompiledOrError:
        """The target's firewall fact compiled (once): only for a target whose facts hold one."""
        facts = self.facts or {}
        return compile_firewall(facts["firewall"], self._compiled)

    def not_gathered(self) -> str:
        return "the port facts of %s were not gathered (it is not in the play, or it was unreachable)" % self.name


def _ip_version(text: object) -> Optional[int]:
    try:
        return parse_network(text, host_only=True).version
    except ValueError:
        return None


def _listener(indexed: Facts, service: Service, port: int) -> bool:
    if service["publish"]:
        pub = service["publish"]
        return bool(indexed.in_container(pub["container"], pub["container_port"], "udp"))
    return bool(indexed.on(port, "udp"))


def udp_silence(target: Target, service: Service, port: int, source: str, address_of: Callable[[str], Optional[str]]) -> Dict[str, Any]:
    """What UDP silence means for this source: the static verdict for its datagram and whether
    the service listens. ``{verdict, listener, firewall, how}``, or ``{error}`` when it cannot be known."""
    if target.facts is None or target.indexed is None:  # both or neither
        return {"error": target.not_gathered()}
    firewall = target.facts.get("firewall")
    if not firewall:
        reasons = "; ".join("%s: %s" % (e.get("tool"), e.get("reason")) for e in target.facts.get("unavailable") or []
                            if e.get("subset") == "firewall")
        return {"error": "the firewall of %s could not be read: %s" % (target.name, reasons or "not gathered")}
    if target.facts.get("listeners") is None:
        return {"error": "the listeners of %s could not be read" % target.name}
    if source == CONTROLLER:
        address = target.hostvars.get("portproof_controller_address") or target.facts.get("ssh_client")
    else:
        address = address_of(source)
    if not address:
        return {"error": "no address is known for source %s (set portproof_address or ansible_host)" % source}
    compiled = target.compiled()
    if isinstance(compiled, FirewallError):
        return {"error": "the firewall facts of %s are unusable: %s" % (target.name, compiled)}
    version = _ip_version(address)
    if version is None:
        return {"error": "the address of source %s is not an IP address: %r" % (source, address)}
    # a target reached by name: take its own address of the source's IP version
    dst = destination(target.address if _ip_version(target.address) else None, target.facts, version)
    if dst is None:
        return {"error": "%s has no address of the IP version of source %s (%s)" % (target.name, source, address)}
    try:
        verdict = inbound_verdict(compiled, target.facts, address, dst, "udp", port)
    except PacketError as exc:
        return {"error": str(exc)}
    return {"verdict": verdict["verdict"], "listener": _listener(target.indexed, service, port), "firewall": target.name, "how": rule_text(verdict)}


def by_name(options: Dict[str, Any], name: str) -> Dict[str, Any]:
    """The probe options of a service whose clients use NAME: TLS SNI and host name verification and the HTTP Host
    header from it, unless the check block names them itself (tls.hostname, http.host)."""
    options = dict(options)
    if "tls" in options:
        options["tls"] = dict(options["tls"], hostname=options["tls"].get("hostname") or name)
    if "http" in options:
        options["http"] = dict(options["http"], host_header=options["http"].get("host_header") or name)
    return options


def target_addresses(target: Target) -> List[str]:
    """The addresses of TARGET a name may resolve to: its reach address when it is an IP address, and the addresses its
    port facts gathered except loopback (scope host), in that order, each once."""
    found: List[str] = []
    if _ip_version(target.address):
        found.append(str(parse_network(target.address, host_only=True).ip))
    for item in (target.facts or {}).get("addresses") or []:
        if isinstance(item, dict) and item.get("scope") != "host" and item.get("address"):
            address = str(item["address"]).split("%", 1)[0]
            if address not in found:
                found.append(address)
    return found


def _unique(pairs: Iterable[Tuple[str, SampleInfo]]) -> List[Tuple[str, SampleInfo]]:
    """(source, sample) pairs with each source once, the first time it is named (a host in two groups)."""
    seen: Set[str] = set()
    unique: List[Tuple[str, SampleInfo]] = []
    for source, info in pairs:
        if source not in seen:
            seen.add(source)
            unique.append((source, info))
    return unique


class Plan(object):
    """Builds the plan; see the module documentation."""

    def __init__(self, hostvars: HostVars, groups: Mapping[str, Sequence[str]], play_hosts_all: Iterable[str], play_hosts: Iterable[str],
                 sample: Optional[int] = None, timeout: Union[float, str, None] = None, controller: str = "localhost",
                 limit_hosts: Optional[Iterable[str]] = None, limit: Optional[str] = None,
                 slice_of: Optional[Iterable[str]] = None, cached: Optional[Mapping[str, RawFacts]] = None) -> None:
        self.hostvars = hostvars
        # a sliced run: every target of the run (SLICE_OF: all its hosts), this slice's hosts are the play's
        self.all_hosts: Optional[FrozenSet[str]] = None if slice_of is None else frozenset(slice_of)
        self.cached: Mapping[str, RawFacts] = cached or {}
        self.limit_hosts = None if limit_hosts is None else frozenset(limit_hosts)
        self.limit = limit
        self.addresses: Dict[str, Optional[str]] = {}
        self.play_all = list(play_hosts_all)
        self.in_play = frozenset(play_hosts)
        self.index = SourceIndex(groups, sample)
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.controller = controller
        self.sources: Dict[str, SourcePlan] = {}
        self.errors: List[Result] = []
        self.seen: Set[Tuple[str, str, str, int, str]] = set()
        self.owners: Optional[Dict[str, List[str]]] = None

    def source(self, name: str) -> SourcePlan:
        if name not in self.sources:
            delegate: Optional[str]
            if name == CONTROLLER:
                run, delegate = "delegate", self.controller
            elif name in self.in_play:
                run, delegate = "self", None
            elif name in self.play_all:
                run, delegate = "lost", None
            elif self.limit_hosts is not None and name not in self.limit_hosts:
                run, delegate = "skip", None
            else:
                run, delegate = "delegate", name
            self.sources[name] = {"run": run, "delegate_to": delegate, "probes": [], "load": []}
            if run == "skip":
                self.sources[name]["reason"] = "%s is outside the --limit of this run (%s), so it does not probe" % (name, self.limit or "limit")
        return self.sources[name]

    def address(self, name: str) -> Optional[str]:
        """Where source NAME is reached (read once: each hostvars lookup makes Ansible compute all of its variables)."""
        if name not in self.addresses:
            self.addresses[name] = host_address(self.hostvars, name)
        return self.addresses[name]

    def mine(self, source: Optional[str], target: str) -> bool:
        """Whether this run records what SOURCE does to TARGET: always, except in a slice (then that of the source's slice)."""
        return self.all_hosts is None or keep_entry(source, target, self.play_all, self.all_hosts)

    def error(self, target: str, service: Optional[str], check: str, source: Optional[str], message: str) -> None:
        if not self.mine(source, target):
            return
        item = result(target, service, check, "error", message, source=source)
        self.errors.append(item)

    def build(self, contracts: Iterable[Tuple[str, Union[List[Service], str]]]) -> Dict[str, Any]:
        """CONTRACTS: [(target name, normalised services or a ContractError message)] in play order."""
        for name, services in contracts:
            if isinstance(services, str):
                self.error(name, None, "reach", None, services)
                continue
            target = Target(name, self.hostvars, name in self.in_play, self.cached.get(name))
            for service in services:
                self.service(target, service)
        delegated_load = [dict(entry, delegate_to=self.sources[entry["source"]]["delegate_to"])
                          for name in sorted(self.sources) if self.sources[name]["run"] == "delegate"
                          for entry in self.sources[name]["load"]]
        delegated = sorted(name for name, src in self.sources.items() if src["run"] == "delegate" and (src["probes"] or src.get("names")))
        plan: Dict[str, Any] = {"sources": self.sources,
                                "delegated": [{"source": name, "delegate_to": self.sources[name]["delegate_to"]} for name in delegated],
                                "delegated_load": delegated_load, "errors": self.errors}
        if self.owners is not None:
            plan["owners"] = self.owners  # who holds each address, for the dns results
        if self.all_hosts is not None:
            plan["sliced"] = True
        return plan

    def ports(self, target: Target, service: Service) -> Tuple[List[Any], Optional[str]]:
        """The host ports to probe, or an error message (port auto without facts or mapping)."""
        if service["port"] != "auto":
            return [service["port"]], None
        if target.indexed is None:
            return [], "%s: port auto cannot be resolved: %s" % (service["name"], target.not_gathered())
        if target.indexed.mappings is None:
            return [], "%s: port auto cannot be resolved: %s" % (service["name"], target.indexed.reason("mappings"))
        ports = host_ports(target.indexed, service)
        if not ports:
            pub = service["publish"]
            return [], "%s: port auto cannot be resolved: container %s port %s/%s is not published (see mapping)" % (
                service["name"], pub["container"], pub["container_port"], service["proto"])
        return ports, None

    def service(self, target: Target, service: Service) -> None:
        name, proto = service["name"], service["proto"]
        allowed = _unique(pair for entry in service["allow_from"] for pair in self.index.expand(entry, target.name))
        denied = _unique(pair for entry in service["deny_from"] for pair in self.index.expand(entry, target.name))
        if not allowed and not denied:
            return
        options, kinds, problem, secret = probe_checks(service["check"], proto)
        names = service.get("names") or []
        if names:
            self.names(target, service, allowed)
            options = by_name(options, names[0])
        ports, port_error = self.ports(target, service)
        if port_error:
            for source, _info in allowed:
                for check in ["reach"] + kinds + (["load"] if service["check"].get("load") else []):
                    self.error(target.name, name, check, source, port_error)
            for source, _info in denied:
                self.error(target.name, name, "isolation", source, port_error)
            return
        if problem:
            for source, _info in allowed:
                for check in kinds:
                    self.error(target.name, name, check, source, "%s: the check block cannot be probed: %s" % (name, problem))
            kinds = []  # the probes still connect, for reach
        load_done = False
        for port in ports:
            base = {"name": "%s@%s" % (name, target.name), "host": target.address, "port": port, "proto": proto, "timeout": self.timeout}
            # the allowed sources connect as the clients do, by the first name; isolation stays on the address
            checked = dict(base, **options) if not names else dict(base, host=names[0], **options)
            load_sources: List[Tuple[bool, str]] = []
            for source, info in allowed:
                entry = self.entry(target, service, port, source, info, "reach", checked, kinds, secret)
                if self.all_hosts is not None:
                    # a slice: the source an unsliced run would choose, whichever slice it is in
                    load_sources.append((source not in self.all_hosts, source))
                elif entry is not None and self.sources[source]["run"] not in ("lost", "skip"):
                    load_sources.append((self.sources[source]["run"] != "self", source))
            plain = dict(base)
            if proto == "udp" and "send" in options:
                plain["send"] = options["send"]  # something the service answers, if it gets through
            for source, info in denied:
                self.entry(target, service, port, source, info, "isolation", plain, [], False)
            load = service["check"].get("load")
            if load and not load_done:
                load_done = True
                self.load(target, service, checked, secret, load, sorted(load_sources), allowed)

    def names(self, target: Target, service: Service, allowed: List[Tuple[str, SampleInfo]]) -> None:
        """A dns entry per allowed source and name of SERVICE: the source resolves the name as its clients do."""
        addresses = target_addresses(target)
        if self.owners is None:
            self.owners = self.address_owners()
        for source, info in allowed:
            if not self.mine(source, target.name):
                continue  # a slice: the source's slice resolves
            for name in service["names"]:
                entry: Entry = {"source": source, "host": target.name, "service": service["name"], "kind": "dns", "name": name,
                                "addresses": addresses, "timeout": self.timeout}
                if info:
                    entry["sample"] = info
                self.source(source).setdefault("names", []).append(entry)

    def address_owners(self) -> Dict[str, List[str]]:
        """{address: [inventory hosts]}: every host's portproof_address (or ansible_host) and, for the hosts whose port facts were
        gathered, their addresses; read once per plan, only when a service has names."""
        owners: Dict[str, List[str]] = {}
        hosts = list(self.hostvars.keys()) if hasattr(self.hostvars, "keys") else list(self.play_all)
        for host in sorted(set(str(name) for name in hosts) | set(self.play_all)):
            found = target_addresses(Target(host, self.hostvars, host in self.in_play))
            for address in found:
                owners.setdefault(address, [])
                if host not in owners[address]:
                    owners[address].append(host)
        return owners

    def entry(self, target: Target, service: Service, port: int, source: str, info: SampleInfo, kind: str, probe: Dict[str, Any],
              kinds: List[str], secret: bool) -> Optional[Entry]:
        key = (source, target.name, service["name"], port, kind)
        if key in self.seen or not self.mine(source, target.name):
            return None
        self.seen.add(key)
        entry: Entry = {"source": source, "host": target.name, "service": service["name"], "kind": kind, "target": probe}
        if kinds:
            entry["checks"] = kinds
        if secret:
            entry["secret"] = True
        if info:
            entry["sample"] = info
        if service["proto"] == "udp" and not (kind == "reach" and probe.get("expect_reply")):
            entry["silence"] = udp_silence(target, service, port, source, self.address)
        self.source(source)["probes"].append(entry)
        return entry

    def load(self, target: Target, service: Service, probe: Dict[str, Any], secret: bool, load: Dict[str, Any],
             candidates: List[Tuple[bool, str]], allowed: List[Tuple[str, SampleInfo]]) -> None:
        name = service["name"]
        if service["proto"] != "tcp" or "ssh" in probe:
            for _delegated, source in candidates[:1]:
                self.error(target.name, name, "load", source, "%s: load applies to TCP services without an ssh check" % name)
            return
        if not candidates:
            outside = sorted(source for source, _info in allowed if self.sources[source]["run"] == "skip")
            if outside and len(outside) == len(allowed):
                self.errors.append(result(target.name, name, "load", "skip", "%s: not put under load: every allowed source (%s) is outside the "
                                          "--limit of this run (%s)" % (name, ", ".join(outside), self.limit or "limit")))
                return
            self.error(target.name, name, "load", None, "%s: no allowed source that is still in the play can put it under load" % name)
            return
        source = candidates[0][1]
        if not self.mine(source, target.name):
            return  # another slice's source puts it under load
        self.source(source)
        # each request is the full check, bounded by the load's own p95 limit, not by the response's max_ms
        probe = dict((key, value) for key, value in probe.items() if key != "max_ms")
        entry: Entry = {"source": source, "host": target.name, "service": name, "target": probe,
                        "load": dict((key, load[key]) for key in ("requests", "concurrency", "p95_ms", "max_errors") if load.get(key) is not None)}
        if secret:
            entry["secret"] = True
        self.sources[source]["load"].append(entry)


def build_plan(hostvars: HostVars, groups: Mapping[str, Sequence[str]], play_hosts_all: Iterable[str], play_hosts: Iterable[str],
               contracts: Iterable[Tuple[str, Union[List[Service], str]]], sample: Optional[int] = None,
               timeout: Union[float, str, None] = None, controller: str = "localhost", limit_hosts: Optional[Iterable[str]] = None,
               limit: Optional[str] = None, slice_of: Optional[Iterable[str]] = None,
               cached: Optional[Mapping[str, RawFacts]] = None) -> Dict[str, Any]:
    """The plan: ``{sources: {name: {run, delegate_to, probes, load[, names, reason]}}, delegated, delegated_load, errors[, owners, sliced]}``.

    ``errors`` holds the plan's own results (errors, and ``skip`` for load that only sources outside the limit could run)."""
    plan = Plan(hostvars, groups, play_hosts_all, play_hosts, sample=sample, timeout=timeout, controller=controller,
                limit_hosts=limit_hosts, limit=limit, slice_of=slice_of, cached=cached)
    return plan.build(contracts)
