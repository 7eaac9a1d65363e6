# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The port_probe engine against real sockets on loopback: every outcome that loopback can
# produce, deadlines, concurrency, ordering, resolution and wait.

from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe import _engine
from ansible_collections.portproof.validate.plugins.module_utils._probe._engine import Engine, run_probes
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import normalize_targets


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers


@pytest.fixture
def hang():
    server = servers.TcpServer()
    yield server
    server.close()


@pytest.fixture
def pong():
    server = servers.TcpServer(servers.ping_pong)
    yield server
    server.close()


def probe(*targets, **kwargs):
    return run({'targets': list(targets)}, **kwargs)['probes']


def checks(result):
    return dict((entry['name'], entry) for entry in result['response'])


def test_open_and_refused():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        refused = servers.free_port()
        open_, closed = probe({'host': '127.0.0.1', 'port': port}, {'host': '127.0.0.1', 'port': refused})
    assert (open_['state'], open_['phase'], open_['connected'], open_['reason'], open_['ok']) == ('open', 'connect', True, None, True)
    assert open_['resolved'] == '127.0.0.1' and open_['family'] == 'ipv4'
    assert open_['latency_ms'] is not None and 0 <= open_['latency_ms'] < 1000
    assert open_['response'] == []
    assert (closed['state'], closed['phase'], closed['connected'], closed['ok']) == ('refused', 'connect', False, False)
    assert closed['reason'] == 'Connection refused (ECONNREFUSED)'
    assert closed['latency_ms'] is None


def test_ipv6_loopback():
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(('::1', 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        (result,) = probe({'host': '::1', 'port': port})
    assert (result['state'], result['resolved'], result['family']) == ('open', '::1', 'ipv6')


def test_accept_then_hang_is_a_response_timeout(hang):
    began = time.monotonic()
    (result,) = probe({'host': '127.0.0.1', 'port': hang.port, 'timeout': 0.4, 'expect': '^220 '})
    took = time.monotonic() - began
    assert 0.35 < took < 1.5
    assert (result['state'], result['phase'], result['connected'], result['ok']) == ('timeout', 'response', True, False)
    assert result['reason'] == 'connected, but the response did not complete within 0.4 s'
    assert checks(result)['expect']['status'] == 'fail'
    assert checks(result)['expect']['actual'] == 'timeout'
    assert result['latency_ms'] is not None


def test_hanging_service_without_response_check_is_open(hang):
    (result,) = probe({'host': '127.0.0.1', 'port': hang.port, 'timeout': 3.0})
    assert result['state'] == 'open'
    assert result['total_ms'] < 1500  # done at the connect, not at the 3 s deadline


def test_a_wrong_answer_on_a_connection_kept_open_is_shown():
    # a Redis that wants a password answers PING with an error and keeps the connection: the
    # deadline ends the probe, and the answer that did not match is in the verdict
    def noauth(conn):
        conn.recv(100)
        conn.sendall(b'-NOAUTH Authentication required.\r\n')
        time.sleep(3)

    server = servers.TcpServer(noauth)
    try:
        (result,) = probe({'host': '127.0.0.1', 'port': server.port, 'send': 'PING\r\n', 'expect': r'^\+PONG', 'timeout': 1})
    finally:
        server.close()
    assert (result['state'], result['reason']) == ('timeout', 'connected, but the response did not complete within 1 s')
    assert checks(result)['expect'] == {
        'name': 'expect', 'status': 'fail', 'expected': r'^\+PONG', 'actual': '-NOAUTH Authentication required.\r\n',
        'message': "no match for /^\\+PONG/ in the 34 bytes received within 1 s: '-NOAUTH Authentication required.\\r\\n'"}
    assert result['reply'] == {'bytes': 34, 'excerpt': '-NOAUTH Authentication required.\r\n'}


def test_banner_match_and_mismatch():
    server = servers.TcpServer(servers.banner(b'220 mail.example.test ESMTP ready\r\n'))
    try:
        good, bad = probe({'host': '127.0.0.1', 'port': server.port, 'expect': r'^220 \S+ ESMTP'},
                          {'host': '127.0.0.1', 'port': server.port, 'expect': '^SSH-2.0', 'timeout': 2})
    finally:
        server.close()
    assert good['state'] == 'open' and good['ok']
    assert checks(good)['expect'] == {'name': 'expect', 'status': 'pass', 'expected': r'^220 \S+ ESMTP',
                                      'actual': '220 mail.example.test ESMTP ready\r\n',
                                      'message': r'received 35 bytes matching /^220 \S+ ESMTP/'}
    assert good['reply'] == {'bytes': 35, 'excerpt': '220 mail.example.test ESMTP ready\r\n'}
    # The banner server closes after 0.5 s: the non-matching banner fails without waiting for the 2 s deadline.
    assert bad['state'] == 'open' and not bad['ok']
    assert checks(bad)['expect']['status'] == 'fail'
    # what came back is in the message, bounded and with its control characters escaped
    assert checks(bad)['expect']['message'] == "the peer closed the connection after 35 bytes without a match: '220 mail.example.test ESMTP ready\\r\\n'"
    assert bad['total_ms'] < 1500


def test_send_expect(pong):
    good, bad, sent, empty = probe({'host': '127.0.0.1', 'port': pong.port, 'send': 'PING\r\n', 'expect': r'^\+PONG'},
                                   {'host': '127.0.0.1', 'port': pong.port, 'send': 'HELLO\r\n', 'expect': r'^\+PONG'},
                                   {'host': '127.0.0.1', 'port': pong.port, 'send_hex': '50 49 4e 47 0d 0a'},
                                   {'host': '127.0.0.1', 'port': pong.port, 'send': '', 'timeout': 2})
    assert checks(good)['expect']['status'] == 'pass' and good['ok']
    assert checks(bad)['expect']['status'] == 'fail' and checks(bad)['expect']['actual'] == '-ERR unknown\r\n'
    assert checks(sent)['send'] == {'name': 'send', 'status': 'pass', 'expected': 6, 'actual': 6,
                                    'message': 'sent 6 bytes, no reply expected'}
    assert (empty['state'], checks(empty)['send']['status']) == ('open', 'pass')
    assert empty['total_ms'] < 1000


def test_udp_with_responder_silent_listener_and_no_listener():
    echo = servers.UdpServer(lambda data: b'PONG ' + data)
    silent = servers.UdpServer(None)
    nobody = servers.free_port(socket.SOCK_DGRAM)
    try:
        replied, matched, mismatched, filtered, refused, required = probe(
            {'host': '127.0.0.1', 'port': echo.port, 'proto': 'udp', 'send': 'hello'},
            {'host': '127.0.0.1', 'port': echo.port, 'proto': 'udp', 'send': 'ping', 'expect': '^PONG ping$'},
            {'host': '127.0.0.1', 'port': echo.port, 'proto': 'udp', 'send': 'ping', 'expect': '^PONG pong$'},
            {'host': '127.0.0.1', 'port': silent.port, 'proto': 'udp', 'send': 'hello', 'timeout': 0.3},
            {'host': '127.0.0.1', 'port': nobody, 'proto': 'udp', 'send': 'hello', 'timeout': 0.3},
            {'host': '127.0.0.1', 'port': silent.port, 'proto': 'udp', 'send': 'x', 'expect_reply': True, 'timeout': 0.3},
        )
    finally:
        echo.close()
        silent.close()
    assert (replied['state'], replied['connected'], replied['ok']) == ('open', True, True)
    assert replied['reply'] == {'bytes': 10, 'excerpt': 'PONG hello'}
    assert replied['response'] == []
    assert checks(matched)['reply']['status'] == 'pass' and matched['ok']
    assert (mismatched['state'], mismatched['ok']) == ('open', False)
    assert checks(mismatched)['reply'] == {'name': 'reply', 'status': 'fail', 'expected': '^PONG pong$', 'actual': 'PONG ping',
                                           'message': "the 9 bytes reply does not match /^PONG pong$/: 'PONG ping'"}
    assert (filtered['state'], filtered['ok']) == ('open_filtered', False)
    assert filtered['reason'] == 'no reply and no ICMP error within 0.3 s'
    assert silent.received[:1] == [b'hello']
    assert (refused['state'], refused['reason']) == ('refused', 'Connection refused (ECONNREFUSED)')
    assert required['state'] == 'open_filtered'
    assert checks(required)['reply'] == {'name': 'reply', 'status': 'fail', 'expected': None, 'actual': None,
                                         'message': 'no reply within 0.3 s'}


def test_deadlines_run_concurrently_and_each_target_keeps_its_own(hang):
    """Ten hanging probes of 1.5 s and one of 0.2 s end together after about 1.5 s, not 15.2 s."""
    targets = [{'host': '127.0.0.1', 'port': hang.port, 'timeout': 1.5, 'expect': 'x'} for _index in range(10)]
    targets.append({'host': '127.0.0.1', 'port': hang.port, 'timeout': 0.2, 'expect': 'x'})
    began = time.monotonic()
    results = probe(*targets)
    took = time.monotonic() - began
    assert 1.45 < took < 5.0  # the sum of the timeouts would be 15.2 s
    assert [r['state'] for r in results] == ['timeout'] * 11
    assert 180 < results[-1]['total_ms'] < 1300  # its own deadline, not the others'
    assert all(1450 < r['total_ms'] < 4500 for r in results[:10])


def test_results_keep_target_order():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        refused = servers.free_port()
        targets = [{'host': '127.0.0.1', 'port': port if index % 2 else refused, 'name': 'n%d' % index} for index in range(40)]
        results = probe(*targets)
    assert [r['name'] for r in results] == ['n%d' % index for index in range(40)]
    assert [r['state'] for r in results] == ['refused' if index % 2 == 0 else 'open' for index in range(40)]


def test_queueing_when_few_descriptors_are_available():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        sessions = [Session(t) for t in normalize_targets([{'host': '127.0.0.1', 'port': port}] * 25)]
        Engine(sessions, max_in_flight=3).run()
    assert [s.state for s in sessions] == ['open'] * 25


def test_localhost_resolves_on_this_host():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)
        (result,) = probe({'host': 'localhost', 'port': listener.getsockname()[1], 'family': 'ipv4'})
    assert (result['state'], result['resolved'], result['phase']) == ('open', '127.0.0.1', 'connect')


def _fake_resolver(table, delay=0.0, calls=None):
    def resolve(host, family, socktype):
        if calls is not None:
            calls.append(host)
        time.sleep(delay)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
        return [(socket.AF_INET, socktype, 0, '', (table[host], 0))]
    return resolve


def test_dns_error_names_the_host_and_names_are_resolved_once(pong):
    calls = []
    resolver = _fake_resolver({'db.lab.test': '127.0.0.1'}, calls=calls)
    missing, found, again = probe({'host': 'nosuch.lab.test', 'port': 5432},
                                  {'host': 'db.lab.test', 'port': pong.port},
                                  {'host': 'db.lab.test', 'port': pong.port + 0}, resolver=resolver)
    assert (missing['state'], missing['phase'], missing['resolved']) == ('dns_error', 'resolve', None)
    assert missing['reason'] == "cannot resolve 'nosuch.lab.test' on this host: Name or service not known"
    assert (found['state'], found['resolved']) == ('open', '127.0.0.1')
    assert again['state'] == 'open'
    assert sorted(calls) == ['db.lab.test', 'nosuch.lab.test']


def test_slow_resolver_is_bounded_by_the_deadline():
    resolver = _fake_resolver({'slow.lab.test': '127.0.0.1'}, delay=3.0)
    began = time.monotonic()
    (result,) = probe({'host': 'slow.lab.test', 'port': 1, 'timeout': 0.3}, resolver=resolver)
    assert time.monotonic() - began < 1.0
    assert (result['state'], result['reason']) == ('dns_error', "no answer from the resolver for 'slow.lab.test' within 0.3 s")


def test_max_ms_on_connect_and_on_response(pong):
    fast, slow = probe({'host': '127.0.0.1', 'port': pong.port, 'max_ms': 1000},
                       {'host': '127.0.0.1', 'port': pong.port, 'send': 'PING\r\n', 'expect': 'PONG', 'max_ms': 0.001})
    assert checks(fast)['max_ms']['status'] == 'pass'
    assert checks(fast)['max_ms']['message'].startswith('the TCP connect took ')
    assert checks(slow)['max_ms']['status'] == 'fail' and not slow['ok']
    assert checks(slow)['max_ms']['actual'] == slow['total_ms']


def test_refused_target_lists_its_planned_checks_as_skipped():
    (result,) = probe({'host': '127.0.0.1', 'port': servers.free_port(), 'expect': 'x', 'max_ms': 10})
    assert result['response'] == [
        {'name': 'expect', 'status': 'skip', 'expected': None, 'actual': None, 'message': 'not run: the probe ended refused'},
        {'name': 'max_ms', 'status': 'skip', 'expected': 10, 'actual': None, 'message': 'no complete answer to time (refused)'},
    ]


def test_wait_until_the_service_comes_up():
    port = servers.free_port()
    holder = {}

    def start_later():
        time.sleep(0.6)
        holder['sock'] = sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', port))
        sock.listen(8)

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        result = run({'targets': [{'host': '127.0.0.1', 'port': port, 'timeout': 0.2}], 'wait': {'timeout': 5, 'interval': 0.2}})
    finally:
        thread.join()
        holder['sock'].close()
    assert result['wait']['held'] is True
    assert result['wait']['rounds'] >= 2
    assert result['probes'][0]['state'] == 'open' and result['probes'][0]['attempts'] == result['wait']['rounds']
    assert result['ok'] is True


def test_wait_gives_up_at_its_deadline(hang):
    began = time.monotonic()
    result = run({'targets': [{'host': '127.0.0.1', 'port': hang.port, 'timeout': 5, 'expect': 'never'}],
                  'wait': {'timeout': 0.8, 'interval': 0.1}})
    took = time.monotonic() - began
    assert took < 1.5
    assert result['wait']['held'] is False and result['ok'] is False
    assert result['probes'][0]['state'] == 'timeout'


def test_socket_creation_failure_is_an_error_state(monkeypatch):
    real = socket.socket

    def broken(family=-1, kind=-1, proto=-1, fileno=None):
        if kind == socket.SOCK_STREAM and fileno is None:
            raise OSError(24, 'Too many open files')
        return real(family, kind, proto, fileno)

    monkeypatch.setattr(_engine.socket, 'socket', broken)
    (result,) = run_probes(normalize_targets([{'host': '127.0.0.1', 'port': 9}]))
    assert (result.state, result.reason) == ('error', 'Too many open files (EMFILE)')
