# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# port_probe input: defaults, what no argument_spec can reject, and the plan of checks.

from __future__ import annotations

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._target import (
    ProbeConfigError,
    Target,
    normalize_load,
    normalize_targets,
    normalize_wait,
)


@pytest.mark.parametrize('raw, plan', [
    ({'host': 'h', 'port': 1}, []),
    ({'host': 'h', 'port': 1, 'max_ms': 5}, ['max_ms']),
    ({'host': 'h', 'port': 1, 'expect': '^x'}, ['expect']),
    ({'host': 'h', 'port': 1, 'send': 'x'}, ['send']),
    ({'host': 'h', 'port': 1, 'send': 'x', 'expect': 'y', 'max_ms': 1}, ['expect', 'max_ms']),
    ({'host': 'h', 'port': 1, 'proto': 'udp'}, []),
    ({'host': 'h', 'port': 1, 'proto': 'udp', 'expect': 'y'}, ['reply']),
    ({'host': 'h', 'port': 1, 'proto': 'udp', 'expect_reply': True}, ['reply']),
    ({'host': 'h', 'port': 1, 'proto': 'udp', 'expect': 'y', 'expect_reply': False}, []),
    ({'host': 'h', 'port': 1, 'http': {}}, ['http_status']),
    ({'host': 'h', 'port': 1, 'http': {'body': 'a', 'json_query': 'b'}}, ['http_status', 'http_body', 'http_json']),
    ({'host': 'h', 'port': 1, 'tls': {}}, ['tls_handshake', 'tls_verify', 'tls_hostname']),
    ({'host': 'h', 'port': 1, 'tls': {'verify': False, 'check_hostname': False, 'min_days': 3, 'min_version': 'TLSv1.2'}, 'http': {}},
     ['tls_handshake', 'tls_days', 'tls_version', 'http_status']),
    ({'host': 'h', 'port': 1, 'tls': {'verify': False, 'check_hostname': False}, 'expect': 'x'}, ['tls_handshake', 'expect']),
    ({'host': 'h', 'port': 1, 'ssh': {}}, ['ssh_handshake']),
    ({'host': 'h', 'port': 1, 'ssh': {'host_key': ['SHA256:a='], 'auth_methods': ['publickey']}, 'max_ms': 9},
     ['ssh_handshake', 'ssh_host_key', 'ssh_auth_methods', 'max_ms']),
])
def test_plan(raw, plan):
    assert Target(0, raw).plan == plan


def test_defaults_and_derived_values():
    target = Target(3, {'host': 'db.lab.test', 'port': 5432, 'tls': {}, 'ssh': None, 'http': {'status': 204}})
    assert (target.proto, target.family, target.timeout, target.payload, target.expect) == ('tcp', 'any', 5.0, None, None)
    assert target.tls['hostname'] == 'db.lab.test'
    assert target.http['status'] == [204]
    assert target.http['headers'] == []
    assert target.needs_worker and target.has_response
    assert Target(0, {'host': '10.0.0.1', 'port': 443, 'tls': {}}).tls['hostname'] is None
    assert Target(0, {'host': 'h', 'port': 53, 'proto': 'udp', 'send_hex': '00 01 ff'}).payload == b'\x00\x01\xff'
    assert Target(0, {'host': 'h', 'port': 1, 'ssh': {'host_key': ['SHA256:abc==']}}).ssh['host_key'] == ['SHA256:abc']


@pytest.mark.parametrize('raw, message', [
    ({'port': 1}, 'targets[0]: host is required'),
    ({'host': 'h', 'port': 0}, 'targets[0] (h:0/tcp): port must be an integer from 1 to 65535'),
    ({'host': 'h', 'port': 70000}, 'targets[0] (h:70000/tcp): port must be an integer from 1 to 65535'),
    ({'host': 'h', 'port': 1, 'timeout': 0}, 'targets[0] (h:1/tcp): timeout must be greater than 0'),
    ({'host': 'h', 'port': 1, 'timeout': float('inf')}, 'targets[0] (h:1/tcp): timeout must be a finite number of seconds, not inf'),
    ({'host': 'h', 'port': 1, 'timeout': float('nan')}, 'targets[0] (h:1/tcp): timeout must be a finite number of seconds, not nan'),
    ({'host': 'h', 'port': 1, 'colour': 'red'}, "targets[0]: unknown option 'colour'"),
    ({'host': 'h', 'port': 1, 'expect': '('}, 'targets[0] (h:1/tcp): expect is not a valid regular expression: '),
    ({'host': 'h', 'port': 1, 'send': 'a', 'send_hex': '00'}, 'send and send_hex are mutually exclusive'),
    ({'host': 'h', 'port': 1, 'send_hex': 'zz'}, 'send_hex is not hexadecimal'),
    ({'host': 'h', 'port': 1, 'proto': 'udp', 'http': {}}, 'http, tls and ssh checks need proto tcp'),
    ({'host': 'h', 'port': 1, 'ssh': {}, 'tls': {}}, 'ssh cannot be combined with http, tls, send or expect'),
    ({'host': 'h', 'port': 1, 'http': {}, 'expect': 'x'}, 'http cannot be combined with send or expect (use http.body)'),
    ({'host': 'h', 'port': 1, 'expect_reply': True}, 'expect_reply applies to proto udp only'),
    ({'host': 'h', 'port': 1, 'http': {'method': 'GET /x'}}, "http.method 'GET /x' is not an HTTP method token"),
    ({'host': 'h', 'port': 1, 'http': {'path': 'x'}}, 'http.path must start with /'),
    ({'host': 'h', 'port': 1, 'http': {'path': '/a b'}}, 'http.path must start with /'),
    ({'host': 'h', 'port': 1, 'http': {'headers': {'X-A': 'v\r\nInjected: 1'}}}, "invalid header name or value (name 'X-A')"),
    ({'host': 'h', 'port': 1, 'http': {'headers': {'Bad Name': 'v'}}}, 'invalid header name or value'),
    ({'host': 'h', 'port': 1, 'http': {'status': [99]}}, 'http.status must list HTTP status codes'),
    ({'host': 'h', 'port': 1, 'http': {'body': '['}}, 'http.body is not a valid regular expression'),
    ({'host': 'h', 'port': 1, 'tls': {'min_version': 'SSLv3'}}, 'tls.min_version must be one of'),
    ({'host': 'h', 'port': 1, 'tls': {'client_key': '/k'}}, 'tls.client_key needs tls.client_cert'),
    ({'host': 'h', 'port': 1, 'ssh': {'host_key': ['MD5:aa']}}, 'ssh.host_key entries must be SHA256:... fingerprints'),
])
def test_rejected_targets(raw, message):
    with pytest.raises(ProbeConfigError) as info:
        Target(0, raw)
    assert message in str(info.value)


def test_load_and_wait_options():
    targets = normalize_targets([{'host': 'h', 'port': 80, 'http': {}}])
    assert normalize_load({'requests': 5, 'concurrency': 50}, targets) == {
        'requests': 5, 'concurrency': 5, 'p95_ms': None, 'max_errors': 0, 'max_requests': 10000, 'max_concurrency': 100, 'deadline': 60.0}
    assert normalize_wait({}) == {'timeout': 60.0, 'interval': 1.0}
    with pytest.raises(ProbeConfigError, match='load: runs against exactly one target, 2 were given'):
        normalize_load({}, normalize_targets([{'host': 'h', 'port': 1}, {'host': 'h', 'port': 2}]))
    with pytest.raises(ProbeConfigError, match='must be a TCP target'):
        normalize_load({}, normalize_targets([{'host': 'h', 'port': 1, 'proto': 'udp'}]))
    with pytest.raises(ProbeConfigError, match='at least one target'):
        normalize_targets([])


@pytest.mark.parametrize('wait, message', [
    ({'timeout': float('inf')}, 'wait: timeout must be a finite number of seconds, not inf'),
    ({'timeout': 5, 'interval': float('nan')}, 'wait: interval must be a finite number of seconds, not nan'),
    ({'timeout': 0}, 'wait: timeout must be greater than 0 and interval not negative'),
])
def test_a_wait_without_bound_is_refused(wait, message):
    with pytest.raises(ProbeConfigError) as caught:
        normalize_wait(wait)
    assert str(caught.value) == message
