# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# "What answers?" without an expected protocol (module_utils/_probe/_identify.py what_answers),
# over the replies captured from real servers (fixtures/protocols/*.json, written by
# fixtures/protocols/capture.py: Debian packages, their configuration and command line in each
# file): each server gets every handshake that identification offers, replayed as port_probe
# would record it, and must be named as its own protocol, and as nothing else.

from __future__ import annotations

import glob
import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import (
    IDENTIFY_TCP,
    IDENTIFY_UDP,
    identify_targets,
    what_answers,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import Handshake, identify, step

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'protocols')
RECORDS = [json.load(open(path)) for path in sorted(glob.glob(os.path.join(FIXTURES, '*.json')))]
CAPTURED = [(record, proto) for record in RECORDS if record['package'] is not None
            for proto in sorted({exchange['proto'] for exchange in record['exchanges']})]


def probe_result(record, exchange):
    """The port_probe result of one captured exchange, as the engine records it: the reply read a line at a time (a
    server writes each line, its greeting, whole; test_probe_protocols.replay feeds it a byte at a time to test the
    recognizers), step() deciding after each read."""
    hs = Handshake(exchange['protocol'], exchange['proto'], bytes.fromhex(record['nonce']))
    reply = bytes.fromhex(exchange['reply'])
    seen = reply
    if exchange['proto'] == 'tcp':
        ends = [at + 1 for at, byte in enumerate(reply) if byte == 0x0a]
        for size in [at for at in ends if at < len(reply)] + [len(reply)]:
            if step(hs, reply[:size], False)[0]:
                seen = reply[:size]
                break
    evidence = identify(hs, exchange['port'], seen, exchange['ending'], 2.0)
    connected = exchange['proto'] == 'tcp' or bool(reply)
    return {'port': exchange['port'], 'proto': exchange['proto'], 'connected': connected,
            'reason': None if connected else 'no reply and no ICMP error within 2 s', 'protocol': evidence}


@pytest.mark.parametrize('record, proto', CAPTURED, ids=['%s-%s' % (r['server'], p) for r, p in CAPTURED])
def test_every_captured_server_is_named_as_its_protocol_without_being_asked(record, proto):
    offered = IDENTIFY_UDP if proto == 'udp' else IDENTIFY_TCP
    probes = [probe_result(record, exchange) for exchange in record['exchanges']
              if exchange['proto'] == proto and exchange['protocol'] in offered]
    assert len(probes) == len(offered)
    port = probes[0]['port']
    assert what_answers(port, proto, probes, 2.0) == {
        'port': '%d/%s' % (port, proto), 'answered': [record['speaks']], 'label': 'answers as %s' % record['speaks'],
        'excerpt': None}


def test_the_banner_handshake_is_offered_first_and_udp_gets_only_requests():
    assert IDENTIFY_TCP[0] == 'smtp'  # sends nothing: reads what a server says first (and NOOP after a bare 220)
    assert identify_targets('undeclared 9999/tcp', '127.0.0.1', 9999, 'tcp', 2.0)[:2] == [
        {'name': 'undeclared 9999/tcp/smtp', 'host': '127.0.0.1', 'port': 9999, 'proto': 'tcp', 'protocol': 'smtp', 'timeout': 2.0},
        {'name': 'undeclared 9999/tcp/http', 'host': '127.0.0.1', 'port': 9999, 'proto': 'tcp', 'protocol': 'http', 'timeout': 2.0}]
    assert [t['protocol'] for t in identify_targets('u', '::1', 53, 'udp', 1.0)] == ['dns', 'ntp']


def _silent(protocol, received=b'', connected=True, reason=None):
    hs = Handshake(protocol, 'tcp', b'\x00' * 8)
    return {'connected': connected, 'reason': reason, 'protocol': identify(hs, 9999, received, 'timeout', 2.0) if connected else None}


def test_bytes_that_name_nothing_silence_and_refusal_have_their_labels():
    garbage = [_silent(name, b'\x00\x01hello\x1b[2J') for name in IDENTIFY_TCP]
    assert what_answers(9999, 'tcp', garbage, 2.0)['label'] == "answers as nothing recognisable: '\\x00\\x01hello\\x1b[2J'"
    hang = [_silent(name) for name in IDENTIFY_TCP]
    assert what_answers(9999, 'tcp', hang, 2.0) == {
        'port': '9999/tcp', 'answered': [], 'label': 'answers nothing within 2 s', 'excerpt': None}
    refused = [_silent(name, connected=False, reason='Connection refused (ECONNREFUSED)') for name in IDENTIFY_TCP]
    assert what_answers(9999, 'tcp', refused, 2.0)['label'] == 'could not be identified: Connection refused (ECONNREFUSED)'
