# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The first-flight reader of port_probe (the chain as presented, OCSP stapling) against what
# Debian's nginx sent to its ClientHello (fixtures/tls/first-flight.json, see capture.py there):
# a chain with a stapled OCSP response, a leaf alone, a TLS 1.1-only and a TLS 1.3-only server.

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import struct
import threading

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portproof.validate.plugins.module_utils._probe._tls_wire import (
    MAX_BYTES,
    FirstFlight,
    WireError,
    chain_summary,
    client_hello,
    describe,
    read_first_flight,
)
from ansible_collections.portproof.validate.tests.unit.props import mutated_bytes

with open(os.path.join(os.path.dirname(__file__), 'fixtures', 'tls', 'first-flight.json')) as _handle:
    CAPTURE = json.load(_handle)
LEAF = 'CN=web.pplab.test,O=portproof lab'
INTERMEDIATE = 'CN=portproof lab intermediate,O=portproof lab'
ROOT = 'CN=portproof lab root,O=portproof lab'


def flight_bytes(name):
    return bytes.fromhex(CAPTURE['flights'][name])


def sha256(name):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(CAPTURE['certificates'][name])).hexdigest()


def not_after(name):
    """As python cryptography reads it from the PEM the capture saved."""
    cert = x509.load_pem_x509_certificate(CAPTURE['certificates'][name].encode('ascii'))
    return cert.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')


def fed(data, step=None):
    flight = FirstFlight()
    if step is None:
        flight.feed(data)
    else:
        for pos in range(0, len(data), step):
            flight.feed(data[pos:pos + step])
    return flight


def test_client_hello_offers_tls12_with_sni_and_status_request():
    hello = client_hello('web.pplab.test', bytes(range(32)))
    assert hello[:3] == b'\x16\x03\x01' and struct.unpack('!H', hello[3:5])[0] == len(hello) - 5
    assert hello[5] == 1 and int.from_bytes(hello[6:9], 'big') == len(hello) - 9
    assert hello[9:11] == b'\x03\x03' and hello[11:43] == bytes(range(32))
    assert b'\x00\x00\x00\x13\x00\x11\x00\x00\x0eweb.pplab.test' in hello  # server_name
    assert b'\x00\x05\x00\x05\x01\x00\x00\x00\x00' in hello  # status_request (OCSP)
    assert b'\x00\x2b' not in hello[43:]  # no supported_versions: TLS 1.2 at most


def test_client_hello_sends_no_sni_for_an_address():
    assert b'10.0.0.1' not in client_hello('10.0.0.1') and b'web' not in client_hello(None)
    assert len(client_hello('::1')) == len(client_hello(None))


def test_chain_and_stapled_ocsp_as_nginx_sent_them():
    for step in (None, 1, 7, 1000):
        got = describe(fed(flight_bytes('chain-stapled'), step))
        assert got == {
            'version': 'TLSv1.2', 'cipher': 'ECDHE-RSA-AES128-GCM-SHA256', 'ocsp_stapled': True, 'alert': None,
            'chain': [
                {'subject': LEAF, 'issuer': INTERMEDIATE, 'not_after': not_after('leaf'), 'sha256': sha256('leaf')},
                {'subject': INTERMEDIATE, 'issuer': ROOT, 'not_after': not_after('intermediate'), 'sha256': sha256('intermediate')},
            ]}
    flight = fed(flight_bytes('chain-stapled'))
    assert flight.messages == [2, 11, 22, 12, 14] and flight.status_request is True and flight.done is True
    assert flight.ocsp[:2] == b'\x30\x82' and len(flight.ocsp) > 100  # the DER OCSPResponse nginx read from its file


def test_leaf_alone_without_stapling():
    flight = fed(flight_bytes('leaf-only'))
    assert flight.messages == [2, 11, 12, 14] and flight.status_request is False
    got = describe(flight)
    assert [(item['subject'], item['issuer'], item['sha256']) for item in got['chain']] == [(LEAF, INTERMEDIATE, sha256('leaf'))]
    assert got['ocsp_stapled'] is False
    assert chain_summary(got['chain']) == '1 certificate: %s (issued by %s)' % (LEAF, INTERMEDIATE)


def test_tls11_only_server_chooses_tls11():
    got = describe(fed(flight_bytes('tls11-only')))
    assert (got['version'], got['cipher'], len(got['chain']), got['alert']) == ('TLSv1.1', 'ECDHE-RSA-AES128-SHA', 2, None)


def test_tls13_only_server_refuses_with_an_alert():
    flight = fed(flight_bytes('tls13-only'))
    assert flight_bytes('tls13-only') == b'\x15\x03\x03\x00\x02\x02\x46'  # fatal protocol_version
    assert describe(flight) == {'version': None, 'cipher': None, 'chain': [], 'ocsp_stapled': False, 'alert': 'protocol_version'}


def test_malformed_flights_are_errors():
    with pytest.raises(WireError, match='unexpected record type 23'):
        fed(b'\x17\x03\x03\x00\x01\x00')
    data = flight_bytes('leaf-only')
    # A Certificate message whose list length does not add up.
    broken = bytearray(data)
    pos = 5 + 4 + int.from_bytes(data[6:9], 'big') + 5  # nginx sends the Certificate message in a record of its own
    assert broken[pos - 5] == 22 and broken[pos] == 11
    broken[pos + 4:pos + 7] = (int.from_bytes(broken[pos + 4:pos + 7], 'big') - 1).to_bytes(3, 'big')
    with pytest.raises(WireError, match='Certificate message length does not add up'):
        fed(bytes(broken))


def _serve(chunks, close=True):
    server, client = socket.socketpair()

    def run():
        server.recv(4096)
        try:
            for chunk in chunks:
                server.sendall(chunk)
        except BrokenPipeError:  # the reader gave up first
            pass
        if close:
            server.close()
    thread = threading.Thread(target=run)
    thread.start()
    return client, thread, server


def _arm(sock):
    sock.settimeout(2.0)


def test_read_first_flight_stops_at_server_hello_done():
    data = flight_bytes('chain-stapled')
    client, thread, server = _serve([data[:100], data[100:]], close=False)
    try:
        flight = read_first_flight(client, 'web.pplab.test', _arm)
    finally:
        thread.join()
        server.close()
        client.close()
    assert flight.done and describe(flight)['ocsp_stapled'] is True


@pytest.mark.parametrize('chunks, message', [
    ([], 'the server closed the connection without answering the ClientHello'),
    ([lambda data: data[:200]], 'the server closed the connection before ServerHelloDone'),
    ([lambda data: b'HTTP/1.1 400 Bad Request\r\n'], "the server answered with something else than TLS: b'HTTP/1.1 400 Bad'"),
    # a Certificate message of 16 MiB, in records of 16 KiB
    ([lambda data: b'\x16\x03\x03\x40\x00\x0b\xff\xff\xff' + bytes(16380)]
     + [lambda data: b'\x16\x03\x03\x40\x00' + bytes(16384)] * (MAX_BYTES // 16384 + 1), 'no ServerHelloDone in the first 262144 bytes'),
])
def test_read_first_flight_errors(chunks, message):
    data = flight_bytes('leaf-only')
    client, thread, server = _serve([make(data) for make in chunks])
    try:
        with pytest.raises(WireError) as info:
            read_first_flight(client, None, _arm)
    finally:
        client.close()
        thread.join()
    assert str(info.value).startswith(message)


def _framed(kind_and_body):
    kind, body = kind_and_body
    message = bytes([kind]) + len(body).to_bytes(3, 'big') + body
    return b'\x16\x03\x03' + len(message).to_bytes(2, 'big') + message


# Well-framed records around handshake messages with odd bodies (a short ServerHello, a Certificate
# list whose lengths lie, a CertificateStatus cut short), the captured flights mutated, random bytes.
FRAMED = st.lists(st.tuples(st.sampled_from([2, 11, 12, 13, 14, 22]), st.binary(max_size=80)), min_size=1, max_size=4).map(
    lambda messages: b''.join(_framed(item) for item in messages))


@given(st.one_of(FRAMED, mutated_bytes([flight_bytes(name) for name in sorted(CAPTURE['flights'])], max_edits=6),
                 st.binary(max_size=600)),
       st.integers(1, 64))
@settings(deadline=None)
def test_any_bytes_give_a_flight_or_a_wire_error(data, step):
    """A broken or hostile server: whatever it sends, the reader returns what it read or raises
    WireError, never another exception (which would end the probe as a local error)."""
    flight = FirstFlight()
    try:
        for pos in range(0, len(data), step):
            flight.feed(data[pos:pos + step])
    except WireError:
        return
    got = describe(flight)
    assert set(got) == {'version', 'cipher', 'chain', 'ocsp_stapled', 'alert'}
    assert all(set(item) in ({'subject', 'issuer', 'not_after', 'sha256'}, {'error'}) for item in got['chain'])
