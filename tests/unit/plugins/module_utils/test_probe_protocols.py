# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Protocol identification (module_utils/_probe/_protocols.py) over replies captured from real
# servers: fixtures/protocols/*.json, written by fixtures/protocols/capture.py (Debian packages,
# their configuration and command line in each file), plus public Kafka samples (provenance in
# kafka-binspec.json). Every protocol's request went to every server: the full cross matrix.

from __future__ import annotations

import glob
import json
import os
import struct

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import (
    PROTOCOLS,
    TCP_PROTOCOLS,
    UDP_PROTOCOLS,
    Handshake,
    answered,
    identify,
    step,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'protocols')
RECORDS = [json.load(open(path)) for path in sorted(glob.glob(os.path.join(FIXTURES, '*.json')))]
EXCHANGES = [(record, exchange) for record in RECORDS for exchange in record['exchanges']]
NONCE = bytes.fromhex('5a17c0de0badf00d')


def replay(record, exchange):
    """Feed the captured reply to step() as it may arrive over TCP, one byte at a time after a
    first read of two (a UDP datagram comes whole): (handshake, bytes seen when step() decided,
    what step() asked to send). A first read of one byte is PostgreSQL's answer to SSLRequest, S
    or N, by the rule of _protocols (a server that speaks first writes its greeting at once)."""
    hs = Handshake(exchange['protocol'], exchange['proto'], bytes.fromhex(record['nonce']))
    reply = bytes.fromhex(exchange['reply'])
    sent = [hs.request]
    if exchange['proto'] == 'udp':
        return hs, reply, sent
    for size in range(min(2, len(reply)), len(reply) + 1):
        decided, follow = step(hs, reply[:size], False)
        if follow:
            sent.append(follow)
        if decided:
            return hs, reply[:size], sent
    step(hs, reply, True)
    return hs, reply, sent


def test_the_fixtures_cover_every_protocol_against_every_captured_server():
    servers = {record['speaks'] for record in RECORDS}
    assert servers == set(PROTOCOLS)  # MongoDB (not in Debian 12) and Kafka are public samples (see the docs)
    for record in RECORDS:
        if record['package'] is None:
            continue  # a public sample of one reply
        asked = {(exchange['protocol'], exchange['proto']) for exchange in record['exchanges']}
        transports = {exchange['proto'] for exchange in record['exchanges']}
        wanted = set()
        for proto in transports:
            wanted |= {(name, proto) for name in (UDP_PROTOCOLS if proto == 'udp' else TCP_PROTOCOLS)}
        assert asked == wanted, record['server']
        assert record['version'] and record['command'] and record['config'], record['server']


@pytest.mark.parametrize('record, exchange', EXCHANGES,
                         ids=['%s-%s-%s' % (r['server'], e['protocol'], e['proto']) for r, e in EXCHANGES])
def test_each_server_is_identified_as_its_protocol_and_as_no_other(record, exchange):
    hs, seen, sent = replay(record, exchange)
    # what the capture sent is what the request builder sends (the follow-up included); a
    # ClientHello carries fresh random bytes each time
    if exchange['protocol'] != 'tls' and exchange['sent']:
        assert [item.hex() for item in sent] == exchange['sent']
    result = identify(hs, exchange['port'], seen, exchange['ending'], 2.0)
    if exchange['protocol'] == record['speaks']:
        assert result['verdict'] == 'pass', result
        assert result['answered'] == record['speaks']
        assert result['message'] == '%d/%s answers as %s' % (exchange['port'], exchange['proto'], record['speaks'])
    else:
        assert result['verdict'] == 'fail', result
        assert result['answered'] in (None, record['speaks']), result
        if result['answered'] is not None:
            assert result['message'] == '%d/%s answers as %s, not %s' % (
                exchange['port'], exchange['proto'], record['speaks'], exchange['protocol'])


@pytest.mark.parametrize('record', [r for r in RECORDS if r['package'] is None], ids=lambda r: r['server'])
def test_a_public_sample_passes_for_no_other_protocol(record):
    for exchange in record['exchanges']:
        reply = bytes.fromhex(exchange['reply'])
        for name in TCP_PROTOCOLS:
            hs = Handshake(name, 'tcp', bytes.fromhex(record['nonce']))
            assert (answered(hs, reply) == name) == (name == record['speaks']), name


def fixture_reply(server, protocol, proto='tcp'):
    record = [r for r in RECORDS if r['server'] == server][0]
    return [bytes.fromhex(e['reply']) for e in record['exchanges'] if e['protocol'] == protocol and e['proto'] == proto][0]


def test_named_answers_instead_of_the_asked_protocol():
    hs = Handshake('postgres', 'tcp', NONCE)
    result = identify(hs, 5432, fixture_reply('redis-server', 'memcached'), 'decided')
    assert (result['verdict'], result['answered']) == ('fail', 'redis')
    assert result['message'] == '5432/tcp answers as redis, not postgres'
    assert result['excerpt'].startswith("-ERR unknown command 'version'")


def test_a_plain_http_request_on_a_tls_port_names_tls():
    hs = Handshake('http', 'tcp', NONCE)
    reply = fixture_reply('nginx-tls', 'http')
    assert b'The plain HTTP request was sent to HTTPS port' in reply
    assert identify(hs, 443, reply, 'closed')['message'] == '443/tcp answers as tls, not http'


def test_nothing_recognisable_nothing_sent_and_closed_are_told_apart():
    hs = Handshake('ldap', 'tcp', NONCE)
    result = identify(hs, 7000, b'\x00\x01hello\x1b[2J', 'closed')
    assert result == {'expected': 'ldap', 'answered': None, 'verdict': 'fail', 'excerpt': '\x00\x01hello\x1b[2J', 'bytes': 11,
                      'message': "7000/tcp: nothing recognisable answered (expected ldap): '\\x00\\x01hello\\x1b[2J'"}
    assert identify(hs, 7000, b'', 'closed')['message'] == '7000/tcp closed the connection without an answer (expected ldap)'
    assert identify(hs, 7000, b'', 'timeout', 1.5)['message'] == '7000/tcp sent nothing within 1.5 s (expected ldap)'


def test_a_220_greeting_naming_neither_smtp_nor_ftp_is_settled_by_noop():
    # RFC 5321 answers NOOP with 250, RFC 959 with 200.
    greeting = b'220 mail.example.test ready\r\n'
    # vsftpd 3.0.3 (ftpd_banner=Welcome) answers NOOP before login with 530 (tests/labtest/test_protocols.py).
    for asked, answer, name in (('smtp', b'250 2.0.0 Ok\r\n', 'smtp'), ('ftp', b'250 2.0.0 Ok\r\n', 'smtp'),
                                ('ftp', b'200 NOOP ok.\r\n', 'ftp'), ('smtp', b'200 NOOP ok.\r\n', 'ftp'),
                                ('ftp', b'530 Please login with USER and PASS.\r\n', 'ftp'),
                                ('smtp', b'530 5.7.0 Must issue a STARTTLS command first\r\n', None)):
        hs = Handshake(asked, 'tcp', NONCE)
        assert step(hs, greeting, False) == (False, b'NOOP\r\n')
        assert step(hs, greeting + answer[:3], False) == (False, b'')
        assert step(hs, greeting + answer, False) == (True, b'')
        result = identify(hs, 2525, greeting + answer, 'decided')
        assert result['answered'] == name, (asked, answer)
        assert result['verdict'] == ('pass' if asked == name else 'fail')


def test_a_postgres_ssl_answer_is_exactly_one_byte():
    hs = Handshake('postgres', 'tcp', NONCE)
    assert step(hs, b'N', False) == (True, b'')
    assert answered(hs, b'N') == 'postgres'
    assert answered(hs, b'NOPE\r\n') is None
    assert answered(hs, b'S') == 'postgres'


def test_replies_to_another_request_id_are_not_accepted():
    hs = Handshake('dns', 'udp', NONCE)
    reply = bytearray(fixture_reply('dnsmasq', 'dns', 'udp'))
    assert answered(hs, bytes(reply)) == 'dns'
    reply[0:2] = struct.pack('>H', hs.id16 ^ 1)
    assert answered(hs, bytes(reply)) is None
    ntp = Handshake('ntp', 'udp', NONCE)
    answer = bytearray(fixture_reply('ntpsec', 'ntp', 'udp'))
    assert answered(ntp, bytes(answer)) == 'ntp'
    answer[24] ^= 0xff
    assert answered(ntp, bytes(answer)) is None


def test_requests_carry_no_credential_and_bad_names_are_refused():
    for name in TCP_PROTOCOLS:
        request = Handshake(name, 'tcp', NONCE).request
        assert b'password' not in request.lower() and b'auth' not in request.lower(), name
    with pytest.raises(ValueError, match=r"unknown protocol 'gopher'"):
        Handshake('gopher', 'tcp', NONCE)
    with pytest.raises(ValueError, match='protocol ntp is not probed over tcp'):
        Handshake('ntp', 'tcp', NONCE)
    with pytest.raises(ValueError, match='protocol redis is not probed over udp'):
        Handshake('redis', 'udp', NONCE)


def _target(**options):
    from ansible_collections.portproof.validate.plugins.module_utils._probe._target import Target
    return Target(0, dict({'host': '192.0.2.7', 'port': 5432}, **options))


def test_the_protocol_option_plans_one_protocol_check():
    target = _target(protocol='postgres', max_ms=50)
    assert (target.protocol, target.plan, target.has_response, target.needs_worker) == ('postgres', ['protocol', 'max_ms'], True, False)
    assert _target(protocol='dns', proto='udp').plan == ['protocol']


@pytest.mark.parametrize('options, message', [
    ({'protocol': 'gopher'}, r"targets\[0\] \(192.0.2.7:5432/tcp\): protocol must be one of http, tls, .*, kafka, not 'gopher'"),
    ({'protocol': 'ntp'}, r'protocol ntp is not probed over tcp \(tcp: http, tls'),
    ({'protocol': 'redis', 'proto': 'udp'}, r'protocol redis is not probed over udp \(udp: dns, ntp\)'),
    ({'protocol': 'redis', 'send': 'PING'}, r'protocol cannot be combined with send \(it sends its own handshake\)'),
    ({'protocol': 'http', 'http': {'path': '/'}, 'expect': 'x'},
     r'protocol cannot be combined with expect, http \(it sends its own handshake\)'),
])
def test_the_protocol_option_refuses_what_it_cannot_probe(options, message):
    from ansible_collections.portproof.validate.plugins.module_utils._probe._target import ProbeConfigError
    with pytest.raises(ProbeConfigError, match=message):
        _target(**options)
