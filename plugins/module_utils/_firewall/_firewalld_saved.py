# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""firewalld's permanent configuration (what it loads at start, so after a reboot) as rule tables.

The XML files of ``/usr/lib/firewalld`` (the package's defaults) and ``/etc/firewalld`` (a file there
replaces the one of the same name below /usr/lib) and ``firewalld.conf`` are parsed, never loaded;
``firewalld_boot(read, listdir)`` translates them into iptables-save text of the chains firewalld
installs for INPUT (the same layout as its nftables and iptables backends: established and loopback
accepted, invalid dropped, direct rules, policies with negative priority, zones by source then
interface then the default zone, policies with priority >= 0, a final reject) and parses that text
with the iptables parser, so the collection's verdict engine evaluates it as it evaluates running rules.
Each rule names the XML construct as its ``text`` and the file it comes from as its ``path``.

Covered: zones (target, sources by address or ipset, interfaces, services with their includes,
ports, protocols, source ports, rich rules with family, source/destination address or ipset and
invert, service/port/protocol/source-port/icmp-type/icmp-block, accept/reject/drop, priorities),
policies whose egress zone is HOST (ingress ANY or zones bound by sources or interfaces), ipsets
hash:ip and hash:net, direct rules of the filter table's INPUT chain and chains it declares.
Anything else that decides packets to the host raises FirewalldSavedError naming the construct
and the file, never a verdict. Ignored with a note: masquerade, forward ports, intra-zone forwarding,
log and audit, helpers (they concern forwarded or related traffic, not new connections to the host).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import xml.etree.ElementTree as ET  # nosec: DTDs and entities are refused before parsing
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import IptablesParseError, parse_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._ufw_boot import implicit_matches

Json = Dict[str, Any]
Reader = Callable[[str], Optional[str]]
Lister = Callable[[str], List[str]]
USR = "/usr/lib/firewalld"
ETC = "/etc/firewalld"
CONF = ETC + "/firewalld.conf"
DIRECT = ETC + "/direct.xml"
FAMILIES = (("ip", "ipv4"), ("ip6", "ipv6"))
REJECT_WITH = {"ipv4": "icmp-host-prohibited", "ipv6": "icmp6-adm-prohibited"}
ICMP = {"ipv4": "icmp", "ipv6": "ipv6-icmp"}
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_IGNORED = ("short", "description", "masquerade", "forward-port", "forward", "icmp-block-inversion", "helper", "module")
_ZONE_TARGETS = ("default", "ACCEPT", "DROP", "%%REJECT%%", "REJECT")
_POLICY_TARGETS = ("CONTINUE", "ACCEPT", "DROP", "REJECT")


class FirewalldSavedError(Exception):
    """firewalld's permanent configuration holds something that is not evaluated (message names it and its file)."""


class _Chains(object):
    """Chains of one family being built: name -> [(iptables arguments, text, path)]."""

    def __init__(self) -> None:
        self.order: List[str] = []
        self.rules: Dict[str, List[Tuple[str, str, str]]] = {}

    def add(self, chain: str, args: str, text: str, path: str) -> None:
        if chain not in self.rules:
            self.order.append(chain)
            self.rules[chain] = []
        self.rules[chain].append((args, text, path))

    def chain(self, name: str) -> None:
        if name not in self.rules:
            self.order.append(name)
            self.rules[name] = []


def parse_xml(path: str, text: str) -> ET.Element:
    """The root element of a firewalld file; a DTD or entity declaration is refused (a hostile file)."""
    if _DTD.search(text):
        raise FirewalldSavedError("%s: a DOCTYPE or ENTITY declaration is refused (firewalld's files have none)" % path)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise FirewalldSavedError("%s: not well-formed XML: %s" % (path, exc))


def parse_conf(text: Optional[str]) -> Dict[str, str]:
    """firewalld.conf's KEY=value settings."""
    conf: Dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            conf[key.strip()] = value.strip().strip('"')
    return conf


class _Config(object):
    """The XML files of one kind (zones, services, ipsets, policies), /etc replacing /usr/lib by name."""

    def __init__(self, read: Reader, listdir: Lister) -> None:
        self.read = read
        self.listdir = listdir
        self.cache: Dict[Tuple[str, str], Tuple[ET.Element, str]] = {}

    def names(self, kind: str) -> List[str]:
        found: Set[str] = set()
        for base in (USR, ETC):
            found.update(name[:-4] for name in self.listdir("%s/%s" % (base, kind)) if name.endswith(".xml"))
        return sorted(found)

    def get(self, kind: str, name: str, where: str) -> Tuple[ET.Element, str]:
        _valid(name, "name", "%s: the name of %s %s" % (where, kind[:-1], name))
        if (kind, name) not in self.cache:
            for base in (ETC, USR):
                path = "%s/%s/%s.xml" % (base, kind, name)
                text = self.read(path)
                if text is not None:
                    root = parse_xml(path, text)
                    root.attrib.setdefault("name", name)  # named in the rules' texts
                    self.cache[(kind, name)] = (root, path)
                    break
            else:
                raise FirewalldSavedError("%s: %s %s is not defined (no %s/%s/%s.xml nor %s/%s/%s.xml)"
                                          % (where, kind[:-1], name, ETC, kind, name, USR, kind, name))
        return self.cache[(kind, name)]


# what firewalld itself accepts in an attribute (and nothing that could change the rule text it goes into)
_VALID = {
    "port": re.compile(r"^\d{1,5}(-\d{1,5})?$"),
    "protocol": re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    "value": re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    "name": re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+:@-]*$"),
    "service": re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+:@-]*$"),
    "type": re.compile(r"^[a-z0-9-]+$"),
    "limit": re.compile(r"^\d+/[smhd][a-z]*$"),
}


def _valid(value: str, kind: str, where: str) -> str:
    if not _VALID[kind].match(value):
        raise FirewalldSavedError("%s: %r is not a valid %s" % (where, value, kind))
    return value


def _need(element: ET.Element, attr: str, path: str) -> str:
    value = element.get(attr)
    if not value:
        raise FirewalldSavedError("%s: <%s> without its %s attribute" % (path, element.tag, attr))
    return _valid(value, attr, "%s: <%s %s>" % (path, element.tag, attr)) if attr in _VALID else value


def _port_proto(element: ET.Element, path: str) -> Tuple[str, str]:
    """(port, protocol) of a <port> or <source-port>: firewalld takes tcp, udp, sctp and dccp there."""
    port, proto = _need(element, "port", path), _need(element, "protocol", path)
    if proto not in ("tcp", "udp", "sctp", "dccp"):
        raise FirewalldSavedError("%s: <%s protocol=%r>: firewalld takes tcp, udp, sctp or dccp" % (path, element.tag, proto))
    return port, proto


def _port(value: str) -> str:
    return value.replace("-", ":")


def _family_of(address: str, path: str) -> str:
    try:
        return "ipv%d" % ipaddress.ip_network(address, strict=False).version
    except ValueError:
        raise FirewalldSavedError("%s: %r is not an address or network" % (path, address))


def ipset_entries(element: ET.Element, path: str) -> Json:
    """An ipset file as the iptables parser's ipset entry (hash:ip and hash:net; others unsupported)."""
    kind = element.get("type") or ""
    options = dict((o.get("name"), o.get("value")) for o in element.findall("option"))
    family = "inet6" if options.get("family") == "inet6" else "inet"
    entries = [e.text.strip() for e in element.findall("entry") if e.text and e.text.strip()]
    for value in entries if kind in ("hash:ip", "hash:net") else []:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise FirewalldSavedError("%s: ipset entry %r is not an address or network (ranges and ports are not evaluated)" % (path, value))
    entry: Json = {"type": kind, "family": family, "elements": [[value] for value in entries]}
    if kind in ("hash:ip", "hash:net"):
        entry["dimensions"] = ["ip" if kind == "hash:ip" else "net"]
    else:
        entry["unsupported"] = "ipset type %s (%s) is not evaluated" % (kind, path)
    if "timeout" in options:
        entry["unsupported"] = "ipset with a timeout (%s): its entries are runtime only" % path
    return entry


class _Builder(object):
    """Translates the permanent configuration into the chains of both families."""

    def __init__(self, config: _Config, default_zone: str, ipsets: Dict[str, Json]) -> None:
        self.config = config
        self.default_zone = default_zone
        self.ipsets = ipsets
        self.notes: List[str] = []
        self.families = {"ipv4": _Chains(), "ipv6": _Chains()}

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # --- what a zone or policy accepts ---------------------------------------------------------------

    def service_ports(self, name: str, where: str, seen: Optional[List[str]] = None) -> List[Tuple[str, str, Dict[str, str], str]]:
        """[(kind port|protocol|source-port, value, destination per family, path)] of a service and its includes."""
        seen = seen or []
        if name in seen:
            return []
        element, path = self.config.get("services", name, where)
        items: List[Tuple[str, str, Dict[str, str], str]] = []
        dest: Dict[str, str] = {}
        for child in element:
            if child.tag == "destination":
                for fam in ("ipv4", "ipv6"):
                    if child.get(fam):
                        dest[fam] = child.get(fam) or ""
        for child in element:
            if child.tag == "port":
                items.append(("port", "%s/%s" % _port_proto(child, path), dest, path))
            elif child.tag == "protocol":
                items.append(("protocol", _need(child, "value", path), dest, path))
            elif child.tag == "source-port":
                items.append(("source-port", "%s/%s" % _port_proto(child, path), dest, path))
            elif child.tag == "include":
                items.extend(self.service_ports(_need(child, "service", path), path, seen + [name]))
            elif child.tag in ("short", "description", "destination", "helper", "module", "version"):
                continue
            else:
                raise FirewalldSavedError("%s: <%s> in a service is not evaluated" % (path, child.tag))
        return items

    def _service_rules(self, name: str, where: str, family: str, head: str, action: str) -> List[Tuple[str, str, str]]:
        rules = []
        for kind, value, dest, path in self.service_ports(name, where):
            if dest and family not in dest:
                continue  # a service limited to the other family's destination
            args = head + (" -d %s" % dest[family] if dest else "")
            if kind == "protocol":
                args += " -p %s" % value
            else:
                port, proto = value.split("/", 1)
                args += " -p %s -m %s --%s %s" % (proto, proto, "dport" if kind == "port" else "sport", _port(port))
            rules.append((args + " " + action, "service %s: %s %s" % (name, kind, value), path))
        return rules

    def _element_rules(self, element: ET.Element, path: str, family: str, chain: str) -> None:
        """Services, ports, protocols and source ports of a zone or policy, accepted in CHAIN."""
        chains = self.families[family]
        for child in element:
            if child.tag == "service":
                for args, text, where in self._service_rules(_need(child, "name", path), path, family, "", "-j ACCEPT"):
                    chains.add(chain, args.strip(), "%s (%s)" % (text, _describe(element)), where)
            elif child.tag in ("port", "source-port"):
                port, proto = _port_proto(child, path)
                opt = "dport" if child.tag == "port" else "sport"
                chains.add(chain, "-p %s -m %s --%s %s -j ACCEPT" % (proto, proto, opt, _port(port)),
                           '<%s port="%s" protocol="%s"/> (%s)' % (child.tag, port, proto, _describe(element)), path)
            elif child.tag == "protocol":
                value = _need(child, "value", path)
                chains.add(chain, "-p %s -j ACCEPT" % value, '<protocol value="%s"/> (%s)' % (value, _describe(element)), path)

    def _rich(self, rule: ET.Element, path: str, family: str) -> Optional[Tuple[int, str, List[Tuple[str, str, str]]]]:
        """(priority, action class, [(args, text, path)]) of a rich rule for FAMILY, or None when it does not apply."""
        text = _describe_rule(rule)
        fam = rule.get("family")
        if fam and fam not in ("ipv4", "ipv6"):
            raise FirewalldSavedError("%s: rich rule %s: family %s is not evaluated" % (path, text, fam))
        if fam and fam != family:
            return None
        try:
            priority = int(rule.get("priority") or 0)
        except ValueError:
            raise FirewalldSavedError("%s: rich rule %s: priority %r is not a number" % (path, text, rule.get("priority")))
        head = ""
        action: Optional[str] = None
        klass = ""
        element: Optional[ET.Element] = None
        for child in rule:
            invert = (child.get("invert") or "").lower() in ("true", "yes", "1")
            neg = "! " if invert else ""
            if child.tag in ("source", "destination"):
                flag = "-s" if child.tag == "source" else "-d"
                if child.get("address"):
                    address = child.get("address") or ""
                    if _family_of(address, path) != family:
                        return None
                    head += " %s%s %s" % (neg, flag, address)
                elif child.get("ipset"):
                    name = child.get("ipset") or ""
                    if name not in self.ipsets:
                        raise FirewalldSavedError("%s: rich rule %s: ipset %s is not defined" % (path, text, name))
                    if (self.ipsets[name].get("family") == "inet6") != (family == "ipv6"):
                        return None
                    head += " -m set %s--match-set %s %s" % (neg, name, "src" if child.tag == "source" else "dst")
                else:
                    raise FirewalldSavedError("%s: rich rule %s: <%s> by %s is not evaluated"
                                              % (path, text, child.tag, ", ".join(sorted(child.attrib)) or "nothing"))
            elif child.tag in ("log", "nflog", "audit"):
                continue
            elif child.tag in ("accept", "drop", "reject"):
                limit = child.find("limit")
                if limit is not None:
                    head += " -m limit --limit %s" % _valid(limit.get("value") or "", "limit", "%s: rich rule %s: <limit value>" % (path, text))
                klass = "allow" if child.tag == "accept" else "deny"
                if child.tag == "reject":
                    kind = _valid(child.get("type") or "", "type", "%s: rich rule %s: <reject type>" % (path, text)) if child.get("type") else None
                    action = "-j REJECT" + (" --reject-with %s" % kind if kind else "")
                else:
                    action = "-j %s" % child.tag.upper()
            elif child.tag == "mark":
                return None
            elif child.tag in ("masquerade", "forward-port", "tcp-mss-clamp"):
                self.note("%s: rich rule %s: <%s> concerns forwarded traffic, not connections to the host (ignored)" % (path, text, child.tag))
                return None
            else:
                if element is not None:
                    raise FirewalldSavedError("%s: rich rule %s has two elements" % (path, text))
                element = child
        if action is None:
            return None  # log or audit only: decides nothing
        rules: List[Tuple[str, str, str]] = []
        head = head.strip()
        if element is None:
            rules.append(("%s %s" % (head, action), "rich rule %s" % text, path))
        elif element.tag == "service":
            for args, dummy, dummy2 in self._service_rules(_need(element, "name", path), path, family, head, action):
                rules.append((args.strip(), "rich rule %s" % text, path))
        elif element.tag in ("port", "source-port"):
            port, proto = _port_proto(element, path)
            opt = "dport" if element.tag == "port" else "sport"
            rules.append(("%s -p %s -m %s --%s %s %s" % (head, proto, proto, opt, _port(port), action), "rich rule %s" % text, path))
        elif element.tag == "protocol":
            rules.append(("%s -p %s %s" % (head, _need(element, "value", path), action), "rich rule %s" % text, path))
        elif element.tag in ("icmp-type", "icmp-block"):
            proto = ICMP[family]
            rules.append(("%s -p %s %s" % (head, proto, action if element.tag == "icmp-type" else
                                           "-j REJECT --reject-with %s" % REJECT_WITH[family]), "rich rule %s" % text, path))
        else:
            raise FirewalldSavedError("%s: rich rule %s: <%s> is not evaluated" % (path, text, element.tag))
        return priority, klass, [(args.strip(), t, p) for args, t, p in rules]

    def _content(self, element: ET.Element, path: str, family: str, chain: str, target: Optional[str],
                 policies: Tuple[List[Tuple[str, str]], List[Tuple[str, str]]] = ([], [])) -> None:
        """The chain of a zone or policy as firewalld 1.x writes it: the policies of priority < 0 (POLICIES_pre),
        rich rules of priority < 0, deny, allow, rich rules of priority > 0, the policies of priority >= 0
        (POLICIES_post), then its target."""
        chains = self.families[family]
        chains.chain(chain)
        for name, where in policies[0]:
            chains.add(chain, "-j IN_policy_%s" % name, "policy %s (POLICIES_pre of %s)" % (name, _describe(element)), where)
        Group = List[Tuple[int, List[Tuple[str, str, str]]]]
        pre: Group = []
        deny: Group = []
        allow: Group = []
        post: Group = []
        for child in element:
            if child.tag == "rule":
                rich = self._rich(child, path, family)
                if rich is None:
                    continue
                priority, klass, rules = rich
                if priority < 0:
                    pre.append((priority, rules))
                elif priority > 0:
                    post.append((priority, rules))
                else:
                    (deny if klass == "deny" else allow).append((0, rules))
            elif child.tag == "icmp-block":
                name = _need(child, "name", path)
                chains_rules = (0, [("-p %s -j REJECT --reject-with %s" % (ICMP[family], REJECT_WITH[family]),
                                     '<icmp-block name="%s"/> (%s)' % (name, _describe(element)), path)])
                deny.append(chains_rules)
        for group in (sorted(pre, key=lambda item: item[0]), deny):
            for dummy, rules in group:
                for args, text, where in rules:
                    chains.add(chain, args, text, where)
        for dummy, rules in allow:
            for args, text, where in rules:
                chains.add(chain, args, text, where)
        self._element_rules(element, path, family, chain)
        for dummy, rules in sorted(post, key=lambda item: item[0]):
            for args, text, where in rules:
                chains.add(chain, args, text, where)
        for name, where in policies[1]:
            chains.add(chain, "-j IN_policy_%s" % name, "policy %s (POLICIES_post of %s)" % (name, _describe(element)), where)
        desc = "target %s (%s)" % (target, _describe(element))
        if target == "ACCEPT":
            chains.add(chain, "-j ACCEPT", desc, path)
        elif target == "DROP":
            chains.add(chain, "-j DROP", desc, path)
        elif target in ("%%REJECT%%", "REJECT"):
            chains.add(chain, "-j REJECT --reject-with %s" % REJECT_WITH[family], desc, path)
        elif target == "default":
            chains.add(chain, "-p %s -j ACCEPT" % ICMP[family], "ICMP of %s (target default)" % _describe(element), path)
            chains.add(chain, "-j REJECT --reject-with %s" % REJECT_WITH[family], desc, path)

    # --- zones, policies, direct rules ---------------------------------------------------------------

    def zones(self) -> Tuple[List[Tuple[int, str, str, str, str]], Dict[str, List[str]]]:
        """([(ingress priority, zone, match kind, value, path)] of the source bindings, {zone: interfaces})."""
        sources: List[Tuple[int, str, str, str, str]] = []
        interfaces: Dict[str, List[str]] = {}
        owner: Dict[str, str] = {}
        for name in self.config.names("zones"):
            element, path = self.config.get("zones", name, "zones")
            if element.tag != "zone":
                raise FirewalldSavedError("%s: the root element is <%s>, not <zone>" % (path, element.tag))
            target = element.get("target") or "default"
            if target not in _ZONE_TARGETS:
                raise FirewalldSavedError("%s: zone target %s is not evaluated" % (path, target))
            try:
                prio = int(element.get("ingress-priority") or element.get("priority") or 0)
            except ValueError:
                raise FirewalldSavedError("%s: ingress-priority %r is not a number" % (path, element.get("ingress-priority")))
            for child in element:
                if child.tag == "interface":
                    iface = _need(child, "name", path)
                    if iface in owner:
                        raise FirewalldSavedError("%s: interface %s is also in zone %s" % (path, iface, owner[iface]))
                    owner[iface] = name
                    interfaces.setdefault(name, []).append(iface)
                elif child.tag == "source":
                    if child.get("address"):
                        sources.append((prio, name, "address", child.get("address") or "", path))
                    elif child.get("ipset"):
                        sources.append((prio, name, "ipset", child.get("ipset") or "", path))
                    else:
                        raise FirewalldSavedError("%s: <source %s> is not evaluated" % (path, " ".join(sorted(child.attrib))))
                elif child.tag not in _IGNORED + ("service", "port", "protocol", "source-port", "rule", "icmp-block"):
                    raise FirewalldSavedError("%s: <%s> in a zone is not evaluated" % (path, child.tag))
                elif child.tag in ("masquerade", "forward-port"):
                    self.note("%s: <%s> concerns forwarded traffic, not connections to the host (ignored)" % (path, child.tag))
        _overlaps(sources)
        return sorted(sources, key=lambda item: item[0]), interfaces

    def build_zones(self) -> None:
        sources, interfaces = self.zones()
        policies = self.policies()
        used = set([self.default_zone] + [item[1] for item in sources] + list(interfaces))
        for family, chains in self.families.items():
            chains.chain("INPUT_ZONES")
            for dummy, zone, kind, value, path in sources:
                if kind == "address":
                    if _family_of(value, path) != family:
                        continue
                    match = "-s %s" % value
                else:
                    if value not in self.ipsets:
                        raise FirewalldSavedError("%s: source ipset %s is not defined" % (path, value))
                    if (self.ipsets[value].get("family") == "inet6") != (family == "ipv6"):
                        continue
                    match = "-m set --match-set %s src" % value
                chains.add("INPUT_ZONES", "%s -g IN_%s" % (match, zone), '<source %s="%s"/> of zone %s' % (kind, value, zone), path)
            for zone in sorted(interfaces):
                path = self.config.get("zones", zone, "zones")[1]
                for iface in interfaces[zone]:
                    chains.add("INPUT_ZONES", "-i %s -g IN_%s" % (iface, zone), '<interface name="%s"/> of zone %s' % (iface, zone), path)
            path = self.config.get("zones", self.default_zone, "DefaultZone in %s" % CONF)[1]
            chains.add("INPUT_ZONES", "-g IN_%s" % self.default_zone, "DefaultZone=%s (%s)" % (self.default_zone, CONF), path)
            for zone in sorted(used):
                element, path = self.config.get("zones", zone, "zones")
                applies = [(prio, name, where) for prio, name, ingress, where in policies if "ANY" in ingress or zone in ingress]
                self._content(element, path, family, "IN_%s" % zone, element.get("target") or "default",
                              ([(n, w) for p, n, w in applies if p < 0], [(n, w) for p, n, w in applies if p >= 0]))
            for dummy, name, dummy2, path in policies:
                element = self.config.get("policies", name, "policies")[0]
                self._content(element, path, family, "IN_policy_%s" % name, element.get("target") or "CONTINUE")

    def policies(self) -> List[Tuple[int, str, List[str], str]]:
        """[(priority, name, ingress zones, path)] of the policies whose egress zone is HOST, in priority order."""
        found = []
        for name in self.config.names("policies"):
            element, path = self.config.get("policies", name, "policies")
            egress = [_need(c, "name", path) for c in element.findall("egress-zone")]
            ingress = [_need(c, "name", path) for c in element.findall("ingress-zone")]
            if "HOST" not in egress:
                continue  # forwarded or output traffic: not packets to the host
            target = element.get("target") or "CONTINUE"
            if target not in _POLICY_TARGETS:
                raise FirewalldSavedError("%s: policy target %s is not evaluated" % (path, target))
            try:
                priority = int(element.get("priority") or -1)
            except ValueError:
                raise FirewalldSavedError("%s: policy priority %r is not a number" % (path, element.get("priority")))
            for child in element:
                if child.tag not in _IGNORED + ("service", "port", "protocol", "source-port", "rule", "icmp-block",
                                                "ingress-zone", "egress-zone"):
                    raise FirewalldSavedError("%s: <%s> in a policy is not evaluated" % (path, child.tag))
            found.append((priority, name, ingress, path))
        return sorted(found, key=lambda item: (item[0], item[1]))

    def build_direct(self, text: Optional[str], backend: str) -> Dict[str, List[Tuple[int, str, str]]]:
        """{family: [(priority, chain, args)]} of direct.xml's filter rules (INPUT and the chains it declares)."""
        rules: Dict[str, List[Tuple[int, str, str]]] = {"ipv4": [], "ipv6": []}
        if text is None:
            return rules
        root = parse_xml(DIRECT, text)
        declared: Set[Tuple[str, str]] = set()
        for child in root:
            fam = {"ipv4": "ipv4", "ipv6": "ipv6"}.get(child.get("ipv") or "")
            if child.tag == "passthrough":
                raise FirewalldSavedError("%s: <passthrough> %s is not evaluated" % (DIRECT, (child.text or "").strip()))
            if child.tag not in ("chain", "rule"):
                raise FirewalldSavedError("%s: <%s> is not evaluated" % (DIRECT, child.tag))
            table, chain = child.get("table") or "", child.get("chain") or ""
            if fam is None or table != "filter":
                raise FirewalldSavedError("%s: direct %s ipv=%s table=%s chain=%s is not evaluated (only the filter table of ipv4 and ipv6)"
                                          % (DIRECT, child.tag, child.get("ipv"), table, chain))
            if child.tag == "chain":
                declared.add((fam, chain))
                continue
            if chain != "INPUT" and (fam, chain) not in declared:
                raise FirewalldSavedError("%s: direct rule in chain %s is not evaluated (only INPUT and the chains direct.xml declares)"
                                          % (DIRECT, chain))
            try:
                priority = int(child.get("priority") or 0)
                args = " ".join(shlex.quote(word) for word in shlex.split(child.text or ""))
            except ValueError as exc:
                raise FirewalldSavedError("%s: direct rule %r: %s" % (DIRECT, child.text, exc))
            rules[fam].append((priority, chain, args))
        for fam in rules:
            rules[fam].sort(key=lambda item: item[0])
            for name in sorted(chain for f, chain in declared if f == fam):
                rules[fam].insert(0, (-(2 ** 31), name, ""))
        return rules


def _describe(element: ET.Element) -> str:
    return "%s %s" % (element.tag, element.get("name") or "")


def _describe_rule(rule: ET.Element) -> str:
    return " ".join([ET.tostring(rule, encoding="unicode").split(">", 1)[0] + ">"] +
                    ["<%s%s>" % (c.tag, "".join(' %s="%s"' % kv for kv in sorted(c.attrib.items()))) for c in rule])


def _overlaps(sources: List[Tuple[int, str, str, str, str]]) -> None:
    """Two zones' source networks that overlap at one ingress priority: firewalld's order between them is not known."""
    nets = [(p, z, ipaddress.ip_network(v, strict=False), path) for p, z, k, v, path in sources if k == "address" and _family_of(v, path)]
    for i, (p1, z1, n1, path1) in enumerate(nets):
        for p2, z2, n2, path2 in nets[i + 1:]:
            if p1 == p2 and z1 != z2 and n1.version == n2.version and n1.overlaps(n2) and n1 != n2:
                raise FirewalldSavedError("%s and %s: sources %s (zone %s) and %s (zone %s) overlap at one ingress priority: "
                                          "which zone firewalld picks is not evaluated" % (path1, path2, n1, z1, n2, z2))


NM_DIRS = ("/etc/NetworkManager/system-connections", "/run/NetworkManager/system-connections")
IFCFG_DIR = "/etc/sysconfig/network-scripts"
_NM_ZONE = re.compile(r"^\s*zone\s*=\s*(\S+)\s*$", re.MULTILINE)
_IFCFG_ZONE = re.compile(r"^\s*ZONE\s*=\s*[\"']?([^\"'\s]+)", re.MULTILINE)


def networkmanager_zones(read: Reader, listdir: Lister) -> None:
    """NetworkManager gives firewalld a connection's zone at runtime (``zone=`` of a profile, ``ZONE=`` of an
    ifcfg file), over D-Bus, not in firewalld's files: a profile that names one is an error naming it.
    Only that line is read of a profile (they hold secrets too); an empty zone means the default zone."""
    for folder in NM_DIRS:
        for name in listdir(folder):
            path = "%s/%s" % (folder, name)
            match = _NM_ZONE.search(read(path) or "")
            if match:
                raise FirewalldSavedError("%s: NetworkManager assigns zone %s to this connection at runtime; which interface it "
                                          "binds is not read from firewalld's files" % (path, match.group(1)))
    for name in listdir(IFCFG_DIR):
        if name.startswith("ifcfg-"):
            path = "%s/%s" % (IFCFG_DIR, name)
            match = _IFCFG_ZONE.search(read(path) or "")
            if match:
                raise FirewalldSavedError("%s: NetworkManager assigns zone %s to this connection at runtime; which interface it "
                                          "binds is not read from firewalld's files" % (path, match.group(1)))


def firewalld_boot(read: Reader, listdir: Lister) -> Json:
    """{"tables", "files", "notes", "backend", "default_zone"} of the firewall firewalld installs at its start.

    Raises FirewalldSavedError naming the construct and the file that is not evaluated.
    """
    conf = parse_conf(read(CONF))
    default_zone = conf.get("DefaultZone") or "public"
    backend = (conf.get("FirewallBackend") or "nftables").lower()
    if backend not in ("nftables", "iptables"):
        raise FirewalldSavedError("%s: FirewallBackend=%s is not evaluated" % (CONF, backend))
    networkmanager_zones(read, listdir)
    config = _Config(read, listdir)
    ipsets: Dict[str, Json] = {}
    for name in config.names("ipsets"):
        element, path = config.get("ipsets", name, "ipsets")
        ipsets[name] = ipset_entries(element, path)
    builder = _Builder(config, default_zone, ipsets)
    if (conf.get("AllowZoneDrifting") or "").lower() == "yes":
        builder.note("%s: AllowZoneDrifting=yes is ignored by firewalld 1.0 and later (evaluated as no)" % CONF)
    builder.build_zones()
    direct = builder.build_direct(read(DIRECT), backend)
    tables: List[Json] = []
    for family, ipfamily in FAMILIES:
        chains = builder.families[ipfamily]
        head = [("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "established and related connections (firewalld)", CONF),
                ("-i lo -j ACCEPT", "loopback (firewalld)", CONF),
                ("-m conntrack --ctstate INVALID -j DROP", "invalid packets (firewalld)", CONF)]
        body: List[Tuple[str, str, str]] = []
        if direct[ipfamily] and backend == "iptables":
            body.append(("-j INPUT_direct", "direct rules", DIRECT))
        body.append(("-j INPUT_ZONES", "firewalld's zones", CONF))
        body.append(("-j REJECT --reject-with %s" % REJECT_WITH[ipfamily], "the final reject of firewalld's INPUT", CONF))
        main = _Chains()
        for args, text, path in head + body:
            main.add("INPUT", args, text, path)
        for name in chains.order:
            for rule in chains.rules[name]:
                main.add(name, *rule)
            main.chain(name)
        direct_chains = _Chains()
        for dummy, chain, args in direct[ipfamily]:
            target = direct_chains if backend == "nftables" else main
            name = chain if backend == "nftables" or chain != "INPUT" else "INPUT_direct"
            if args:
                target.add(name, args, "direct rule %s" % args, DIRECT)
            else:
                target.chain(name)
        tables.extend(_tables(main, family, "firewalld" if backend == "nftables" else "filter", ipsets))
        if backend == "nftables" and direct[ipfamily]:
            tables.extend(_tables(direct_chains, family, "filter", ipsets))
    return {"tables": tables, "notes": builder.notes, "backend": backend, "default_zone": default_zone,
            "files": sorted(set(path for dummy, path in config.cache.values()) | set([CONF]))}


def _tables(chains: _Chains, family: str, name: str, ipsets: Dict[str, Json]) -> List[Json]:
    lines = ["*filter"]
    origin: Dict[int, Tuple[str, str]] = {}
    for chain in chains.order:
        lines.append(":%s %s [0:0]" % (chain, "ACCEPT" if chain == "INPUT" else "-"))
    for chain in chains.order:
        for args, text, path in chains.rules[chain]:
            # -p tcp --dport 22 as iptables-save writes it (-p tcp -m tcp --dport 22): direct rules are written by hand
            lines.append(implicit_matches("-A %s %s" % (chain, args)))
            origin[len(lines)] = (text, path)
    lines.append("COMMIT")
    try:
        parsed, dummy3 = parse_save("\n".join(lines) + "\n", family, "firewalld", ipsets)
    except IptablesParseError as exc:
        number = re.search(r"line (\d+)", str(exc))
        text, path = origin.get(int(number.group(1)) if number else 0, ("a rule", "firewalld's files"))
        raise FirewalldSavedError("%s: %s cannot be read as a rule: %s" % (path, text, re.sub(r"^firewalld line \d+: ", "", str(exc))))
    for table in parsed:
        table.update(name=name, handle=None)
        for chain in table["chains"]:
            chain["handle"] = None
            if chain["name"] == "INPUT" and name == "firewalld":
                chain["priority"] = 10  # firewalld's nftables chains run after iptables' (filter + 10)
            for rule, (args, text, path) in zip(chain["rules"], chains.rules.get(chain["name"], [])):
                rule.update(text=text, path=path)
    return parsed
