# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The load check of port_probe: arithmetic, and real runs against services on loopback.

from __future__ import annotations

import socket
import time

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe import _target
from ansible_collections.portproof.validate.plugins.module_utils._probe._load import summarize
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import ProbeConfigError


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers


@pytest.fixture(scope='module')
def web():
    server = servers.HttpServer()
    yield server
    server.close()


def test_summarize():
    opts = {'requests': 22, 'concurrency': 2, 'p95_ms': 19.5, 'max_errors': 1}
    result = summarize({'host': 'h'}, opts, [float(v) for v in range(1, 21)], {'refused': 1, 'http_status': 1}, ['x'], 2.0)
    assert {key: result[key] for key in ('completed', 'errors', 'error_kinds', 'p50_ms', 'p95_ms', 'max_ms', 'min_ms', 'mean_ms',
                                         'duration_ms', 'rate_per_s', 'ok')} == {
        'completed': 22, 'errors': 2, 'error_kinds': {'http_status': 1, 'refused': 1}, 'p50_ms': 10.0, 'p95_ms': 19.0,
        'max_ms': 20.0, 'min_ms': 1.0, 'mean_ms': 10.5, 'duration_ms': 2000.0, 'rate_per_s': 11.0, 'ok': False}
    assert result['checks'] == [
        {'name': 'load_errors', 'status': 'fail', 'expected': '<= 1', 'actual': 2,
         'message': '2 of 22 requests failed: http_status 1, refused 1'},
        {'name': 'load_p95', 'status': 'pass', 'expected': 19.5, 'actual': 19.0,
         'message': 'p95 19.000 ms over 20 successful requests (limit 19.5 ms)'},
    ]


def test_summarize_without_successes():
    result = summarize({}, {'requests': 3, 'concurrency': 1, 'p95_ms': 10, 'max_errors': 5}, [], {'timeout': 3}, [], 1.0)
    assert result['p95_ms'] is None and result['checks'][1]['status'] == 'fail'
    assert result['checks'][0]['status'] == 'pass'


def test_http_load_reports_p95_and_fails_a_too_tight_limit(web):
    target = {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/slow?d=0.02', 'json_query': "status == 'ok'"}}
    tight = run({'targets': [target], 'load': {'requests': 60, 'concurrency': 6, 'p95_ms': 1}})
    load = tight['load']
    assert (load['completed'], load['errors'], load['concurrency']) == (60, 0, 6)
    assert 20 <= load['p50_ms'] <= load['p95_ms'] <= load['max_ms']
    assert load['checks'][1]['name'] == 'load_p95' and load['checks'][1]['status'] == 'fail'
    assert load['checks'][1]['actual'] == load['p95_ms']
    assert load['ok'] is False and tight['ok'] is False
    assert tight['probes'][0]['ok'] is True
    # 60 requests of >= 20 ms, 6 at a time: at least 10 rounds, far less than 60 in a row.
    assert 200 <= load['duration_ms'] < 3000
    relaxed = run({'targets': [target], 'load': {'requests': 20, 'concurrency': 5, 'p95_ms': 5000}})
    assert relaxed['load']['ok'] is True and relaxed['ok'] is True


def test_http_errors_are_counted_by_kind(web):
    result = run({'targets': [{'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/degraded'}}],
                  'load': {'requests': 10, 'concurrency': 3, 'max_errors': 10}})
    assert result['load']['errors'] == 10 and result['load']['error_kinds'] == {'http_status': 10}
    assert result['load']['error_samples'][0] == 'http_status: GET /degraded answered 503 Service Unavailable'
    assert result['load']['p95_ms'] is None
    assert result['load']['ok'] is True  # 10 errors tolerated


def test_tcp_connect_load_and_refused_port():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(512)
        port = listener.getsockname()[1]
        ok = run({'targets': [{'host': '127.0.0.1', 'port': port}], 'load': {'requests': 200, 'concurrency': 20, 'p95_ms': 500}})
    assert (ok['load']['completed'], ok['load']['errors'], ok['load']['ok']) == (200, 0, True)
    refused = run({'targets': [{'host': '127.0.0.1', 'port': servers.free_port()}], 'load': {'requests': 15, 'concurrency': 4}})
    assert refused['load']['error_kinds'] == {'refused': 15}
    assert refused['load']['error_samples'][0] == 'refused: Connection refused (ECONNREFUSED)'


def test_hanging_service_under_load_is_bounded_by_each_timeout():
    server = servers.TcpServer()
    try:
        began = time.monotonic()
        result = run({'targets': [{'host': '127.0.0.1', 'port': server.port, 'timeout': 0.3, 'expect': 'x'}],
                      'load': {'requests': 6, 'concurrency': 3}})
        took = time.monotonic() - began
    finally:
        server.close()
    # probe (0.3 s) + two rounds of three requests (0.3 s each)
    assert 0.85 < took < 2.5
    assert result['load']['error_kinds'] == {'timeout': 6}


def test_unresolvable_target_skips_the_load():
    def resolver(host, family, kind):
        raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')

    result = run({'targets': [{'host': 'nosuch.lab.test', 'port': 80}], 'load': {'requests': 5}}, resolver=resolver)
    assert result['probes'][0]['state'] == 'dns_error'
    assert result['load']['ok'] is False
    assert result['load']['checks'][0]['message'] == 'not run: the target did not resolve (dns_error)'


@pytest.mark.parametrize('load, message', [
    ({'requests': 1000000, 'concurrency': 3000},
     'load: requests 1000000 is over the cap of 10000 (load.max_requests, role variable portproof_load_max_requests); raise the cap to run it'),
    ({'requests': 5000, 'concurrency': 3000},
     'load: concurrency 3000 is over the cap of 100 (load.max_concurrency, role variable portproof_load_max_concurrency); '
     'raise the cap to run it'),
    ({'requests': 20000, 'max_requests': 50000},
     "load: 20000 requests would take 20000 local ports, over half (14116) of this host's ephemeral port range 32768-60999; "
     "run fewer requests"),
    ({'requests': 10, 'deadline': 0}, 'load: deadline must be greater than 0'),
    # a deadline that never comes (YAML .inf / .nan) is no deadline
    ({'requests': 10, 'deadline': float('inf')}, 'load: deadline must be a finite number of seconds, not inf'),
    ({'requests': 10, 'deadline': float('nan')}, 'load: deadline must be a finite number of seconds, not nan'),
])
def test_load_caps_refuse_before_anything_is_sent(load, message, monkeypatch):
    monkeypatch.setattr(_target, 'ephemeral_ports', lambda: (32768, 60999))
    server = servers.TcpServer(servers.ping_pong)
    try:
        with pytest.raises(ProbeConfigError) as caught:
            run({'targets': [{'host': '127.0.0.1', 'port': server.port}], 'load': load})
        assert str(caught.value) == message
        assert server.accepted == 0
    finally:
        server.close()


def test_a_raised_cap_is_honoured(web):
    result = run({'targets': [{'host': '127.0.0.1', 'port': web.port}], 'load': {'requests': 30, 'concurrency': 12, 'max_concurrency': 12}})
    assert (result['load']['completed'], result['load']['errors'], result['load']['concurrency'], result['load']['ok']) == (30, 0, 12, True)


def test_ephemeral_ports_reads_the_kernel_range(tmp_path):
    path = tmp_path / 'range'
    path.write_text('40000\t40999\n')
    assert _target.ephemeral_ports(str(path)) == (40000, 40999)
    assert _target.ephemeral_ports(str(tmp_path / 'missing')) == (32768, 60999)


def test_the_deadline_ends_a_load_run_with_the_counts_so_far(web):
    # 200 requests of 200 ms, 2 at a time, would take 20 s; the deadline ends the run after 1 s.
    target = {'host': '127.0.0.1', 'port': web.port, 'timeout': 5, 'http': {'path': '/slow?d=0.2'}}
    began = time.monotonic()
    result = run({'targets': [target], 'load': {'requests': 200, 'concurrency': 2, 'deadline': 1}})
    elapsed = time.monotonic() - began
    load = result['load']
    assert elapsed < 3.5  # the probe (0.2 s), the 1 s deadline, the requests in flight ended at once
    assert load['deadline_reached'] is True and load['ok'] is False and result['ok'] is False
    # both workers are in flight at the deadline, unless one was just between two requests (a loaded machine)
    assert 6 <= load['completed'] <= 12 and load['errors'] == 0 and load['cut'] in (1, 2)
    assert load['checks'][-1] == {
        'name': 'load_deadline', 'status': 'fail', 'expected': '<= 1 s', 'actual': load['completed'],
        'message': 'the load run reached its deadline of 1 s after %d of 200 requests (%d succeeded, 0 failed, %d cut short by the '
                   'deadline); raise load.deadline (role variable portproof_load_deadline) or run fewer requests'
                   % (load['completed'], load['completed'], load['cut'])}
    assert load['checks'][0]['status'] == 'pass'  # requests cut by the deadline are not the service's errors
