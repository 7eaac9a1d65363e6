# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The contract of a host: ``portproof_services`` plus every ``portproof_services__*`` variable.

``load_contract`` merges and validates it and returns the services normalised (defaults filled
in, ``bind``/``allow_from``/``deny_from`` parsed). Every problem is collected and reported at
once, each naming the host, the variable, the item and the reason.

The shape of each item (its keys and their types, at every level) is one argument spec validated
by Ansible's ``ArgumentSpecValidator`` (``_contract_spec.py``); this file checks only what a spec
cannot say: ranges, regular expressions, addresses, inventory groups and hosts, unique names, and
the combinations of keys.
"""

from __future__ import annotations

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import BIND_CLASSES, BindEntry, parse_network
from ansible_collections.portproof.validate.plugins.plugin_utils._contract_spec import check_shape, mask, secret_texts, shown
from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import TCP_PROTOCOLS, UDP_PROTOCOLS

from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# A service of the contract as load_contract returns it: name, port (an int or 'auto'), proto, bind (BindEntry list),
# process, user, publish (None or {container, container_port, image, host_ip}), allow_from and deny_from (Source
# lists), check (the check block as given, without the keys given as null), variable (where it was declared).
Service = Dict[str, Any]
# One parsed allow_from/deny_from entry: {kind: group|host|cidr|controller|public, name[, network]}.
Source = Dict[str, str]
# The problems found so far, each naming where.
Problems = List[str]

# check.protocol cannot be combined with these (port_probe sends its own handshake instead)
PROTOCOL_EXCLUDES = ("http", "tls", "send", "expect", "ssh")
ALLOW_WORDS = ("controller",)
DENY_WORDS = ("public",)
_PORT_SPEC = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp))?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP method or header name (RFC 9110 token)
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_SCOPED = re.compile(r"^([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)%[^%/\s]+$")  # fe80::1%eth0
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")  # a host name label (RFC 1123 2.1)


class ContractError(ValueError):
    """The contract of a host is wrong; ``problems`` lists every reason, each fully located."""

    def __init__(self, host: str, problems: List[str]) -> None:
        self.host = host
        self.problems = problems
        super(ContractError, self).__init__("invalid portproof contract for host %s:\n  - %s" % (host, "\n  - ".join(problems)))


def contract_variables(hostvars: Mapping[str, Any]) -> List[Tuple[str, Any]]:
    """The contract variables of a host, by name, in name order (portproof_services first)."""
    names = sorted(name for name in hostvars if name == "portproof_services" or name.startswith("portproof_services__"))
    return [(name, hostvars[name]) for name in names]


def parse_port_spec(spec: object) -> Tuple[int, int, Tuple[str, ...]]:
    """'22/tcp', '8000-8010/udp' or '53' -> (first, last, protos). Raises ValueError naming the spec."""
    match = _PORT_SPEC.match(str(spec).strip())
    if not match:
        raise ValueError("port spec %r is not PORT[-PORT][/tcp|/udp]" % (spec,))
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if not 1 <= first <= last <= 65535:
        raise ValueError("port spec %r is outside 1-65535 or its range is reversed" % (spec,))
    protos = (match.group(3),) if match.group(3) else ("tcp", "udp")
    return first, last, protos


def _port(value: int, where: str, problems: Problems) -> Optional[int]:
    if not 1 <= value <= 65535:
        problems.append("%s: port %d is out of range 1-65535" % (where, value))
        return None
    return value


def _bind(value: Any, where: str, problems: Problems) -> List[BindEntry]:
    parsed: List[BindEntry] = []
    for entry in value if isinstance(value, list) else [value]:
        if not entry:
            problems.append("%s: bind entry %r is not a string" % (where, entry))
        elif entry in BIND_CLASSES:
            parsed.append({"class": entry})
        elif entry in ("0.0.0.0", "::"):  # the wildcard of a family: every address of it
            parsed.append({"network": entry + "/0"})
        else:
            try:
                parsed.append({"network": str(_network(entry))})
            except ValueError:
                problems.append("%s: bind %r is neither one of %s nor an IP address or CIDR" % (where, entry, ", ".join(BIND_CLASSES)))
    return parsed


def _network(text: str) -> Any:
    """parse_network of TEXT; a scoped IPv6 address (fe80::1%eth0) is its address: the zone only
    names the interface, and listeners and firewall rules are compared by address."""
    match = _SCOPED.match(text.strip())
    return parse_network(match.group(1) if match else text)


def _scoped_hint(text: object) -> str:
    match = _SCOPED.match(str(text).strip())
    return " (a scoped address: give it without %s)" % str(text).strip()[len(match.group(1)):] if match else ""


def _sources(value: List[str], key: str, where: str, problems: Problems, groups: Collection[str], hosts: Collection[str]) -> List[Source]:
    words = ALLOW_WORDS if key == "allow_from" else DENY_WORDS
    parsed: List[Source] = []
    for entry in value:
        if not entry:
            problems.append("%s: %s entry %r is not a string" % (where, key, entry))
        elif entry in words:
            parsed.append({"kind": entry, "name": entry})
        elif entry in groups:
            parsed.append({"kind": "group", "name": entry})
        elif entry in hosts:
            parsed.append({"kind": "host", "name": entry})
        else:
            try:
                parsed.append({"kind": "cidr", "name": entry, "network": str(_network(entry))})
            except ValueError:
                other = ALLOW_WORDS if key == "deny_from" else DENY_WORDS
                hint = " ('%s' is only valid in %s)" % (entry, "allow_from" if key == "deny_from" else "deny_from") \
                    if entry in other else ""
                problems.append("%s: %s entry %r is not an inventory group, an inventory host, a CIDR or %s%s"
                                % (where, key, entry, "/".join(words), hint))
    return parsed


def _at_least(block: Mapping[str, Any], key: str, where: str, problems: Problems, minimum: int = 1) -> None:
    if key in block and block[key] < minimum:
        problems.append("%s: %s must be an integer >= %d, got %r" % (where, key, minimum, block[key]))


def _regex(value: str, what: str, where: str, problems: Problems) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        problems.append("%s: %s %r is not a valid regular expression (%s)" % (where, what, value, exc))


def _check(check: Dict[str, Any], proto: Optional[str], where: str, problems: Problems) -> None:
    """The values of a check block whose shape is valid (_contract_spec): ranges, regular expressions, combinations."""
    http = check.get("http", {})
    if "status" in http and not 100 <= http["status"] <= 599:
        problems.append("%s.check.http: status must be an HTTP status code 100-599, got %r" % (where, http["status"]))
    if "body" in http:
        _regex(http["body"], "check.http.body", where, problems)
    if "expect" in check:
        _regex(check["expect"], "check.expect", where, problems)
    _at_least(check, "max_ms", where + ".check", problems)
    if "protocol" in check:
        combined = [key for key in PROTOCOL_EXCLUDES if key in check]
        if combined:
            problems.append("%s: check.protocol cannot be combined with %s (the protocol handshake is its own request)"
                            % (where, ", ".join(combined)))
        allowed = UDP_PROTOCOLS if proto == "udp" else TCP_PROTOCOLS
        if proto is not None and check["protocol"] not in allowed:
            problems.append("%s: check.protocol %s is not probed over %s (%s: %s)" % (where, check["protocol"], proto, proto, ", ".join(allowed)))
    tls = check.get("tls", {})
    _at_least(tls, "min_days", where + ".check.tls", problems, minimum=0)
    load = check.get("load", {})
    for key in ("concurrency", "requests", "p95_ms"):
        _at_least(load, key, where + ".check.load", problems)
    _at_least(load, "max_errors", where + ".check.load", problems, minimum=0)
    keys = check.get("ssh", {}).get("host_key")
    if keys is not None and (keys == [] or not all(k.startswith("SHA256:") for k in (keys if isinstance(keys, list) else [keys]))):
        problems.append("%s.check.ssh: host_key must be a SHA256:... fingerprint or a list of them, got %r" % (where, keys))
    _http_values(http, where + ".check.http", problems)
    _tls_values(tls, where + ".check.tls", problems)


def _http_values(http: Mapping[str, Any], where: str, problems: Problems) -> None:
    """Wrong values of check.http; header values and the password are never shown."""
    if "method" in http and not _TOKEN.match(http["method"]):
        problems.append("%s: method must be an HTTP method such as GET or POST, got %r" % (where, http["method"]))
    path = http.get("path", "/")
    if not (path.startswith("/") or path == "*") or re.search(r"[\s\x00-\x1f\x7f]", path):
        problems.append("%s: path must start with / and contain no spaces or control characters, got %r" % (where, path))
    headers = http.get("headers", {})
    for name in sorted(headers, key=str):
        value = headers[name]
        if not isinstance(name, str) or not _TOKEN.match(name) or not isinstance(value, (str, int)) or isinstance(value, bool) \
                or _LINE_BREAK.search(str(value)):
            problems.append("%s: header %r must be a header name with a one-line string value (the value is not shown)" % (where, name))
    if "json_query" in http and not http["json_query"].strip():
        problems.append("%s: json_query must be a JMESPath expression string, got %r" % (where, http["json_query"]))
    if "host" in http and not (http["host"] and not _LINE_BREAK.search(http["host"])):
        problems.append("%s: host must be a host name for the Host header, got %r" % (where, http["host"]))
    auth = http.get("basic_auth", {})
    if auth and not auth.get("user") or any(_LINE_BREAK.search(v) for v in auth.values()):
        problems.append("%s: basic_auth must be a mapping with user and password strings (the values are not shown)" % where)


def _tls_values(tls: Mapping[str, Any], where: str, problems: Problems) -> None:
    for key in ("ca", "hostname"):
        if key in tls and not tls[key]:
            problems.append("%s: %s must be a non-empty string, got %r" % (where, key, tls[key]))


def _publish(publish: Dict[str, Any], named: str, problems: Problems) -> Dict[str, Any]:
    if publish.get("container") == "":
        problems.append("%s: publish.container is required (the container's name)" % named)
    if "host_ip" in publish:
        try:
            parse_network(publish["host_ip"])
        except ValueError:
            problems.append("%s: publish.host_ip %r is not an IP address%s" % (named, publish["host_ip"], _scoped_hint(publish["host_ip"])))
    if publish.get("image") == "":
        problems.append("%s: publish.image must be an image reference (name:tag or name@sha256:...), got ''" % named)
    port = publish.get("container_port")
    return {
        "container": publish.get("container"),
        "container_port": None if port is None else _port(port, named + ".publish.container_port", problems),
        "image": publish.get("image"),
        "host_ip": publish.get("host_ip"),
    }


def _service(item: Any, where: str, problems: Problems, groups: Collection[str], hosts: Collection[str]) -> Optional[Service]:
    if not isinstance(item, dict):
        problems.append("%s: must be a mapping with at least name and port, got %s" % (where, shown(item)))
        return None
    named = "%s (%s)" % (where, item["name"]) if isinstance(item.get("name"), str) else where
    given, found = check_shape(item, where, named)
    mine: Problems = []
    if given.get("name") == "":
        mine.append("%s: name is required and must be a non-empty string" % where)
    proto = given.get("proto") or ("tcp" if item.get("proto") is None else None)  # None: a wrong proto (reported)
    service: Service = {
        "name": given.get("name"),
        "proto": proto,
        "bind": _bind(given.get("bind", "any"), named, mine),
        "process": given.get("process"),
        "user": given.get("user"),
        "publish": None,
        "allow_from": _sources(given.get("allow_from", []), "allow_from", named, mine, groups, hosts),
        "deny_from": _sources(given.get("deny_from", []), "deny_from", named, mine, groups, hosts),
        "check": given.get("check", {}),
        "names": _names(given["names"], named, mine) if given.get("names") is not None else [],
    }
    _check(service["check"], proto, named, mine)
    if "process" in given:
        _regex(given["process"], "process", named, mine)
    if "publish" in given:
        service["publish"] = _publish(given["publish"], named, mine)
    if given.get("restart") is not None:  # the restart drill's limit (role restart_drill); absent unless given
        max_s = given["restart"].get("max_s", 30)
        if max_s is None or not 0 < max_s <= 3600:
            mine.append("%s: restart must be a mapping {max_s: SECONDS} with max_s above 0 and at most 3600, got max_s %s"
                        % (named, shown(max_s)))
        else:
            service["restart"] = {"max_s": float(max_s)}
    if "port" in given:
        service["port"] = given["port"] if given["port"] == "auto" else _port(given["port"], named, mine)
        if given["port"] == "auto" and item.get("publish") is None:
            mine.append("%s: port 'auto' needs publish (the container whose published port it is)" % named)
    problems.extend(found + [problem for problem in mask(mine, secret_texts(item)) if problem not in found])
    return service


def dns_name_problem(name: object) -> Optional[str]:
    """Why NAME is not a DNS host name as clients use it (RFC 1123: labels of letters, digits and hyphens, not
    starting or ending with a hyphen, at most 63 characters each and 253 in all, one trailing dot allowed; not an
    IP address), or None."""
    if not isinstance(name, str) or not name:
        return "is not a non-empty string"
    text = name[:-1] if name.endswith(".") else name
    if len(text) > 253:
        return "is longer than 253 characters"
    labels = text.split(".")
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad:
        return "has the label %r: each label is 1-63 letters, digits or hyphens, not starting or ending with a hyphen (RFC 1123)" % bad[0]
    if labels[-1].isdigit() or ":" in name:
        return "is an IP address or ends in a numeric label; names lists the DNS names clients use"
    return None


def _names(value: Any, where: str, problems: Problems) -> List[str]:
    if not isinstance(value, list) or not value:
        problems.append("%s: names must be a non-empty list of DNS names, got %r" % (where, value))
        return []
    for index, name in enumerate(value):
        problem = dns_name_problem(name)
        if problem is not None:
            problems.append("%s: names[%d] %r %s" % (where, index, name, problem))
    return [name for name in value if isinstance(name, str)]


def _is_boolean(value: object) -> bool:
    """True if Ansible's boolean conversion takes VALUE (true, false, 'false', 'no', 'on', 0, ...): a variable given
    with -e is a string."""
    try:
        boolean(value, strict=True)
    except TypeError:
        return False
    return True


def load_contract(host: str, variables: Iterable[Tuple[str, Any]], groups: Collection[str], hosts: Collection[str],
                  strict: object = False, ignore: Optional[Sequence[object]] = None, address: Optional[str] = None) -> List[Service]:
    """Merge and validate a host's contract variables [(name, value), ...]; raise ContractError."""
    problems: Problems = []
    services: List[Service] = []
    seen: Dict[str, str] = {}
    for name, value in variables:
        if value is None:
            continue
        if not isinstance(value, list):
            problems.append("%s: must be a list of services, got %s" % (name, type(value).__name__))
            continue
        for index, item in enumerate(value):
            where = "%s[%d]" % (name, index)
            service = _service(item, where, problems, groups, hosts)
            if service is None:
                continue
            service["variable"] = where
            if not isinstance(service["name"], str):
                pass  # reported by _service: name must be a non-empty string
            elif service["name"] in seen:
                problems.append("%s (%s): name is already used by %s; names are unique per host"
                                % (where, service["name"], seen[service["name"]]))
            elif service["name"]:
                seen[service["name"]] = where
            services.append(service)
    if not _is_boolean(strict):
        problems.append("portproof_strict: must be true or false (or what Ansible takes for them: yes, no, on, off, 1, 0), "
                        "got %r" % (strict,))
    for index, spec in enumerate(ignore or []):
        try:
            parse_port_spec(spec)
        except ValueError as exc:
            problems.append("portproof_ignore[%d]: %s" % (index, exc))
    if address not in (None, ""):
        try:
            parse_network(address, host_only=True)
        except ValueError:
            problems.append("portproof_address: %r is not an IP address%s" % (address, _scoped_hint(address)))
    if problems:
        raise ContractError(host, problems)
    return services
