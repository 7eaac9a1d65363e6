# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The shape of one contract item (docs/contract.md, "Service keys"), as one argument spec.

``SERVICE_SPEC`` says which keys an item of ``portproof_services`` may have, at every level, and
of which type; ``check_shape`` validates an item with ansible-core's public
``ArgumentSpecValidator`` and translates each error into the collection's message form (the
item, the key, the reason). What the spec cannot say (ranges, regular expressions, addresses,
inventory groups, unique names) is checked by hand in ``_contract.py``.

Two choices keep the contract as strict as it always was:

- Types are strict callables, not Ansible's converting types: ``port: '5432'``, ``verify: 'no'``
  or ``user: 999`` are refused, not converted (a contract is data in the inventory, not a module
  argument typed on a command line).
- A nested mapping is validated level by level (one validator per mapping, built from the
  ``options`` of its key), so that a mapping is a mapping: Ansible's ``type: dict`` would also take
  the strings ``a=b`` or ``{...}`` for one.

A key given as null (``key:`` with nothing after it) counts as not given, as in every Ansible
argument spec; a required key must have a value.

Secret values (``no_log``: ``check.http.headers``, ``check.http.basic_auth.password``) never
appear in a message: the messages of their keys never show a value, and every message about an
item is masked with the item's secret values (of 4 characters or more).
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.portproof.validate.plugins.module_utils._probe._argspec import TLS_VERSIONS
from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import PROTOCOLS

from typing import Any, Dict, List, Mapping, Tuple

Spec = Dict[str, Dict[str, Any]]
# Where a key is, from the item: ("check", "http", "status").
Path = Tuple[str, ...]

PROTOS = ("tcp", "udp")
MASK = "********"
MASK_MIN = 4


# -- strict types: each returns its value unchanged or raises TypeError ---------------------------

def text(value: Any) -> str:
    """A string."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def integer(value: Any) -> int:
    """An integer (a boolean is not one)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("not an integer")
    return value


def boolean(value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


def port_or_auto(value: Any) -> Any:
    """An integer, or the word auto."""
    return value if value == "auto" and isinstance(value, str) else integer(value)


def texts(value: Any) -> List[str]:
    """A list of strings."""
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise TypeError("not a list of strings")
    return value


def text_or_texts(value: Any) -> Any:
    """A string or a list of strings."""
    return value if isinstance(value, str) else texts(value)


def number(value: Any) -> Any:
    """An integer or a decimal number (a boolean is not one)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError("not a number")
    return value


def mapping(value: Any) -> Dict[Any, Any]:
    """A mapping (its keys are validated by the ``options`` of its key, if any)."""
    if not isinstance(value, dict):
        raise TypeError("not a mapping")
    return value


# -- the spec --------------------------------------------------------------------------------------

PUBLISH_SPEC: Spec = dict(
    container=dict(type=text, required=True),
    container_port=dict(type=integer, required=True),
    image=dict(type=text),
    host_ip=dict(type=text),
)

HTTP_SPEC: Spec = dict(
    method=dict(type=text),
    path=dict(type=text),
    status=dict(type=integer),
    headers=dict(type=mapping, no_log=True),
    body=dict(type=text),
    json_query=dict(type=text),
    host=dict(type=text),
    basic_auth=dict(type=mapping, options=dict(
        user=dict(type=text),
        password=dict(type=text, no_log=True),
    )),
)

TLS_SPEC: Spec = dict(
    min_days=dict(type=integer),
    verify=dict(type=boolean),
    ca=dict(type=text),
    hostname=dict(type=text),
    min_version=dict(type=text, choices=list(TLS_VERSIONS)),
)

SSH_SPEC: Spec = dict(
    auth_methods=dict(type=texts),
    host_key=dict(type=text_or_texts, no_log=False),
)

LOAD_SPEC: Spec = dict(
    concurrency=dict(type=integer),
    requests=dict(type=integer),
    p95_ms=dict(type=integer),
    max_errors=dict(type=integer),
)

CHECK_SPEC: Spec = dict(
    http=dict(type=mapping, options=HTTP_SPEC),
    tls=dict(type=mapping, options=TLS_SPEC),
    send=dict(type=text),
    expect=dict(type=text),
    ssh=dict(type=mapping, options=SSH_SPEC),
    protocol=dict(type=text, choices=list(PROTOCOLS)),
    max_ms=dict(type=integer),
    load=dict(type=mapping, options=LOAD_SPEC),
)

RESTART_SPEC: Spec = dict(
    max_s=dict(type=number),
)

SERVICE_SPEC: Spec = dict(
    name=dict(type=text, required=True),
    port=dict(type=port_or_auto, required=True),
    proto=dict(type=text, choices=list(PROTOS)),
    bind=dict(type=text_or_texts),
    process=dict(type=text),
    user=dict(type=text),
    publish=dict(type=mapping, options=PUBLISH_SPEC),
    names=dict(type=texts),
    allow_from=dict(type=texts),
    deny_from=dict(type=texts),
    check=dict(type=mapping, options=CHECK_SPEC),
    restart=dict(type=mapping, options=RESTART_SPEC),
)


# -- messages: for a key that the validator refused, the reason in the collection's words ----------
# Each entry: (where the message is located after the item, the reason). In the reason, {value} is
# the value as given (a mapping is not shown), {entry} the first entry of a list that is not a
# string. "name" is located at the item without its name.

_ANY_SOURCE = "{key} must be a list of groups, hosts, CIDRs or {words}"
_BASIC_AUTH = "basic_auth must be a mapping with user and password strings (the values are not shown)"

MESSAGES: Dict[Path, Tuple[str, str]] = {
    ("name",): ("", "name is required and must be a non-empty string"),
    ("port",): ("", "port {value} is not an integer or 'auto'"),
    ("proto",): ("", "proto {value} is not tcp or udp"),
    ("bind",): ("", "bind entry {entry} is not a string"),
    ("process",): ("", "process must be a regular expression string, got {value}"),
    ("user",): ("", "user must be a string, got {value}"),
    ("publish",): ("", "publish must be a mapping with container and container_port"),
    ("names",): ("", "names must be a non-empty list of DNS names, got {value}"),
    ("allow_from",): ("", "allow_from entry {entry} is not a string"),
    ("deny_from",): ("", "deny_from entry {entry} is not a string"),
    ("check",): ("", "check must be a mapping"),
    ("restart",): ("", "restart must be a mapping {max_s: SECONDS} with max_s above 0 and at most 3600"),
    ("restart", "max_s"): ("", "restart must be a mapping {max_s: SECONDS} with max_s above 0 and at most 3600, got max_s {value}"),
    ("publish", "container"): ("", "publish.container is required (the container's name)"),
    ("publish", "container_port"): (".publish.container_port", "port {value} is not an integer"),
    ("publish", "image"): ("", "publish.image must be an image reference (name:tag or name@sha256:...), got {value}"),
    ("publish", "host_ip"): ("", "publish.host_ip {value} is not an IP address"),
    ("check", "http"): (".check", "http must be a mapping"),
    ("check", "tls"): (".check", "tls must be a mapping"),
    ("check", "ssh"): (".check", "ssh must be a mapping"),
    ("check", "load"): (".check", "load must be a mapping"),
    ("check", "send"): ("", "check.send must be a string, got {value}"),
    ("check", "expect"): ("", "check.expect must be a regular expression string, got {value}"),
    ("check", "protocol"): ("", "check.protocol must be one of %s, got {value}" % ", ".join(PROTOCOLS)),
    ("check", "max_ms"): (".check", "max_ms must be an integer >= 1, got {value}"),
    ("check", "http", "method"): (".check.http", "method must be an HTTP method such as GET or POST, got {value}"),
    ("check", "http", "path"): (".check.http", "path must start with / and contain no spaces or control characters, got {value}"),
    ("check", "http", "status"): (".check.http", "status must be an HTTP status code 100-599, got {value}"),
    ("check", "http", "headers"): (".check.http", "headers must be a mapping of header names to values"),
    ("check", "http", "body"): ("", "check.http.body must be a regular expression string, got {value}"),
    ("check", "http", "json_query"): (".check.http", "json_query must be a JMESPath expression string, got {value}"),
    ("check", "http", "host"): (".check.http", "host must be a host name for the Host header, got {value}"),
    ("check", "http", "basic_auth"): (".check.http", _BASIC_AUTH),
    ("check", "http", "basic_auth", "user"): (".check.http", _BASIC_AUTH),
    ("check", "http", "basic_auth", "password"): (".check.http", _BASIC_AUTH),
    ("check", "tls", "min_days"): (".check.tls", "min_days must be an integer >= 0, got {value}"),
    ("check", "tls", "verify"): (".check.tls", "verify must be true or false, got {value}"),
    ("check", "tls", "ca"): (".check.tls", "ca must be a non-empty string, got {value}"),
    ("check", "tls", "hostname"): (".check.tls", "hostname must be a non-empty string, got {value}"),
    ("check", "tls", "min_version"): (".check.tls", "min_version must be one of %s, got {value}" % ", ".join(TLS_VERSIONS)),
    ("check", "ssh", "auth_methods"): (".check.ssh", "auth_methods must be a list of method names"),
    ("check", "ssh", "host_key"): (".check.ssh", "host_key must be a SHA256:... fingerprint or a list of them, got {value}"),
    ("check", "load", "concurrency"): (".check.load", "concurrency must be an integer >= 1, got {value}"),
    ("check", "load", "requests"): (".check.load", "requests must be an integer >= 1, got {value}"),
    ("check", "load", "p95_ms"): (".check.load", "p95_ms must be an integer >= 1, got {value}"),
    ("check", "load", "max_errors"): (".check.load", "max_errors must be an integer >= 0, got {value}"),
}
# A required key that is missing, where "is required" says it better than the reason above.
MISSING: Dict[Path, Tuple[str, str]] = {
    ("port",): ("", "port is required"),
    ("publish", "container_port"): (".publish.container_port", "port is required"),
}
# The reason when the value is not a list at all (else: the entry that is not a string).
NOT_A_LIST: Dict[Path, str] = {
    ("allow_from",): _ANY_SOURCE.format(key="allow_from", words="controller"),
    ("deny_from",): _ANY_SOURCE.format(key="deny_from", words="public"),
}
# Unknown keys inside these mappings are told by the mapping's own message.
CLOSED: Dict[Path, Tuple[str, str]] = {("check", "http", "basic_auth"): (".check.http", _BASIC_AUTH)}


def shown(value: Any) -> str:
    """VALUE for a message: its repr when it is a scalar or a list of scalars, else only what it is, {...}
    or [...] (a mapping can hold anything, secrets included)."""
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, scalar) or isinstance(value, list) and all(isinstance(entry, scalar) for entry in value):
        return repr(value)
    return "{...}" if isinstance(value, dict) else "[...]" if isinstance(value, list) else "<%s>" % type(value).__name__


def _leaf(spec: Mapping[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in spec.items() if key != "options"}


def _validators(spec: Spec, path: Path, levels: Dict[Path, Any], keys: Dict[Path, Any]) -> None:
    """One validator per mapping of the spec (its keys, without their options) and one per key, by path."""
    levels[path] = ArgumentSpecValidator({key: _leaf(entry) for key, entry in spec.items()})
    for key, entry in spec.items():
        keys[path + (key,)] = ArgumentSpecValidator({key: _leaf(entry)})
        if "options" in entry:
            _validators(entry["options"], path + (key,), levels, keys)


_LEVELS: Dict[Path, Any] = {}
_KEYS: Dict[Path, Any] = {}
_validators(SERVICE_SPEC, (), _LEVELS, _KEYS)
# What a problem is: (path of the key or the mapping, kind: unknown|missing|invalid|refused, the value, the unknown keys
# or the messages of a refusal that no single key explains).
Finding = Tuple[Path, str, Any]


def _walk(spec: Spec, params: Dict[Any, Any], path: Path, findings: List[Finding]) -> Dict[str, Any]:
    """Validate the mapping PARAMS at PATH; return what was given and valid (null values dropped)."""
    odd = [key for key in params if not isinstance(key, str)]  # a YAML key such as 8080: the validator takes only strings
    # null is not given (the validator itself would still hold it against choices); a required key needs a value
    params = dict((key, value) for key, value in params.items() if isinstance(key, str)
                  and (value is not None or key not in spec or spec[key].get("required")))
    result = _LEVELS[path].validate(params)
    unknown = sorted(str(key) for key in list(result.unsupported_parameters) + odd)
    if unknown:
        findings.append((path, "unknown", unknown))
    wrong = [error for error in result.errors.errors if not isinstance(error, UnsupportedError)]
    given: Dict[str, Any] = {}
    attributed = 0
    for key, entry in spec.items():
        if key not in params:
            if wrong and entry.get("required"):
                findings.append((path + (key,), "missing", None))
                attributed += 1
            continue
        if wrong and _KEYS[path + (key,)].validate({key: params[key]}).error_messages:
            findings.append((path + (key,), "invalid", params[key]))
            attributed += 1
            continue
        given[key] = _walk(entry["options"], params[key], path + (key,), findings) if "options" in entry else params[key]
    if wrong and not attributed:  # refused, but by no single key: say what was said
        findings.append((path, "refused", [error.msg for error in wrong]))
    return given


def _secrets(spec: Spec, params: Any) -> List[str]:
    """The text of every value of a no_log key in PARAMS, at any depth."""
    found: List[str] = []
    if not isinstance(params, dict):
        return found
    for key, entry in spec.items():
        if key not in params:
            continue
        if entry.get("no_log"):
            found.extend(_texts_in(params[key]))
        elif "options" in entry:
            found.extend(_secrets(entry["options"], params[key]))
    return found


def _texts_in(value: Any) -> List[str]:
    if isinstance(value, dict):
        return [text for entry in value.values() for text in _texts_in(entry)]
    if isinstance(value, list):
        return [text for entry in value for text in _texts_in(entry)]
    return [] if value is None or isinstance(value, bool) or str(value) == "" else [str(value)]


def mask(problems: List[str], secrets: List[str]) -> List[str]:
    """PROBLEMS with every secret text replaced by the mask (longest first, so that none is left in part).
    A value shorter than MASK_MIN is no secret worth the name, and masking it would mangle every word
    that contains it."""
    for secret in sorted({secret for secret in secrets if len(secret) >= MASK_MIN}, key=len, reverse=True):
        problems = [problem.replace(secret, MASK) for problem in problems]
    return problems


def _message(finding: Finding, where: str, named: str) -> str:
    path, kind, value = finding
    if kind == "refused":
        return "%s%s: %s" % (named, "".join("." + key for key in path), "; ".join(value))
    if kind == "unknown":
        if path in CLOSED:
            suffix, reason = CLOSED[path]
        else:
            allowed = _spec_at(path)
            suffix = "".join("." + key for key in path)
            reason = "unknown key%s %s (allowed: %s)" % ("s" if len(value) > 1 else "", ", ".join(value), ", ".join(allowed))
        return "%s%s: %s" % (named, suffix, reason)
    suffix, reason = (MISSING.get(path) if kind == "missing" else None) or MESSAGES[path]
    if kind == "invalid" and path in NOT_A_LIST and not isinstance(value, list):
        reason = NOT_A_LIST[path]
    entries = value if isinstance(value, list) else [value]
    entry = next((entry for entry in entries if not isinstance(entry, str)), value)
    reason = reason.format(value=shown(value), entry=shown(entry))
    return "%s%s: %s" % (where if path == ("name",) else named, suffix, reason)


def _spec_at(path: Path) -> Spec:
    spec = SERVICE_SPEC
    for key in path:
        spec = spec[key]["options"]
    return spec


def check_shape(item: Dict[Any, Any], where: str, named: str) -> Tuple[Dict[str, Any], List[str]]:
    """Validate the shape of the contract item ITEM (a mapping) at WHERE (named: WHERE with the item's name).

    Returns the keys that were given with a valid value (null values dropped, a key with a wrong value
    left out) and the problems, each naming the item, the key and the reason, secrets masked."""
    findings: List[Finding] = []
    given = _walk(SERVICE_SPEC, item, (), findings)
    problems: List[str] = []
    for finding in findings:
        message = _message(finding, where, named)
        if message not in problems:
            problems.append(message)
    return given, mask(problems, _secrets(SERVICE_SPEC, item))


def secret_texts(item: Any) -> List[str]:
    """The secret values of the contract item ITEM (for masking the messages about it)."""
    return _secrets(SERVICE_SPEC, item)
