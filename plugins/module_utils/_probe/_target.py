# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# port_probe input: defaults (from the module's argument spec, _probe_argspec), the checks that
# cannot be expressed in an argument_spec, and the plan of response checks each target gets.

from __future__ import annotations

import ipaddress
import math
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Pattern, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._argspec import (
    FAMILIES, HTTP_SPEC, LOAD_SPEC, SSH_SPEC, TARGET_SPEC, TLS_SPEC, TLS_VERSIONS, WAIT_SPEC, defaults,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import PROTOCOLS, TCP_PROTOCOLS, UDP_PROTOCOLS
from ansible_collections.portproof.validate.plugins.module_utils._probe._secrets import secret_forms

TARGET_DEFAULTS = defaults(TARGET_SPEC)
HTTP_DEFAULTS = defaults(HTTP_SPEC)
TLS_DEFAULTS = defaults(TLS_SPEC)
SSH_DEFAULTS = defaults(SSH_SPEC)
LOAD_DEFAULTS = defaults(LOAD_SPEC)
# A role variable raises each cap (docs/live-checks.md); the module option is named in the error.
LOAD_CAP_VARIABLES = {'max_requests': 'portproof_load_max_requests', 'max_concurrency': 'portproof_load_max_concurrency',
                      'deadline': 'portproof_load_deadline'}
PORT_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range'
WAIT_DEFAULTS = defaults(WAIT_SPEC)


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BAD_VALUE_CHARS = re.compile(r'[\r\n\x00]')


class ProbeConfigError(ValueError):
    """A target that cannot be probed as given; the message names the target and the reason."""


def _merged(defaults: Dict[str, Any], value: Optional[Dict[str, Any]], required: Sequence[str] = ()) -> Dict[str, Any]:
    merged = dict(defaults)
    for key, item in (value or {}).items():
        if key not in defaults and key not in required:
            raise KeyError(key)
        if item is not None:
            merged[key] = item
    return merged


def finite_seconds(value: float, what: str) -> float:
    """VALUE (seconds, a float) unless it is infinite or not a number: a wait without a bound."""
    if math.isinf(value) or math.isnan(value):
        raise ProbeConfigError('%s must be a finite number of seconds, not %r' % (what, value))
    return value


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split('%', 1)[0])
    except ValueError:
        return False
    return True


class Target(object):
    """One normalised target: options with defaults applied, regexes compiled, checks planned."""

    def __init__(self, index: int, raw: Any) -> None:
        self.index = index
        self.label = 'targets[%d]' % index
        if not isinstance(raw, dict):
            raise ProbeConfigError('%s: expected a dict, got %s' % (self.label, type(raw).__name__))
        try:
            opts = _merged(TARGET_DEFAULTS, raw, ('host', 'port'))
        except KeyError as exc:
            raise ProbeConfigError('%s: unknown option %s' % (self.label, exc))
        host, port = raw.get('host'), raw.get('port')
        if not isinstance(host, str) or not host:
            raise ProbeConfigError('%s: host is required' % self.label)
        self.host = host
        self.label = '%s (%s:%s/%s)' % (self.label, host, port, opts['proto'])
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ProbeConfigError('%s: port must be an integer from 1 to 65535' % self.label)
        self.port = port
        self.name = opts['name']
        self.proto = opts['proto']
        self.family = opts['family']
        self.timeout = finite_seconds(float(opts['timeout']), '%s: timeout' % self.label)
        self.max_ms: Optional[float] = opts['max_ms']
        if self.proto not in ('tcp', 'udp'):
            raise ProbeConfigError('%s: proto must be tcp or udp' % self.label)
        if self.family not in FAMILIES:
            raise ProbeConfigError('%s: family must be one of %s' % (self.label, ', '.join(FAMILIES)))
        if self.timeout <= 0:
            raise ProbeConfigError('%s: timeout must be greater than 0' % self.label)
        self.payload = self._payload(opts)
        self.expect = self._regex('expect', opts['expect'])
        self.expect_reply: Optional[bool] = opts['expect_reply']
        if self.expect_reply is None:
            self.expect_reply = self.expect is not None
        self.http = self._http(opts['http']) if opts['http'] is not None else None
        self.tls = self._tls(opts['tls']) if opts['tls'] is not None else None
        self.ssh = self._ssh(opts['ssh']) if opts['ssh'] is not None else None
        # every form of the secrets this probe sends, masked in whatever comes back
        self.secrets = secret_forms(self.http)
        self.protocol = self._protocol(opts['protocol'], opts)
        self._exclusive(opts)
        self.needs_worker = self.proto == 'tcp' and (self.http is not None or self.tls is not None or self.ssh is not None)
        self.has_response = self.needs_worker or self.payload is not None or self.expect is not None or self.protocol is not None
        self.plan = self._plan()

    # -- option groups ---------------------------------------------------------------------

    def _payload(self, opts: Dict[str, Any]) -> Optional[bytes]:
        if opts['send'] is not None and opts['send_hex'] is not None:
            raise ProbeConfigError('%s: send and send_hex are mutually exclusive' % self.label)
        if opts['send_hex'] is not None:
            try:
                return bytes.fromhex(opts['send_hex'])
            except ValueError as exc:
                raise ProbeConfigError('%s: send_hex is not hexadecimal: %s' % (self.label, exc))
        if opts['send'] is not None:
            return opts['send'].encode('utf-8')
        return None

    def _regex(self, what: str, pattern: Optional[str]) -> Optional[Pattern[str]]:
        if pattern is None:
            return None
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise ProbeConfigError('%s: %s is not a valid regular expression: %s' % (self.label, what, exc))

    def _http(self, raw: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        try:
            opts = _merged(HTTP_DEFAULTS, raw)
        except KeyError as exc:
            raise ProbeConfigError('%s: unknown http option %s' % (self.label, exc))
        if not _TOKEN.match(opts['method']):
            raise ProbeConfigError('%s: http.method %r is not an HTTP method token' % (self.label, opts['method']))
        path = opts['path']
        if not (path.startswith('/') or path == '*') or re.search(r'[\s\x00-\x1f\x7f]', path):
            raise ProbeConfigError('%s: http.path must start with / and contain no spaces or control characters' % self.label)
        headers: List[Tuple[str, str]] = []
        for key, item in (opts['headers'] or {}).items():
            value = '' if item is None else str(item)
            if not _TOKEN.match(str(key)) or _BAD_VALUE_CHARS.search(value):
                raise ProbeConfigError('%s: http.headers has an invalid header name or value (name %r)' % (self.label, key))
            headers.append((str(key), value))
        opts['headers'] = headers
        for name in ('host_header', 'user', 'password'):
            if opts[name] is not None and _BAD_VALUE_CHARS.search(opts[name]):
                raise ProbeConfigError('%s: http.%s contains a line break' % (self.label, name))
        statuses = opts['status']
        if isinstance(statuses, int):
            statuses = [statuses]
        if not statuses or any(not isinstance(code, int) or not 100 <= code <= 599 for code in statuses):
            raise ProbeConfigError('%s: http.status must list HTTP status codes (100-599)' % self.label)
        opts['status'] = list(statuses)
        opts['body'] = self._regex('http.body', opts['body'])
        if opts['max_body'] < 1:
            raise ProbeConfigError('%s: http.max_body must be at least 1' % self.label)
        return opts

    def _tls(self, raw: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        try:
            opts = _merged(TLS_DEFAULTS, raw)
        except KeyError as exc:
            raise ProbeConfigError('%s: unknown tls option %s' % (self.label, exc))
        if opts['min_version'] is not None and opts['min_version'] not in TLS_VERSIONS:
            raise ProbeConfigError('%s: tls.min_version must be one of %s' % (self.label, ', '.join(TLS_VERSIONS)))
        if opts['min_days'] is not None and opts['min_days'] < 0:
            raise ProbeConfigError('%s: tls.min_days must not be negative' % self.label)
        if opts['client_key'] is not None and opts['client_cert'] is None:
            raise ProbeConfigError('%s: tls.client_key needs tls.client_cert' % self.label)
        if opts['hostname'] is None and not is_ip_literal(self.host):
            opts['hostname'] = self.host
        return opts

    def _ssh(self, raw: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        try:
            opts = _merged(SSH_DEFAULTS, raw)
        except KeyError as exc:
            raise ProbeConfigError('%s: unknown ssh option %s' % (self.label, exc))
        if opts['host_key'] is not None:
            opts['host_key'] = [fp.rstrip('=') for fp in opts['host_key']]
            if any(not fp.startswith('SHA256:') for fp in opts['host_key']):
                raise ProbeConfigError('%s: ssh.host_key entries must be SHA256:... fingerprints' % self.label)
        return opts

    def _protocol(self, name: Optional[str], opts: Dict[str, Any]) -> Optional[str]:
        if name is None:
            return None
        if name not in PROTOCOLS:
            raise ProbeConfigError('%s: protocol must be one of %s, not %r' % (self.label, ', '.join(PROTOCOLS), name))
        allowed = UDP_PROTOCOLS if self.proto == 'udp' else TCP_PROTOCOLS
        if name not in allowed:
            raise ProbeConfigError('%s: protocol %s is not probed over %s (%s: %s)'
                                   % (self.label, name, self.proto, self.proto, ', '.join(allowed)))
        others = [key for key in ('send', 'send_hex', 'expect', 'expect_reply', 'http', 'tls', 'ssh') if opts[key] is not None]
        if others:
            raise ProbeConfigError('%s: protocol cannot be combined with %s (it sends its own handshake)'
                                   % (self.label, ', '.join(others)))
        return name

    def _exclusive(self, opts: Dict[str, Any]) -> None:
        sends = self.payload is not None or self.expect is not None
        if self.proto == 'udp' and (self.http or self.tls or self.ssh):
            raise ProbeConfigError('%s: http, tls and ssh checks need proto tcp' % self.label)
        if self.ssh is not None and (self.http is not None or self.tls is not None or sends):
            raise ProbeConfigError('%s: ssh cannot be combined with http, tls, send or expect' % self.label)
        if self.http is not None and sends:
            raise ProbeConfigError('%s: http cannot be combined with send or expect (use http.body)' % self.label)
        if self.proto == 'tcp' and opts['expect_reply'] is not None:
            raise ProbeConfigError('%s: expect_reply applies to proto udp only' % self.label)

    def _plan(self) -> List[str]:
        """Names of the response checks this target gets, in the order they run."""
        plan: List[str] = []
        if self.protocol is not None:
            plan.append('protocol')
        elif self.proto == 'udp':
            if self.expect_reply:
                plan.append('reply')
        elif self.ssh is not None:
            plan.append('ssh_handshake')
            if self.ssh['host_key'] is not None:
                plan.append('ssh_host_key')
            if self.ssh['auth_methods'] is not None:
                plan.append('ssh_auth_methods')
        else:
            if self.tls is not None:
                plan.append('tls_handshake')
                if self.tls['verify']:
                    plan.append('tls_verify')
                if self.tls['check_hostname']:
                    plan.append('tls_hostname')
                if self.tls['min_days'] is not None:
                    plan.append('tls_days')
                if self.tls['min_version'] is not None:
                    plan.append('tls_version')
            if self.http is not None:
                plan.append('http_status')
                if self.http['body'] is not None:
                    plan.append('http_body')
                if self.http['json_query'] is not None:
                    plan.append('http_json')
            elif self.expect is not None:
                plan.append('expect')
            elif self.payload is not None:
                plan.append('send')
        if self.max_ms is not None:
            plan.append('max_ms')
        return plan


def normalize_targets(raw_targets: Optional[Iterable[Any]]) -> List[Target]:
    if not raw_targets:
        raise ProbeConfigError('targets: at least one target is required')
    return [Target(index, raw) for index, raw in enumerate(raw_targets)]


def ephemeral_ports(path: str = PORT_RANGE_FILE) -> Tuple[int, int]:
    """(first, last) of this host's ephemeral port range; Linux's default when it cannot be read.
    A bounded, non-blocking read that follows no link (the path is fixed, but never hang on it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_NOFOLLOW', 0))
        try:
            first, last = (int(word) for word in os.read(fd, 64).split())
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return 32768, 60999
    return first, last


def normalize_load(raw: Optional[Dict[str, Any]], targets: List[Target], port_range: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    try:
        opts = _merged(LOAD_DEFAULTS, raw)
    except KeyError as exc:
        raise ProbeConfigError('load: unknown option %s' % exc)
    if len(targets) != 1:
        raise ProbeConfigError('load: runs against exactly one target, %d were given' % len(targets))
    if targets[0].proto != 'tcp' or targets[0].ssh is not None:
        raise ProbeConfigError('load: %s must be a TCP target (plain connects, tls or http), not udp or ssh' % targets[0].label)
    if opts['requests'] < 1 or opts['concurrency'] < 1:
        raise ProbeConfigError('load: requests and concurrency must be at least 1')
    if finite_seconds(float(opts['deadline']), 'load: deadline') <= 0:
        raise ProbeConfigError('load: deadline must be greater than 0')
    for key, cap in (('requests', 'max_requests'), ('concurrency', 'max_concurrency')):
        if opts[key] > opts[cap]:
            raise ProbeConfigError('load: %s %d is over the cap of %d (load.%s, role variable %s); raise the cap to run it'
                                   % (key, opts[key], opts[cap], cap, LOAD_CAP_VARIABLES[cap]))
    # Each request takes a local port, held in TIME_WAIT for a minute after it closes: leave the
    # host at least half of its ephemeral range for everything else it connects to.
    first, last = port_range or ephemeral_ports()
    budget = (last - first + 1) // 2
    if opts['requests'] > budget:
        raise ProbeConfigError('load: %d requests would take %d local ports, over half (%d) of this host\'s ephemeral port range '
                               '%d-%d; run fewer requests' % (opts['requests'], opts['requests'], budget, first, last))
    opts['concurrency'] = min(opts['concurrency'], opts['requests'])
    return opts


def normalize_wait(raw: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    try:
        opts = _merged(WAIT_DEFAULTS, raw)
    except KeyError as exc:
        raise ProbeConfigError('wait: unknown option %s' % exc)
    if finite_seconds(float(opts['timeout']), 'wait: timeout') <= 0 or finite_seconds(float(opts['interval']), 'wait: interval') < 0:
        raise ProbeConfigError('wait: timeout must be greater than 0 and interval not negative')
    return opts
