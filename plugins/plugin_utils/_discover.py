# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""A first contract inferred from the running stack: what each host serves, and to whom its firewall lets it.

Input: the port facts of every gathered host (port_facts, as the role validate gathers them), the
inventory's groups and the address index of its hosts. Output: per host, the proposed services
(each with the comments that explain it), the ports strict mode should ignore, and what was left
out and why; then services that every member of a group serves alike are moved to the group.

Every inference is the decision the checks themselves make over the same facts: the bind is the
narrowest class that holds every effective bind (_addrclass), an allow_from/deny_from entry is
proposed only when the static firewall check (_firewall_checks.check_firewall) passes for every
member of the source, so that the contract, checked at once, passes. The firewall is not probed; what answers on
each listener comes from the host's own probe (_discover_identify), and the check it suggests is the one that probe
passed.
"""

from __future__ import annotations

import re

from ansible_collections.portproof.validate.plugins.module_utils._starters import listen_port
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import ALL, address_class, effective_binds
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_identify import suggestion
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_names import CONTROLLER, Naming
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import check_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import HOST_NETNS, Item, RawFacts, Result, endpoint, holders

from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

# Linux's default ephemeral port range (net.ipv4.ip_local_port_range): a listener there, or a container port published
# there, got its port from the kernel or the engine, not from a configuration.
EPHEMERAL = (32768, 60999)
SSH_MODES = ("ignore", "declare")
# Process names (/proc/PID/comm) or ports whose protocol port_probe's check.protocol can prove, as a suggestion only.
PROTOCOL_HINTS = (
    (("nginx", "apache2", "httpd", "haproxy", "caddy", "traefik", "gunicorn", "uvicorn", "node"), (80, 8080, 8000), "http"),
    (("postgres", "postmaster", "pgbouncer"), (5432, 6432), "postgres"),
    (("mariadbd", "mysqld"), (3306,), "mysql"),
    (("redis-server", "valkey-server"), (6379,), "redis"),
    (("memcached",), (11211,), "memcached"),
    (("mongod",), (27017,), "mongodb"),
    (("beam.smp",), (5672,), "amqp"),
    (("master", "exim4", "smtpd"), (25, 587), "smtp"),
    (("dovecot", "imap-login"), (143,), "imap"),
    (("vsftpd", "proftpd"), (21,), "ftp"),
    (("slapd",), (389,), "ldap"),
    (("sshd",), (22,), "ssh"),
)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_REGEX_SPECIAL = re.compile(r"([.^$*+?{}\[\]\\|()])")


class DiscoverError(ValueError):
    """A discover input that cannot be used (named in the message)."""


def process_regex(comm: str) -> str:
    """A regex that matches the process name COMM in full, escaping only what a regex would read specially."""
    return _REGEX_SPECIAL.sub(r"\\\1", comm)


def is_ephemeral(port: int) -> bool:
    return EPHEMERAL[0] <= port <= EPHEMERAL[1]


def bind_of(binds: Sequence[Tuple[int, str]]) -> List[str]:
    """The narrowest bind classes that hold every effective bind [(version, address or ALL)]: loopback, internal
    (which holds loopback), public (which holds a wildcard)."""
    classes = set("public" if address == ALL else address_class(address) for _version, address in binds)
    if "internal" in classes:
        classes.discard("loopback")
    return [c for c in ("loopback", "internal", "public") if c in classes]


def protocol_hint(process: Optional[str], port: Any, proto: str) -> Optional[str]:
    if proto != "tcp":
        return None
    for names, ports, protocol in PROTOCOL_HINTS:
        if process in names:
            return protocol
    for names, ports, protocol in PROTOCOL_HINTS:
        if port in ports:
            return protocol
    return None


def _unique(base: str, taken: Set[str], port: Any, proto: str) -> str:
    base = _UNSAFE_NAME.sub("-", base).strip("-") or "service"
    for name in (base, "%s-%s" % (base, port), "%s-%s-%s" % (base, port, proto)):
        if name not in taken:
            taken.add(name)
            return name
    index = 2
    while "%s-%s-%s-%d" % (base, port, proto, index) in taken:
        index += 1
    name = "%s-%s-%s-%d" % (base, port, proto, index)
    taken.add(name)
    return name


def unit_name(items: Sequence[Item], starters: Any) -> Optional[str]:
    """The systemd service unit (without ``.service``) that started every process holding ITEMS, from the starters
    facts; None when PID 1 is not systemd, a process is in no service unit, or they are in different ones."""
    if not isinstance(starters, Mapping) or starters.get("init") != "systemd" or not isinstance(starters.get("processes"), Mapping):
        return None
    units = set()
    for item in items:
        entry = starters["processes"].get(str(item.get("pid")))
        unit = entry.get("unit") if isinstance(entry, Mapping) else None
        if not isinstance(unit, str) or not unit.endswith(".service") or unit == ".service":
            return None
        units.add(unit[:-len(".service")])
    return units.pop() if len(units) == 1 else None


def activating_socket(items: Sequence[Item], port: int, starters: Any) -> Optional[str]:
    """The ``.socket`` unit (without ``.socket``) through which systemd listens on PORT for its service (socket
    activation), from the starters facts: PID 1 is systemd, holds every socket of ITEMS, and exactly one socket unit
    listens on PORT (``systemctl list-sockets``); else None."""
    if not isinstance(starters, Mapping) or starters.get("init") != "systemd" or not isinstance(starters.get("sockets"), list):
        return None
    if not items or not all(any(holder.get("pid") == 1 for holder in holders(item)) for item in items):
        return None
    units = {entry.get("unit") for entry in starters["sockets"] if isinstance(entry, Mapping)
             and isinstance(entry.get("listen"), str) and listen_port(entry["listen"]) == port}
    unit = units.pop() if len(units) == 1 else None
    if not isinstance(unit, str) or not unit.endswith(".socket") or unit == ".socket":
        return None
    return unit[:-len(".socket")]


def _owner(items: Sequence[Item]) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """(process, user, note): the one owner of the sockets, else what to say about it."""
    if any(item.get("pid") is None for item in items):
        return None, None, "the owning process could not be read (gather as root): no process or user proposed"
    owners = sorted({(item.get("process") or "", item.get("user") or "") for item in items})
    if len(owners) != 1:
        return None, None, "sockets held by different processes (%s): no process or user proposed" % ", ".join(
            "%s/%s" % owner for owner in owners)
    process, user = owners[0]
    return process or None, user or None, None


def _published_groups(mappings: Sequence[Item]) -> Dict[Tuple[str, int, str], List[Item]]:
    """Mappings to a container, by (container, container port, proto)."""
    found: Dict[Tuple[str, int, str], List[Item]] = {}
    for item in mappings:
        name = item.get("container") or (item.get("containers") or [None])[0]
        if not name or not isinstance(item.get("target_port"), int) or not isinstance(item.get("host_port"), int):
            continue
        found.setdefault((str(name), item["target_port"], str(item.get("proto"))), []).append(item)
    return found


def _reachable(binds: Sequence[Tuple[int, str]], address: Optional[str]) -> bool:
    """Whether a socket with these effective binds accepts on ADDRESS (where other hosts reach the host)."""
    if not address:
        return False
    version = 6 if ":" in address else 4
    return any(v == version and (a == ALL or a == address) for v, a in binds)


class HostDiscovery(object):
    """What discover found on one host: services (dict + comments), ignore specs, and what it left out."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.services: List[Dict[str, Any]] = []
        self.ignore: List[Tuple[str, str]] = []  # (spec, why)
        self.left_out: List[str] = []
        self.decisions: List[str] = []  # what needs a human
        self.existing: List[str] = []  # with an existing contract: what it lacks besides services
        self.unavailable: List[str] = []  # what port_facts could not read, and why


def _sources(groups: Mapping[str, Sequence[str]], host: str) -> List[Tuple[str, str]]:
    """[(kind, name)] of the sources to evaluate: each group with a member other than HOST, then the words."""
    entries = [("group", name) for name in sorted(groups) if name not in ("all", "ungrouped")
               and any(member != host for member in groups[name])]
    return entries + [("controller", "controller"), ("public", "public")]


def _verdicts(host: str, service: Dict[str, Any], facts: RawFacts, groups: Mapping[str, Sequence[str]],
              hostvars: Mapping[str, Any], address: Optional[str], cache: Dict[str, Any], reachable: bool,
              ) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]], List[str]]:
    """(allow [(entry, why)], deny [(entry, why)], undecided [text]) for SERVICE over the host's firewall."""
    allow: List[Tuple[str, str]] = []
    deny: List[Tuple[str, str]] = []
    undecided: List[str] = []
    unreachable: List[str] = []
    if not (facts.get("firewall") or {}):
        undecided.append("the firewall of %s could not be read, so no allow_from/deny_from is proposed" % host)
        return allow, deny, undecided
    base = {"name": service["name"], "port": service["port"], "proto": service["proto"], "publish": service.get("publish")}
    for kind, name in _sources(groups, host):
        checks = (["firewall_allow"] if kind != "public" else []) + (["firewall_deny"] if kind != "controller" else [])
        outcome: Dict[str, List[Result]] = {}
        for check in checks:
            entry = {"kind": kind, "name": name}
            probe = dict(base, allow_from=[entry] if check == "firewall_allow" else [],
                         deny_from=[entry] if check == "firewall_deny" else [])
            outcome[check] = check_firewall(host, probe, facts, {g: list(m) for g, m in groups.items()}, hostvars, address, cache)
        passed = [check for check, results in outcome.items() if results and all(r["status"] == "pass" for r in results)]
        why = ""
        if passed:
            actual = sorted({str(r.get("actual") or "") for r in outcome[passed[0]]})
            why = "; ".join(a for a in actual if a)
        if "firewall_allow" in passed:
            if reachable:
                allow.append((name, why))
            else:
                unreachable.append(name)
        elif "firewall_deny" in passed:
            deny.append((name, why))
        elif kind == "public" and outcome["firewall_deny"] and all(r["status"] == "fail" for r in outcome["firewall_deny"]):
            let_in = "; ".join(sorted({str(r.get("actual")) for r in outcome["firewall_deny"]}))
            undecided.append("%s: public (the internet) gets in (%s): decide whether it may, then deny it or leave it out"
                             % (service["name"], let_in))
        elif kind != "controller" and any(outcome.values()):
            mixed = sorted({"%s: %s" % (r["source"], r.get("actual") or r["message"]) for results in outcome.values()
                            for r in results if r["check"] == checks[0]})
            undecided.append("%s: %s gets no single verdict, so it is neither allowed nor denied (%s)"
                             % (service["name"], name, "; ".join(mixed)))
    if unreachable:
        undecided.append("%s: the firewall lets %s in, but nothing listens on the address other hosts reach %s at (%s), so "
                         "allow_from leaves them out" % (service["name"], ", ".join(unreachable), host, address))
    return allow, deny, undecided


def discover_host(host: str, facts: RawFacts, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any],
                  address: Optional[str], ssh: str = "ignore", declared: Sequence[Tuple[Any, str]] = (),
                  identified: Optional[Mapping[str, Any]] = None, naming: Optional[Naming] = None) -> HostDiscovery:
    """The proposed contract of HOST from its port FACTS; DECLARED: (port, proto) its existing contract already covers;
    IDENTIFIED: what answers on each listener ({"80/tcp": ...} of _discover_identify.identified_from), None when
    discover did not ask (then only a commented guess from the process name or port); NAMING: which DNS names each
    service gets (_discover_names), None when discover did not resolve any."""
    if ssh not in SSH_MODES:
        raise DiscoverError("portproof_discover_ssh: must be one of %s, got %r" % (", ".join(SSH_MODES), ssh))
    if not isinstance(facts, dict):
        raise DiscoverError("discover of %s: its port facts (ansible_facts.portproof) are missing" % host)
    found = HostDiscovery(host)
    for entry in facts.get("unavailable") or []:
        found.unavailable.append("%s could not be read by %s: %s" % (entry.get("subset"), entry.get("tool"), entry.get("reason")))
    listeners = facts.get("listeners")
    if listeners is None:
        found.decisions.append("the listeners of %s could not be read: nothing is proposed for it" % host)
        return found
    mappings = facts.get("mappings") or []
    published = _published_groups(mappings)
    published_ports = {(m["host_port"], str(m.get("proto"))) for items in published.values() for m in items}
    declared_set = set(declared)
    taken: Set[str] = set()
    cache: Dict[str, Any] = {}
    candidates: List[Tuple[Dict[str, Any], List[str], bool, str]] = []  # (service, comments, reachable, "host port/proto")

    # Containers' published ports first: the host port (or auto) leads to a listener inside the container.
    for (container, cport, proto), items in sorted(published.items()):
        ports = sorted({m["host_port"] for m in items})
        ips = sorted({m.get("host_ip") or "0.0.0.0" for m in items})
        if all((port, proto) in declared_set for port in ports):
            continue
        binds = [(6 if ":" in ip else 4, ALL if ip in ("0.0.0.0", "::") else ip) for ip in ips]
        comments = ["container %s port %d/%s published on %s" % (container, cport, proto, ", ".join(
            "%s:%d" % (m.get("host_ip") or "0.0.0.0", m["host_port"]) for m in items))]
        if len(ports) == 1 and not is_ephemeral(ports[0]):
            port: Any = ports[0]
        else:
            port = "auto"
            comments.append("port auto: host port %s is in the ephemeral range %d-%d, so the engine chose it"
                            % (", ".join(str(p) for p in ports), EPHEMERAL[0], EPHEMERAL[1]) if len(ports) == 1
                            else "port auto: published on several host ports (%s)" % ", ".join(str(p) for p in ports))
        publish: Dict[str, Any] = {"container": container, "container_port": cport}
        if len(ips) == 1 and ips[0] not in ("0.0.0.0", "::"):
            publish["host_ip"] = ips[0]
        image = (items[0].get("image") or {}).get("name")
        if image and all((m.get("image") or {}).get("name") == image for m in items):
            publish["image"] = image
        inside = [i for i in listeners if (i.get("container") == container or container in (i.get("containers") or []))
                  and i["port"] == cport and i["proto"] == proto]
        several = len([key for key in published if key[0] == container]) > 1  # a container that publishes several ports
        service: Dict[str, Any] = {"name": _unique("%s-%d" % (container, cport) if several else container, taken, port, proto),
                                   "port": port, "proto": proto, "bind": bind_of(binds)}
        if inside:
            process, user, note = _owner(inside)
            if process:
                service["process"] = process_regex(process)
                service["user"] = user
            if note:
                comments.append(note)
        else:
            comments.append("nothing was seen listening inside container %s on %d/%s (the listen check will say so)"
                            % (container, cport, proto))
        service["publish"] = publish
        candidates.append((service, comments, _reachable(binds, address), "%d/%s" % (ports[0], proto)))

    # Then what listens in the host's own network namespace.
    by_port: Dict[Tuple[int, str], List[Item]] = {}
    for item in listeners:
        if item.get("netns") != HOST_NETNS:
            continue
        by_port.setdefault((item["port"], item["proto"]), []).append(item)
    other = sorted({str(i.get("netns")) for i in listeners if i.get("netns") != HOST_NETNS and not i.get("container")})
    if other:
        found.left_out.append("listeners in %d other network namespace(s) that belong to no container (%s): not this host's "
                              "services" % (len(other), ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")))
    for (port, proto), items in sorted(by_port.items()):
        if (port, proto) in published_ports or (port, proto) in declared_set:
            continue
        shown = ", ".join("%s (%s)" % (endpoint(i), i.get("process") or "process unknown") for i in items)
        binds = [b for i in items for b in effective_binds(i)]
        bind = bind_of(binds)
        if bind == ["loopback"]:
            found.left_out.append("%d/%s: loopback only (%s); strict mode does not report it" % (port, proto, shown))
            continue
        process, user, note = _owner(items)
        if port == 22 and proto == "tcp" and process in ("sshd", None) and ssh == "ignore":
            found.ignore.append(("22/tcp", "%s: SSH (portproof_discover_ssh: ignore)" % shown))
            continue
        if is_ephemeral(port):
            spec = "%d-%d/%s" % (EPHEMERAL[0], EPHEMERAL[1], proto)
            found.left_out.append("%d/%s: an ephemeral port (%s), which changes on restart: ignored through %s"
                                  % (port, proto, shown, spec))
            if spec not in [s for s, _why in found.ignore]:
                found.ignore.append((spec, "ephemeral ports, chosen by the kernel (%s)" % shown))
            continue
        comments = ["%s" % shown]
        unit = unit_name(items, facts.get("starters"))
        if unit:
            comments.append("started by the systemd unit %s.service" % unit)
        else:
            unit = activating_socket(items, port, facts.get("starters"))
            if unit:
                comments.append("socket-activated by %s.socket: systemd (PID 1) holds the listening socket, also once a "
                                "connection has started the service, so process systemd stays true" % unit)
        service = {"name": _unique(unit or process or "port-%d" % port, taken, port, proto), "port": port, "proto": proto,
                   "bind": bind}
        if process:
            service["process"] = process_regex(process)
            if user:
                service["user"] = user
        if note:
            comments.append(note)
        candidates.append((service, comments, _reachable(binds, address), "%d/%s" % (port, proto)))

    for service, comments, reachable, key in candidates:
        allow, deny, undecided = _verdicts(host, service, facts, groups, hostvars, address, cache, reachable)
        service["allow_from"] = [name for name, _why in allow]
        service["deny_from"] = [name for name, _why in deny]
        if naming is not None and service["allow_from"]:
            sources: List[str] = []
            for entry in service["allow_from"]:
                members = [CONTROLLER] if entry == CONTROLLER else [m for m in groups.get(entry) or [] if m != host]
                sources.extend(m for m in members if m not in sources)
            names, named = naming.names(host, address, sources)
            if names:
                service["names"] = names
            comments.extend(named)
        hint = None
        if identified is None:
            hint = protocol_hint(service.get("process"), service["publish"]["container_port"] if service.get("publish")
                                 else service["port"], service["proto"])
        else:
            check, said = suggestion(identified.get(key))
            if check:
                service["check"] = check
            if said:
                comments.append(said)
        found.decisions.extend("%s: %s" % (host, text) for text in undecided)
        found.services.append({"service": service, "comments": comments,
                               "why": {"allow_from": dict(allow), "deny_from": dict(deny)}, "protocol": hint})
    return found


def _signature(service: Dict[str, Any]) -> str:
    return repr(sorted(service.items()))


def factor_groups(found: Mapping[str, HostDiscovery], groups: Mapping[str, Sequence[str]]) -> Dict[str, List[Dict[str, Any]]]:
    """Move each service that every member of a group (two or more hosts, all discovered) proposes alike to the group.

    Returns {group: [proposed service entries]}; the hosts' lists lose those services. Larger groups first.
    """
    moved: Dict[str, List[Dict[str, Any]]] = {}
    order = sorted((name for name in groups if name not in ("all", "ungrouped")), key=lambda g: (-len(groups[g]), g))
    for group in order:
        members = list(dict.fromkeys(groups[group]))
        if len(members) < 2 or any(member not in found for member in members):
            continue
        first = found[members[0]]
        for entry in list(first.services):
            signature = _signature(entry["service"])
            matches: List[Tuple[str, Dict[str, Any]]] = []
            for member in members:
                same = [e for e in found[member].services if _signature(e["service"]) == signature]
                if not same:
                    break
                matches.append((member, same[0]))
            else:
                for member, match in matches:
                    found[member].services.remove(match)
                # what a member's clients resolve is the member's own: no names comment of one member goes to the group
                moved.setdefault(group, []).append(dict(entry, comments=[c for c in entry["comments"] if not c.startswith("names: ")]))
    return moved
