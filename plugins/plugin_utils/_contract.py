# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The contract of a host: ``portproof_services`` plus every ``portproof_services__*`` variable.

``load_contract`` merges and validates it and returns the services normalised (defaults filled
in, ``bind``/``allow_from``/``deny_from`` parsed). Every problem is collected and reported at
once, each naming the host, the variable, the item and the reason.
"""

from __future__ import annotations

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import BIND_CLASSES, BindEntry, parse_network
from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import PROTOCOLS, TCP_PROTOCOLS, UDP_PROTOCOLS

from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# A service of the contract as load_contract returns it: name, port (an int or 'auto'), proto, bind (BindEntry list),
# process, user, publish (None or {container, container_port, image, host_ip}), allow_from and deny_from (Source
# lists), check (the check block as given), variable (where it was declared).
Service = Dict[str, Any]
# One parsed allow_from/deny_from entry: {kind: group|host|cidr|controller|public, name[, network]}.
Source = Dict[str, str]
# The problems found so far, each naming where.
Problems = List[str]

SERVICE_KEYS = ("name", "port", "proto", "bind", "process", "user", "publish", "allow_from", "deny_from", "check", "restart")
PUBLISH_KEYS = ("container", "container_port", "image", "host_ip")
CHECK_KEYS = ("http", "tls", "send", "expect", "ssh", "protocol", "max_ms", "load")
# check.protocol cannot be combined with these (port_probe sends its own handshake instead)
PROTOCOL_EXCLUDES = ("http", "tls", "send", "expect", "ssh")
HTTP_KEYS = ("method", "path", "status", "headers", "body", "json_query", "host", "basic_auth")
TLS_KEYS = ("min_days", "verify", "ca", "hostname", "min_version")
SSH_KEYS = ("auth_methods", "host_key")
LOAD_KEYS = ("concurrency", "requests", "p95_ms", "max_errors")
ALLOW_WORDS = ("controller",)
DENY_WORDS = ("public",)
_PORT_SPEC = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp))?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP method or header name (RFC 9110 token)
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_SCOPED = re.compile(r"^([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)%[^%/\s]+$")  # fe80::1%eth0
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port(value: Any, where: str, problems: Problems, allow_auto: bool = False) -> Any:
    if allow_auto and value == "auto":
        return value
    if not _is_int(value):
        problems.append("%s: port %r is not an integer%s" % (where, value, " or 'auto'" if allow_auto else ""))
        return None
    if not 1 <= value <= 65535:
        problems.append("%s: port %d is out of range 1-65535" % (where, value))
        return None
    return value


def _unknown_keys(item: Iterable[Any], allowed: Sequence[str], where: str, problems: Problems) -> None:
    unknown = sorted(str(k) for k in item if k not in allowed)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        problems.append("%s: unknown key%s %s (allowed: %s)" % (where, plural, ", ".join(unknown), ", ".join(allowed)))


def _bind(value: Any, where: str, problems: Problems) -> List[BindEntry]:
    values = value if isinstance(value, list) else [value]
    parsed: List[BindEntry] = []
    for entry in values:
        if not isinstance(entry, str) or not entry:
            problems.append("%s: bind entry %r is not a string" % (where, entry))
            continue
        if entry in BIND_CLASSES:
            parsed.append({"class": entry})
            continue
        if entry in ("0.0.0.0", "::"):  # the wildcard of a family: every address of it
            parsed.append({"network": entry + "/0"})
            continue
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


def _sources(value: Any, key: str, where: str, problems: Problems, groups: Collection[str], hosts: Collection[str]) -> List[Source]:
    words = ALLOW_WORDS if key == "allow_from" else DENY_WORDS
    if not isinstance(value, list):
        problems.append("%s: %s must be a list of groups, hosts, CIDRs or %s" % (where, key, "/".join(words)))
        return []
    parsed: List[Source] = []
    for entry in value:
        if not isinstance(entry, str) or not entry:
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


def _positive_int(block: Mapping[str, Any], key: str, where: str, problems: Problems, minimum: int = 1) -> None:
    if key in block and (not _is_int(block[key]) or block[key] < minimum):
        problems.append("%s: %s must be an integer >= %d, got %r" % (where, key, minimum, block[key]))


def _regex(value: Any, what: str, where: str, problems: Problems) -> None:
    if not isinstance(value, str):
        problems.append("%s: %s must be a regular expression string, got %r" % (where, what, value))
        return
    try:
        re.compile(value)
    except re.error as exc:
        problems.append("%s: %s %r is not a valid regular expression (%s)" % (where, what, value, exc))


def _block(value: Mapping[str, Any], key: str) -> Dict[str, Any]:
    """The mapping VALUE[KEY], or {} when it is missing or not a mapping (that is reported where it is checked)."""
    block = value.get(key)
    return block if isinstance(block, dict) else {}


def _check(value: Any, where: str, problems: Problems) -> Dict[str, Any]:
    if not isinstance(value, dict):
        problems.append("%s: check must be a mapping" % where)
        return {}
    _unknown_keys(value, CHECK_KEYS, where + ".check", problems)
    for key, allowed in (("http", HTTP_KEYS), ("tls", TLS_KEYS), ("ssh", SSH_KEYS), ("load", LOAD_KEYS)):
        if key in value:
            if not isinstance(value[key], dict):
                problems.append("%s.check: %s must be a mapping" % (where, key))
                continue
            _unknown_keys(value[key], allowed, "%s.check.%s" % (where, key), problems)
    http = _block(value, "http")
    if "status" in http and (not _is_int(http["status"]) or not 100 <= http["status"] <= 599):
        problems.append("%s.check.http: status must be an HTTP status code 100-599, got %r" % (where, http["status"]))
    if "body" in http:
        _regex(http["body"], "check.http.body", where, problems)
    if "expect" in value:
        _regex(value["expect"], "check.expect", where, problems)
    if "send" in value and not isinstance(value["send"], str):
        problems.append("%s: check.send must be a string, got %r" % (where, value["send"]))
    _positive_int(value, "max_ms", where + ".check", problems)
    if "protocol" in value:
        if value["protocol"] not in PROTOCOLS:
            problems.append("%s: check.protocol must be one of %s, got %r" % (where, ", ".join(PROTOCOLS), value["protocol"]))
        combined = [key for key in PROTOCOL_EXCLUDES if key in value]
        if combined:
            problems.append("%s: check.protocol cannot be combined with %s (the protocol handshake is its own request)"
                            % (where, ", ".join(combined)))
    tls = _block(value, "tls")
    _positive_int(tls, "min_days", where + ".check.tls", problems, minimum=0)
    load = _block(value, "load")
    for key in ("concurrency", "requests", "p95_ms"):
        _positive_int(load, key, where + ".check.load", problems)
    _positive_int(load, "max_errors", where + ".check.load", problems, minimum=0)
    ssh = _block(value, "ssh")
    if "auth_methods" in ssh and not (isinstance(ssh["auth_methods"], list) and all(isinstance(m, str) for m in ssh["auth_methods"])):
        problems.append("%s.check.ssh: auth_methods must be a list of method names" % where)
    keys = ssh.get("host_key")
    if "host_key" in ssh and (keys == [] or not all(isinstance(k, str) and k.startswith("SHA256:")
                                                    for k in (keys if isinstance(keys, list) else [keys]))):
        problems.append("%s.check.ssh: host_key must be a SHA256:... fingerprint or a list of them, got %r" % (where, keys))
    _http_values(http, where + ".check.http", problems)
    _tls_values(tls, where + ".check.tls", problems)
    return value


def _http_values(http: Mapping[str, Any], where: str, problems: Problems) -> None:
    """Wrong values of check.http; header values and the password are never shown."""
    if "method" in http and not (isinstance(http["method"], str) and _TOKEN.match(http["method"])):
        problems.append("%s: method must be an HTTP method such as GET or POST, got %r" % (where, http["method"]))
    path = http.get("path", "/")
    if not isinstance(path, str) or not (path.startswith("/") or path == "*") or re.search(r"[\s\x00-\x1f\x7f]", path):
        problems.append("%s: path must start with / and contain no spaces or control characters, got %r" % (where, path))
    headers = http.get("headers", {})
    if not isinstance(headers, dict):
        problems.append("%s: headers must be a mapping of header names to values" % where)
    else:
        for name in sorted(headers, key=str):
            value = headers[name]
            if not isinstance(name, str) or not _TOKEN.match(name) or not isinstance(value, (str, int)) or isinstance(value, bool) \
                    or _LINE_BREAK.search(str(value)):
                problems.append("%s: header %r must be a header name with a one-line string value (the value is not shown)" % (where, name))
    if "json_query" in http and not (isinstance(http["json_query"], str) and http["json_query"].strip()):
        problems.append("%s: json_query must be a JMESPath expression string, got %r" % (where, http["json_query"]))
    if "host" in http and not (isinstance(http["host"], str) and http["host"] and not _LINE_BREAK.search(http["host"])):
        problems.append("%s: host must be a host name for the Host header, got %r" % (where, http["host"]))
    auth = http.get("basic_auth", {})
    if not (isinstance(auth, dict) and set(auth) <= {"user", "password"} and ("user" in auth or not auth)
            and all(isinstance(v, str) and not _LINE_BREAK.search(v) for v in auth.values()) and auth.get("user", "x")):
        problems.append("%s: basic_auth must be a mapping with user and password strings (the values are not shown)" % where)


def _tls_values(tls: Mapping[str, Any], where: str, problems: Problems) -> None:
    if "verify" in tls and not isinstance(tls["verify"], bool):
        problems.append("%s: verify must be true or false, got %r" % (where, tls["verify"]))
    for key in ("ca", "hostname"):
        if key in tls and not (isinstance(tls[key], str) and tls[key]):
            problems.append("%s: %s must be a non-empty string, got %r" % (where, key, tls[key]))
    if "min_version" in tls and tls["min_version"] not in TLS_VERSIONS:
        problems.append("%s: min_version must be one of %s, got %r" % (where, ", ".join(TLS_VERSIONS), tls["min_version"]))


def _service(item: Any, where: str, problems: Problems, groups: Collection[str], hosts: Collection[str]) -> Optional[Service]:
    if not isinstance(item, dict):
        problems.append("%s: must be a mapping with at least name and port, got %r" % (where, item))
        return None
    named = "%s (%s)" % (where, item["name"]) if isinstance(item.get("name"), str) else where
    _unknown_keys(item, SERVICE_KEYS, named, problems)
    if not isinstance(item.get("name"), str) or not item.get("name"):
        problems.append("%s: name is required and must be a non-empty string" % where)
    if "port" not in item:
        problems.append("%s: port is required" % named)
    service: Service = {
        "name": item.get("name"),
        "proto": item.get("proto", "tcp"),
        "bind": _bind(item.get("bind", "any"), named, problems),
        "process": item.get("process"),
        "user": item.get("user"),
        "publish": None,
        "allow_from": _sources(item.get("allow_from", []), "allow_from", named, problems, groups, hosts),
        "deny_from": _sources(item.get("deny_from", []), "deny_from", named, problems, groups, hosts),
        "check": _check(item.get("check", {}), named, problems),
    }
    if service["proto"] not in ("tcp", "udp"):
        problems.append("%s: proto %r is not tcp or udp" % (named, service["proto"]))
    protocol = service["check"].get("protocol") if isinstance(service["check"], dict) else None
    if protocol in PROTOCOLS and service["proto"] in ("tcp", "udp"):
        allowed = UDP_PROTOCOLS if service["proto"] == "udp" else TCP_PROTOCOLS
        if protocol not in allowed:
            problems.append("%s: check.protocol %s is not probed over %s (%s: %s)" % (
                named, protocol, service["proto"], service["proto"], ", ".join(allowed)))
    if service["process"] is not None:
        _regex(service["process"], "process", named, problems)
    if service["user"] is not None and not isinstance(service["user"], str):
        problems.append("%s: user must be a string, got %r" % (named, service["user"]))
    publish = item.get("publish")
    if publish is not None:
        if not isinstance(publish, dict):
            problems.append("%s: publish must be a mapping with container and container_port" % named)
        else:
            _unknown_keys(publish, PUBLISH_KEYS, named + ".publish", problems)
            if not isinstance(publish.get("container"), str) or not publish.get("container"):
                problems.append("%s: publish.container is required (the container's name)" % named)
            service["publish"] = {
                "container": publish.get("container"),
                "container_port": _port(publish.get("container_port"), named + ".publish.container_port", problems),
                "image": publish.get("image"),
                "host_ip": publish.get("host_ip"),
            }
            if publish.get("host_ip") is not None:
                try:
                    parse_network(publish["host_ip"])
                except ValueError:
                    problems.append("%s: publish.host_ip %r is not an IP address%s" % (named, publish["host_ip"], _scoped_hint(publish["host_ip"])))
            if publish.get("image") is not None and not (isinstance(publish["image"], str) and publish["image"]):
                problems.append("%s: publish.image must be an image reference (name:tag or name@sha256:...), got %r" % (named, publish["image"]))
    if "restart" in item:  # the restart drill's limit (role restart_drill); absent unless given
        restart = item["restart"]
        if not (isinstance(restart, dict) and set(restart) <= {"max_s"} and isinstance(restart.get("max_s", 30), (int, float))
                and not isinstance(restart.get("max_s", 30), bool) and 0 < restart.get("max_s", 30) <= 3600):
            problems.append("%s: restart must be a mapping {max_s: SECONDS} with max_s above 0 and at most 3600, got %r" % (named, restart))
        else:
            service["restart"] = {"max_s": float(restart.get("max_s", 30))}
    if "port" in item:
        service["port"] = _port(item["port"], named, problems, allow_auto=True)
        if item["port"] == "auto" and publish is None:
            problems.append("%s: port 'auto' needs publish (the container whose published port it is)" % named)
    return service


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
