# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The certificate chain as the server presents it. Python's ssl (before 3.13) returns only the
# leaf, so port_probe sends a ClientHello of its own that offers TLS 1.2 at most (SNI and the
# status_request extension), and reads the server's first flight in clear: ServerHello (version,
# cipher suite), Certificate (every certificate, in the order sent), CertificateStatus (a stapled
# OCSP response), up to ServerHelloDone; then it closes. No key exchange happens, nothing is sent
# after the ClientHello. In TLS 1.3 the certificates are encrypted, so a server that speaks TLS 1.3
# only answers with an alert, and the chain is not visible (the caller says so). The builder and
# the parser are pure functions; read_first_flight() does the bounded I/O on a connected socket.

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.portproof.validate.plugins.module_utils._probe._x509 import CertificateError, parse_certificate

# Cipher suites offered, by IANA code, with their OpenSSL names (what ssl.SSLSocket.cipher() says).
CIPHER_SUITES = (
    (0xc02b, 'ECDHE-ECDSA-AES128-GCM-SHA256'), (0xc02f, 'ECDHE-RSA-AES128-GCM-SHA256'),
    (0xc02c, 'ECDHE-ECDSA-AES256-GCM-SHA384'), (0xc030, 'ECDHE-RSA-AES256-GCM-SHA384'),
    (0xcca9, 'ECDHE-ECDSA-CHACHA20-POLY1305'), (0xcca8, 'ECDHE-RSA-CHACHA20-POLY1305'),
    (0x009e, 'DHE-RSA-AES128-GCM-SHA256'), (0x009f, 'DHE-RSA-AES256-GCM-SHA384'),
    (0xc023, 'ECDHE-ECDSA-AES128-SHA256'), (0xc027, 'ECDHE-RSA-AES128-SHA256'),
    (0xc024, 'ECDHE-ECDSA-AES256-SHA384'), (0xc028, 'ECDHE-RSA-AES256-SHA384'),
    (0xc009, 'ECDHE-ECDSA-AES128-SHA'), (0xc013, 'ECDHE-RSA-AES128-SHA'),
    (0xc00a, 'ECDHE-ECDSA-AES256-SHA'), (0xc014, 'ECDHE-RSA-AES256-SHA'),
    (0x0033, 'DHE-RSA-AES128-SHA'), (0x0039, 'DHE-RSA-AES256-SHA'),
    (0x009c, 'AES128-GCM-SHA256'), (0x009d, 'AES256-GCM-SHA384'),
    (0x003c, 'AES128-SHA256'), (0x003d, 'AES256-SHA256'),
    (0x002f, 'AES128-SHA'), (0x0035, 'AES256-SHA'), (0x000a, 'DES-CBC3-SHA'),
)
CIPHER_NAMES = dict(CIPHER_SUITES)
VERSIONS = {0x0300: 'SSLv3', 0x0301: 'TLSv1', 0x0302: 'TLSv1.1', 0x0303: 'TLSv1.2', 0x0304: 'TLSv1.3'}
# TLS alert descriptions (RFC 8446 section 6) a server sends to a ClientHello it refuses.
ALERTS = {
    0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 40: 'handshake_failure', 42: 'bad_certificate',
    47: 'illegal_parameter', 50: 'decode_error', 51: 'decrypt_error', 70: 'protocol_version', 71: 'insufficient_security',
    80: 'internal_error', 86: 'inappropriate_fallback', 90: 'user_canceled', 109: 'missing_extension',
    110: 'unsupported_extension', 112: 'unrecognized_name', 120: 'no_application_protocol',
}
_GROUPS = (0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101)  # x25519, P-256, P-384, P-521, ffdhe2048, ffdhe3072
_SIGALGS = (0x0804, 0x0805, 0x0806, 0x0403, 0x0503, 0x0603, 0x0807, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203)
_HELLO_DONE = 14
MAX_BYTES = 256 * 1024  # the first flight is read up to this size (a long chain is some 10 KiB)


class WireError(ValueError):
    """What the server sent is not a TLS first flight this reader understands."""


def _vector(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, 'big') + data


def _extension(code: int, body: bytes) -> bytes:
    return struct.pack('!H', code) + _vector(body, 2)


def client_hello(sni: Optional[str], random: Optional[bytes] = None) -> bytes:
    """The TLS record of a ClientHello offering TLS 1.0 to 1.2 (legacy version 1.2, no
    supported_versions), with SNI (when SNI is a DNS name) and status_request (OCSP)."""
    extensions = b''
    if sni and not _is_address(sni):
        name = sni.rstrip('.').encode('idna')
        extensions += _extension(0x0000, _vector(b'\x00' + _vector(name, 2), 2))
    extensions += _extension(0x0005, b'\x01\x00\x00\x00\x00')  # status_request: ocsp, no responder ids or extensions
    extensions += _extension(0x000a, _vector(b''.join(struct.pack('!H', group) for group in _GROUPS), 2))
    extensions += _extension(0x000b, b'\x01\x00')  # ec_point_formats: uncompressed
    extensions += _extension(0x000d, _vector(b''.join(struct.pack('!H', alg) for alg in _SIGALGS), 2))
    extensions += _extension(0x0017, b'')  # extended_master_secret
    extensions += _extension(0xff01, b'\x00')  # renegotiation_info (initial handshake)
    suites = b''.join(struct.pack('!H', code) for code, _name in CIPHER_SUITES)
    body = (b'\x03\x03' + (random if random is not None else os.urandom(32)) + b'\x00' + _vector(suites, 2) + b'\x01\x00'
            + _vector(extensions, 2))
    handshake = b'\x01' + _vector(body, 3)
    return b'\x16\x03\x01' + _vector(handshake, 2)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split('%', 1)[0])
    except ValueError:
        return False
    return True


class FirstFlight(object):
    """The server's answer to client_hello(), fed record bytes as they arrive."""

    def __init__(self) -> None:
        self.buffer = b''  # unparsed record bytes
        self.handshake = b''  # unparsed handshake bytes (messages may span records)
        self.version: Optional[str] = None
        self.cipher: Optional[str] = None
        self.status_request = False  # the server echoed status_request
        self.certificates: List[bytes] = []
        self.ocsp: Optional[bytes] = None
        self.alert: Optional[str] = None
        self.done = False  # ServerHelloDone, an alert, or anything after which nothing more is read
        self.messages: List[int] = []

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while not self.done and len(self.buffer) >= 5:
            kind, _major, _minor, length = struct.unpack('!BBBH', self.buffer[:5])
            if len(self.buffer) < 5 + length:
                return
            body, self.buffer = self.buffer[5:5 + length], self.buffer[5 + length:]
            if kind == 0x15:
                if len(body) < 2:
                    raise WireError('truncated alert record')
                self.alert = ALERTS.get(body[1], 'alert %d' % body[1])
                self.done = True
            elif kind == 0x16:
                self.handshake += body
                self._messages()
            else:
                raise WireError('unexpected record type %d before ServerHelloDone' % kind)

    def _messages(self) -> None:
        while not self.done and len(self.handshake) >= 4:
            kind = self.handshake[0]
            length = int.from_bytes(self.handshake[1:4], 'big')
            if len(self.handshake) < 4 + length:
                return
            body, self.handshake = self.handshake[4:4 + length], self.handshake[4 + length:]
            self.messages.append(kind)
            if kind == 2:
                self._server_hello(body)
            elif kind == 11:
                self.certificates = _certificate_list(body)
            elif kind == 22:
                if not body or body[0] != 1:
                    raise WireError('CertificateStatus of an unknown type')
                self.ocsp = body[4:4 + int.from_bytes(body[1:4], 'big')]
            elif kind == _HELLO_DONE:
                self.done = True
            elif kind not in (12, 13):  # ServerKeyExchange, CertificateRequest
                raise WireError('unexpected handshake message %d' % kind)

    def _server_hello(self, body: bytes) -> None:
        try:
            version = struct.unpack('!H', body[:2])[0]
            pos = 34 + 1 + body[34]
            suite = struct.unpack('!H', body[pos:pos + 2])[0]
            pos += 3
            if pos + 2 <= len(body):
                end = pos + 2 + struct.unpack('!H', body[pos:pos + 2])[0]
                pos += 2
                while pos + 4 <= end:
                    code, size = struct.unpack('!HH', body[pos:pos + 4])
                    if code == 0x0005:
                        self.status_request = True
                    pos += 4 + size
        except (IndexError, struct.error):
            raise WireError('truncated ServerHello')
        self.version = VERSIONS.get(version, '0x%04x' % version)
        self.cipher = CIPHER_NAMES.get(suite, '0x%04x' % suite)


def _certificate_list(body: bytes) -> List[bytes]:
    total = int.from_bytes(body[:3], 'big')
    if total + 3 != len(body):
        raise WireError('Certificate message length does not add up')
    certificates: List[bytes] = []
    pos = 3
    while pos < len(body):
        size = int.from_bytes(body[pos:pos + 3], 'big')
        if pos + 3 + size > len(body):
            raise WireError('certificate %d runs past its message' % (len(certificates) + 1))
        certificates.append(body[pos + 3:pos + 3 + size])
        pos += 3 + size
    return certificates


def describe(flight: FirstFlight) -> Dict[str, Any]:
    """The evidence of a first flight: protocol and cipher the server chose for TLS 1.2 at most,
    the chain as presented (leaf first: subject, issuer, not_after, sha256) and whether an OCSP
    response was stapled; or, when the server refused, the alert."""
    chain: List[Dict[str, Any]] = []
    for index, der in enumerate(flight.certificates):
        try:
            cert = parse_certificate(der)
        except CertificateError as exc:
            chain.append({'error': 'certificate %d: %s' % (index + 1, exc)})
            continue
        chain.append({'subject': cert['subject'], 'issuer': cert['issuer'],
                      'not_after': cert['not_after'].strftime('%Y-%m-%dT%H:%M:%SZ'), 'sha256': cert['sha256']})
    return {'version': flight.version, 'cipher': flight.cipher, 'chain': chain, 'ocsp_stapled': flight.ocsp is not None,
            'alert': flight.alert}


def read_first_flight(sock: socket.socket, sni: Optional[str], arm: Callable[[socket.socket], None]) -> FirstFlight:
    """Send client_hello(SNI) on the connected SOCK and read the answer up to ServerHelloDone or an
    alert; ``arm`` gives the socket what is left of the probe's deadline before each blocking call.
    Raises WireError (not TLS, or closed too early) and OSError (socket.timeout at the deadline)."""
    flight = FirstFlight()
    arm(sock)
    sock.sendall(client_hello(sni))
    received = 0
    while not flight.done:
        arm(sock)
        data = sock.recv(16384)
        if not data:
            if flight.version is None:
                raise WireError('the server closed the connection without answering the ClientHello')
            raise WireError('the server closed the connection before ServerHelloDone')
        received += len(data)
        if received > MAX_BYTES:
            raise WireError('no ServerHelloDone in the first %d bytes' % MAX_BYTES)
        if flight.version is None and not flight.buffer and data[:1] not in (b'\x15', b'\x16'):
            raise WireError('the server answered with something else than TLS: %r' % data[:16])
        flight.feed(data)
    return flight


def chain_summary(chain: List[Dict[str, Any]]) -> str:
    """'2 certificates: CN=leaf (issued by CN=Intermediate), CN=Intermediate (issued by CN=Root)'."""
    parts = ['%s (issued by %s)' % (item['subject'], item['issuer']) if 'subject' in item else item['error'] for item in chain]
    return '%d certificate%s: %s' % (len(chain), '' if len(chain) == 1 else 's', ', '.join(parts))
