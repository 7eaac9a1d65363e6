# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# port_probe's first_answer: the handshakes of an identification (module_utils/_probe/_identify.py identify_targets,
# one connection per protocol to the same port) stop waiting once one of them is answered by its own protocol.
# Against servers on loopback: Python's http.server (answers GET, keeps quiet on the greeting wait and on binary
# requests without a line end) and small TCP servers that answer two protocols at once or one of them late.

from __future__ import annotations

import time

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import identify_targets, what_answers
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers

STOPPED = 'not waited for: the port answered as %s to another handshake in '


def identify(port, timeout, first_answer):
    targets = identify_targets('t', '127.0.0.1', port, 'tcp', timeout)
    began = time.monotonic()
    result = run({'targets': targets, 'first_answer': first_answer})
    return result['probes'], time.monotonic() - began


def protocol_check(probe):
    return [entry for entry in probe['response'] if entry['name'] == 'protocol'][0]


@pytest.fixture
def http_server():
    server = servers.HttpServer()
    yield server
    server.close()


def test_an_http_server_is_named_at_its_first_answer_and_the_silent_handshakes_stop(http_server):
    probes, took = identify(http_server.port, 10.0, True)
    answers = what_answers(http_server.port, 'tcp', probes, 10.0)
    assert answers['answered'] == ['http']
    stopped = [p for p in probes if (p['reason'] or '').startswith(STOPPED % 'http')]
    # the greeting wait (smtp: sends nothing) and the binary handshakes with no line end get no answer from it
    assert 'http' not in [p['name'].rsplit('/', 1)[1] for p in stopped]
    assert 't/smtp' in [p['name'] for p in stopped]
    for probe in stopped:
        assert probe['state'] == 'open' and probe['connected'] is True
        assert protocol_check(probe)['status'] == 'skip'
        assert protocol_check(probe)['message'] == probe['reason']
    assert not [p for p in probes if p['state'] == 'timeout']
    assert took < 5.0  # bounded by the first answer, not by the 10 s timeout


def test_without_first_answer_the_silent_handshakes_run_to_their_timeout(http_server):
    probes, took = identify(http_server.port, 1.0, False)
    assert what_answers(http_server.port, 'tcp', probes, 1.0)['answered'] == ['http']
    smtp = [p for p in probes if p['name'] == 't/smtp'][0]
    assert (smtp['state'], smtp['reason']) == ('timeout', 'connected, but the response did not complete within 1 s')
    assert protocol_check(smtp)['status'] == 'fail'
    assert took >= 1.0


def _two_protocols(late):
    """A server that answers an HTTP request at once and a RESP PING after LATE seconds; silent otherwise."""
    def handler(conn):
        data = servers.read_line(conn)
        if data.startswith(b'GET '):
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
        elif data.startswith(b'*1\r\n'):
            time.sleep(late)
            conn.sendall(b'+PONG\r\n')
        time.sleep(3)
    return handler


@pytest.mark.parametrize('late, answered', [(0.0, ['http', 'redis']), (2.0, ['http'])], ids=['at-once', 'later'])
def test_a_second_protocol_is_reported_when_it_answers_within_the_settling_time(late, answered):
    server = servers.TcpServer(_two_protocols(late))
    try:
        probes, _took = identify(server.port, 5.0, True)
    finally:
        server.close()
    assert what_answers(server.port, 'tcp', probes, 5.0)['answered'] == answered
    redis = [p for p in probes if p['name'] == 't/redis'][0]
    if late:  # 2 s is past the settling time of an answer that took milliseconds
        assert redis['reason'].startswith(STOPPED % 'http') and protocol_check(redis)['status'] == 'skip'
    else:
        assert protocol_check(redis)['status'] == 'pass'


def test_first_answer_leaves_targets_of_other_ports_and_without_a_protocol_alone(http_server):
    hang = servers.TcpServer()
    try:
        targets = identify_targets('t', '127.0.0.1', http_server.port, 'tcp', 1.0) + [
            {'name': 'other', 'host': '127.0.0.1', 'port': hang.port, 'protocol': 'redis', 'timeout': 1.0},
            {'name': 'plain', 'host': '127.0.0.1', 'port': http_server.port, 'send': 'x', 'expect': 'never', 'timeout': 1.0}]
        probes = run({'targets': targets, 'first_answer': True})['probes']
    finally:
        hang.close()
    other, plain = probes[-2:]
    assert (other['state'], other['reason']) == ('timeout', 'connected, but the response did not complete within 1 s')
    assert plain['state'] == 'timeout'
