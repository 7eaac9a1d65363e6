# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Which protocol really answers on a port: for each protocol a credential-free request (or none:
# the server speaks first) and a recognizer over the reply bytes. Nothing here logs in or changes
# anything on the server: each request is a greeting, a version/ping query or a read of public
# server metadata. Pure functions (the random ids come in as a nonce), no I/O.
#
# How the reply is told apart (each recognizer answers True, False, or None: "need more bytes"):
#
# - http      request ``GET / HTTP/1.0``; reply status line ``HTTP/<d>[.<d>] <3 digits>``, except a
#             400 whose body says the plain request reached a TLS port (nginx: "The plain HTTP
#             request was sent to HTTPS port", Apache: "speaking plain HTTP to an SSL-enabled
#             server port"): that port speaks tls (the body is awaited when Content-Length is given).
# - tls       a ClientHello (built by the ssl module, cached); reply a TLS handshake record
#             (0x16 0x03 0x0X) whose first message is ServerHello (type 2), or a two-byte TLS alert
#             record (0x15 0x03 0x0X length 2): only a TLS stack answers a ClientHello that way.
# - ssh       server speaks first: ``SSH-2.0-`` or ``SSH-1.99-`` identification (RFC 4253).
# - postgres  SSLRequest (8 bytes, code 80877103); the reply is exactly one byte, ``S`` or ``N``,
#             as the whole first read (the server then waits; a server that speaks first, such as
#             SSH whose greeting starts with S, writes its whole greeting at once). A PostgreSQL ErrorResponse (``E``, length,
#             ``SFATAL``/``SERROR``) names it too (any request).
# - mysql     server speaks first: a protocol packet with sequence id 0 whose payload is a
#             protocol-10 greeting (0x0a, a printable NUL-terminated server version) or an error
#             packet (0xff, error code, text: "Host ... is not allowed to connect").
# - redis     RESP ``PING``; ``+PONG``, or an error the server gives before authentication
#             (``-NOAUTH``, ``-DENIED`` protected mode, ``-WRONGPASS``). Any request: a RESP error
#             line ``-ERR `` (what Redis answers to a command it does not know).
# - memcached ``version``; ``VERSION <v>``. Any request: the bare ``ERROR`` line memcached answers
#             to an unknown command.
# - mongodb   OP_MSG ``{hello: 1, $db: "admin"}``; a reply header whose responseTo is our
#             request id and whose opcode is OP_MSG (2013) or OP_REPLY (1).
# - amqp      the AMQP 0-9-1 protocol header; Connection.Start (frame type 1, channel 0, class 10,
#             method 10), or the server's own protocol header (``AMQP`` + 4 bytes) when it speaks
#             another version.
# - smtp/ftp  both greet with ``220``. SMTP when the greeting's first line names ``SMTP``/``ESMTP``,
#             FTP when it names ``FTP``. A ``220`` naming neither, when smtp or ftp is asked for:
#             send ``NOOP``, which SMTP answers ``250`` (RFC 5321) and FTP ``200`` (RFC 959), or
#             ``530`` before login as vsftpd does (SMTP never refuses NOOP, RFC 3207; its 530
#             carries an enhanced status code, ``530 5.7.0``, and is not taken for FTP).
# - imap      server speaks first: ``* OK``, ``* PREAUTH`` or ``* BYE`` (RFC 9051).
# - pop3      server speaks first: ``+OK`` (RFC 1939); ``+OK`` is never an SMTP/FTP/IMAP greeting.
# - dns       a query for the root NS records, recursion not desired (TCP: with the 2-byte length
#             prefix); a reply with the query's id and the QR bit set.
# - ntp       an NTPv4 mode-3 (client) packet whose transmit timestamp is the nonce; a mode-4
#             (server) reply that echoes it as its origin timestamp.
# - ldap      an anonymous search of the root DSE (base "", scope base, (objectClass=*)) asking for
#             supportedLDAPVersion; a BER LDAPMessage with our message id carrying a
#             SearchResultEntry (0x64) or SearchResultDone (0x65).
# - kafka     ApiVersions v0 (key 18); a size-prefixed reply with our correlation id and a
#             plausible error code (0 or 35, UNSUPPORTED_VERSION).
#
# When the asked protocol is not recognised, the reply is offered to the recognizers that need no
# request of their own (banners, HTTP, TLS, RESP and memcached errors, AMQP, PostgreSQL errors) to
# name what answered instead.

from __future__ import annotations

import re
import ssl
import struct
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import excerpt, safe_excerpt

PROTOCOLS = ('http', 'tls', 'ssh', 'postgres', 'mysql', 'redis', 'memcached', 'mongodb', 'amqp', 'smtp',
             'imap', 'pop3', 'ftp', 'dns', 'ntp', 'ldap', 'kafka')
UDP_PROTOCOLS = ('dns', 'ntp')        # the protocols probed over UDP (dns over TCP too)
TCP_PROTOCOLS = tuple(name for name in PROTOCOLS if name != 'ntp')
SPEAKS_FIRST = ('ssh', 'mysql', 'smtp', 'imap', 'pop3', 'ftp')
NONCE_SIZE = 8
REPLY_CAP = 4096          # bytes looked at; a greeting or a first reply is far shorter
LINE_WAIT = 512           # a line-based reply with no line end after this many bytes is not one

Verdict = Optional[bool]


class Handshake(object):
    """One identification attempt: the protocol asked for, the transport, what was sent."""

    def __init__(self, protocol: str, proto: str, nonce: bytes) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError('unknown protocol %r (known: %s)' % (protocol, ', '.join(PROTOCOLS)))
        if proto not in ('tcp', 'udp'):
            raise ValueError('proto must be tcp or udp, not %r' % (proto,))
        allowed = UDP_PROTOCOLS if proto == 'udp' else TCP_PROTOCOLS
        if protocol not in allowed:
            raise ValueError('protocol %s is not probed over %s (%s: %s)' % (
                protocol, proto, proto, ', '.join(allowed)))
        if len(nonce) < NONCE_SIZE:
            raise ValueError('the nonce must have %d bytes' % NONCE_SIZE)
        self.protocol = protocol
        self.proto = proto
        self.nonce = nonce[:NONCE_SIZE]
        self.request = REQUESTS[protocol](self)
        self.followup = b''        # sent after the greeting (NOOP), when the greeting is ambiguous
        self.followup_at = -1      # offset in the reply where the answer to the follow-up starts

    @property
    def id16(self) -> int:
        return struct.unpack('>H', self.nonce[:2])[0]

    @property
    def id31(self) -> int:
        return struct.unpack('>I', self.nonce[:4])[0] & 0x7fffffff or 1


# -- requests ------------------------------------------------------------------------------------

_TLS_HELLO = []  # type: List[bytes]


def tls_client_hello() -> bytes:
    """A ClientHello as this Python's ssl module writes it (computed once, through memory BIOs)."""
    if not _TLS_HELLO:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        conn = context.wrap_bio(incoming, outgoing)
        try:
            conn.do_handshake()
        except ssl.SSLWantReadError:
            pass
        _TLS_HELLO.append(outgoing.read())
    return _TLS_HELLO[0]


def _bson_hello() -> bytes:
    body = b'\x10hello\x00' + struct.pack('<i', 1) + b'\x02$db\x00' + struct.pack('<i', 6) + b'admin\x00'
    return struct.pack('<i', len(body) + 5) + body + b'\x00'


def _request_mongodb(hs: Handshake) -> bytes:
    message = struct.pack('<I', 0) + b'\x00' + _bson_hello()
    return struct.pack('<iiii', 16 + len(message), hs.id31, 0, 2013) + message


def _ber_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(raw)]) + raw


def _ber(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _ber_length(len(content)) + content


def _request_ldap(hs: Handshake) -> bytes:
    search = (_ber(0x04, b'') + _ber(0x0a, b'\x00') + _ber(0x0a, b'\x00') + _ber(0x02, b'\x00') + _ber(0x02, b'\x00')
              + _ber(0x01, b'\x00') + _ber(0x87, b'objectClass') + _ber(0x30, _ber(0x04, b'supportedLDAPVersion')))
    return _ber(0x30, _ber(0x02, struct.pack('>I', hs.id31)) + _ber(0x63, search))


def _request_kafka(hs: Handshake) -> bytes:
    body = struct.pack('>hhi', 18, 0, hs.id31) + struct.pack('>h', 9) + b'portproof'
    return struct.pack('>i', len(body)) + body


def _request_dns(hs: Handshake) -> bytes:
    query = struct.pack('>HHHHHH', hs.id16, 0, 1, 0, 0, 0) + b'\x00' + struct.pack('>HH', 2, 1)
    if hs.proto == 'tcp':
        return struct.pack('>H', len(query)) + query
    return query


def _request_ntp(hs: Handshake) -> bytes:
    return b'\x23' + b'\x00' * 39 + hs.nonce


REQUESTS = {
    'http': lambda hs: b'GET / HTTP/1.0\r\nUser-Agent: portproof\r\nAccept: */*\r\n\r\n',
    'tls': lambda hs: tls_client_hello(),
    'ssh': lambda hs: b'',
    'postgres': lambda hs: struct.pack('>ii', 8, 80877103),
    'mysql': lambda hs: b'',
    'redis': lambda hs: b'*1\r\n$4\r\nPING\r\n',
    'memcached': lambda hs: b'version\r\n',
    'mongodb': _request_mongodb,
    'amqp': lambda hs: b'AMQP\x00\x00\x09\x01',
    'smtp': lambda hs: b'',
    'imap': lambda hs: b'',
    'pop3': lambda hs: b'',
    'ftp': lambda hs: b'',
    'dns': _request_dns,
    'ntp': _request_ntp,
    'ldap': _request_ldap,
    'kafka': _request_kafka,
}  # type: Dict[str, Callable[[Handshake], bytes]]


# -- recognizers ---------------------------------------------------------------------------------

def _first_line(buf: bytes) -> Optional[bytes]:
    """The first line (without its end) once it is complete; None while it may still come."""
    end = buf.find(b'\n')
    if end < 0:
        return None
    return buf[:end].rstrip(b'\r')


def _line_match(buf: bytes, pattern: 're.Pattern[bytes]', prefix: bytes) -> Verdict:
    """A line-based greeting: False as soon as the bytes so far cannot start PREFIX."""
    if _prefix_state(buf, (prefix,)) is False:
        return False
    line = _first_line(buf)
    if line is None:
        return False if len(buf) >= LINE_WAIT else None
    return bool(pattern.match(line))


def _prefix_state(buf: bytes, prefixes: Tuple[bytes, ...]) -> Verdict:
    """True when BUF starts with one of PREFIXES, None while it may still, else False."""
    for prefix in prefixes:
        if buf.startswith(prefix):
            return True
    for prefix in prefixes:
        if prefix.startswith(buf):
            return None
    return False


_HTTP = re.compile(rb'^HTTP/\d(\.\d)? [1-5]\d\d( |$)')
_SSH = re.compile(rb'^SSH-(2\.0|1\.99)-\S')
_SMTP = re.compile(rb'^220[ -].*\bE?SMTP\b', re.I)
_FTP = re.compile(rb'^220[ -].*FTP', re.I)
_220 = re.compile(rb'^220[ -]')
_IMAP = re.compile(rb'^\* (OK|PREAUTH|BYE)\b', re.I)
_POP3 = re.compile(rb'^\+OK\b')
_REDIS_PING = re.compile(rb'^(\+PONG|-NOAUTH\b|-DENIED\b|-WRONGPASS\b)')
_REDIS_ERROR = re.compile(rb'^-(ERR|NOAUTH|DENIED|WRONGPASS|WRONGTYPE)\b')
_MEMCACHED_VERSION = re.compile(rb'^VERSION \S+$')
_PRINTABLE = re.compile(rb'^[\x20-\x7e]+$')


_TLS_PORT = re.compile(rb'plain HTTP request was sent to HTTPS port|speaking plain HTTP to an SSL-enabled server port', re.I)
_CONTENT_LENGTH = re.compile(rb'\r?\ncontent-length:[ \t]*(\d+)', re.I)


def _http_to_tls(buf: bytes) -> Verdict:
    """An HTTP 400 saying that the plain request reached a TLS port; None until its body is in."""
    if not buf.startswith(b'HTTP/') or _line_match(buf, _HTTP, b'HTTP/') is not True or buf[9:12] != b'400':
        return False
    end = buf.find(b'\r\n\r\n')
    if end < 0:
        return None if len(buf) < REPLY_CAP else False
    length = _CONTENT_LENGTH.search(buf[:end + 2])
    if length is not None and len(buf) - end - 4 < min(int(length.group(1)), REPLY_CAP - end - 4):
        return None
    return bool(_TLS_PORT.search(buf))


def _http(hs: Handshake, buf: bytes) -> Verdict:
    state = _line_match(buf, _HTTP, b'HTTP/')
    if state is not True:
        return state
    to_tls = _http_to_tls(buf)
    return None if to_tls is None else not to_tls


def _tls(hs: Optional[Handshake], buf: bytes) -> Verdict:
    if not buf:
        return None
    if buf[0] not in (0x15, 0x16):
        return False
    if len(buf) < 6:
        return None if buf[1:2] in (b'', b'\x03') and (len(buf) < 3 or buf[2] <= 4) else False
    if buf[1] != 3 or buf[2] > 4:
        return False
    size = struct.unpack('>H', buf[3:5])[0]
    if buf[0] == 0x15:
        return size == 2 and buf[5] in (1, 2)
    return buf[5] == 2 and size >= 4


def _ssh(hs: Handshake, buf: bytes) -> Verdict:
    return _line_match(buf, _SSH, b'SSH-')


def _postgres_error(buf: bytes) -> Verdict:
    if not buf or buf[:1] != b'E':
        return False
    if len(buf) < 12:
        return None
    size = struct.unpack('>i', buf[1:5])[0]
    return 8 <= size <= 65536 and buf[5:11] in (b'SFATAL', b'SERROR')


def _postgres(hs: Handshake, buf: bytes) -> Verdict:
    if buf in (b'S', b'N'):
        return True
    return _postgres_error(buf)


def _mysql(hs: Optional[Handshake], buf: bytes) -> Verdict:
    if len(buf) < 5:
        return None if len(buf) < 4 or buf[3] == 0 else False
    size = buf[0] | buf[1] << 8 | buf[2] << 16
    if buf[3] != 0 or not 3 <= size <= 1024:
        return False
    if len(buf) < 4 + size:
        return None
    payload = buf[4:4 + size]
    if payload[0] == 0x0a:
        end = payload.find(b'\x00', 1)
        return end > 1 and bool(_PRINTABLE.match(payload[1:end])) and len(payload) >= end + 1 + 4 + 8
    if payload[0] == 0xff:
        return len(payload) > 3 and bool(_PRINTABLE.match(payload[3:].rstrip(b'\x00')))
    return False


def _redis(hs: Handshake, buf: bytes) -> Verdict:
    line = _first_line(buf)
    if line is None:
        if not buf or buf[:1] in (b'+', b'-'):
            return False if len(buf) >= LINE_WAIT else None
        return False
    return bool(_REDIS_PING.match(line))


def _redis_error(buf: bytes) -> Verdict:
    line = _first_line(buf)
    if line is None:
        return None if buf[:1] == b'-' and len(buf) < LINE_WAIT else False
    return bool(_REDIS_ERROR.match(line))


def _memcached(hs: Handshake, buf: bytes) -> Verdict:
    line = _first_line(buf)
    if line is None:
        return None if _prefix_state(buf, (b'VERSION ',)) is not False and len(buf) < LINE_WAIT else False
    return bool(_MEMCACHED_VERSION.match(line))


def _memcached_error(buf: bytes) -> Verdict:
    state = _prefix_state(buf, (b'ERROR\r\n',))
    return state


def _mongodb(hs: Handshake, buf: bytes) -> Verdict:
    if len(buf) < 16:
        return None
    size, _request, response_to, opcode = struct.unpack('<iiii', buf[:16])
    return response_to == hs.id31 and opcode in (1, 2013) and 16 < size <= 48 * 1024 * 1024


def _amqp_any(buf: bytes) -> Verdict:
    if buf.startswith(b'AMQP'):
        return True if len(buf) >= 8 else None
    if len(buf) < 11:
        start = _prefix_state(buf, (b'AMQP',))
        if start is None:
            return None
        return None if buf[:1] == b'\x01' and (len(buf) < 3 or buf[1:3] == b'\x00\x00') else False
    return buf[:3] == b'\x01\x00\x00' and buf[7:11] == b'\x00\x0a\x00\x0a'


def _amqp(hs: Handshake, buf: bytes) -> Verdict:
    return _amqp_any(buf)


def _greeting_line(buf: bytes) -> Optional[bytes]:
    """The last line of a (possibly multi-line, ``220-``) greeting once it is complete."""
    start = 0
    while True:
        end = buf.find(b'\n', start)
        if end < 0:
            return None
        line = buf[start:end].rstrip(b'\r')
        if not re.match(rb'^\d\d\d-', line):
            return line
        start = end + 1


def _banner_220(buf: bytes, pattern: 're.Pattern[bytes]') -> Verdict:
    head = _line_match(buf, _220, b'220')
    if head is not True:
        return head
    line = _first_line(buf) or b''
    return bool(pattern.match(line))


_NOOP_SMTP = re.compile(rb'^250[ -]')
_NOOP_FTP = re.compile(rb'^(200[ -]|530(?![ -]\d\.\d+\.\d))')


def _noop_answer(hs: Handshake, buf: bytes, pattern: 're.Pattern[bytes]') -> Verdict:
    """After an ambiguous 220 greeting: the answer to NOOP (``250`` SMTP; ``200``, or ``530``
    without an enhanced status code, FTP)."""
    if hs.followup_at < 0:
        return None if _line_match(buf, _220, b'220') is True else False
    answer = _first_line(buf[hs.followup_at:])
    if answer is None:
        return None
    return bool(pattern.match(answer))


def _smtp(hs: Handshake, buf: bytes) -> Verdict:
    if hs.protocol in ('smtp', 'ftp') and ambiguous_220(buf):
        return _noop_answer(hs, buf, _NOOP_SMTP)
    return _banner_220(buf, _SMTP)


def _ftp(hs: Handshake, buf: bytes) -> Verdict:
    if hs.protocol in ('smtp', 'ftp') and ambiguous_220(buf):
        return _noop_answer(hs, buf, _NOOP_FTP)
    return _banner_220(buf, _FTP)


def ambiguous_220(buf: bytes) -> bool:
    """A complete ``220`` greeting line that names neither SMTP nor FTP."""
    line = _first_line(buf)
    return line is not None and bool(_220.match(line)) and not _SMTP.match(line) and not _FTP.match(line)


def _imap(hs: Handshake, buf: bytes) -> Verdict:
    return _line_match(buf, _IMAP, b'* ')


def _pop3(hs: Handshake, buf: bytes) -> Verdict:
    return _line_match(buf, _POP3, b'+OK')


def _dns(hs: Handshake, buf: bytes) -> Verdict:
    if hs.proto == 'tcp':
        if len(buf) < 2:
            return None
        size = struct.unpack('>H', buf[:2])[0]
        if size < 12:
            return False
        buf = buf[2:]
    if len(buf) < 12:
        return None if hs.proto == 'tcp' else False
    ident, flags = struct.unpack('>HH', buf[:4])
    return ident == hs.id16 and bool(flags & 0x8000) and (flags >> 11) & 0xf == 0


def _ntp(hs: Handshake, buf: bytes) -> Verdict:
    if len(buf) < 48:
        return False
    return buf[0] & 7 == 4 and buf[24:32] == hs.nonce


def _ber_header(buf: bytes, at: int) -> Optional[Tuple[int, int, int]]:
    """(tag, content length, content offset) of the BER element at AT; None when incomplete."""
    if len(buf) < at + 2:
        return None
    tag, first = buf[at], buf[at + 1]
    if first < 0x80:
        return tag, first, at + 2
    count = first & 0x7f
    if count == 0 or count > 4:
        return tag, -1, at + 2
    if len(buf) < at + 2 + count:
        return None
    return tag, int.from_bytes(buf[at + 2:at + 2 + count], 'big'), at + 2 + count


def _ldap(hs: Handshake, buf: bytes) -> Verdict:
    if not buf:
        return None
    if buf[0] != 0x30:
        return False
    outer = _ber_header(buf, 0)
    if outer is None:
        return None
    if outer[1] < 0:
        return False
    inner = _ber_header(buf, outer[2])
    if inner is None:
        return None
    tag, size, at = inner
    if tag != 0x02 or not 1 <= size <= 4:
        return False
    if len(buf) < at + size + 1:
        return None
    ident = int.from_bytes(buf[at:at + size], 'big')
    return ident == hs.id31 and buf[at + size] in (0x64, 0x65)


def _kafka(hs: Handshake, buf: bytes) -> Verdict:
    if len(buf) < 10:
        return None
    size, correlation, error = struct.unpack('>iih', buf[:10])
    return correlation == hs.id31 and 6 <= size <= 1024 * 1024 and error in (0, 35)


RECOGNIZERS = {
    'http': _http, 'tls': _tls, 'ssh': _ssh, 'postgres': _postgres, 'mysql': _mysql, 'redis': _redis,
    'memcached': _memcached, 'mongodb': _mongodb, 'amqp': _amqp, 'smtp': _smtp, 'imap': _imap, 'pop3': _pop3,
    'ftp': _ftp, 'dns': _dns, 'ntp': _ntp, 'ldap': _ldap, 'kafka': _kafka,
}  # type: Dict[str, Callable[[Handshake, bytes], Verdict]]

# What may have answered whatever was sent: recognizers that need no request of their own, in the
# order they are tried (the most specific first).
ANY_REQUEST = (
    ('ssh', lambda buf: _line_match(buf, _SSH, b'SSH-')),
    ('tls', _http_to_tls),
    ('http', lambda buf: _line_match(buf, _HTTP, b'HTTP/')),
    ('smtp', lambda buf: _banner_220(buf, _SMTP)),
    ('ftp', lambda buf: _banner_220(buf, _FTP)),
    ('imap', lambda buf: _line_match(buf, _IMAP, b'* ')),
    ('pop3', lambda buf: _line_match(buf, _POP3, b'+OK')),
    ('redis', _redis_error),
    ('memcached', _memcached_error),
    ('amqp', _amqp_any),
    ('postgres', _postgres_error),
    ('tls', lambda buf: _tls(None, buf)),
    ('mysql', lambda buf: _mysql(None, buf)),
)  # type: Tuple[Tuple[str, Callable[[bytes], Verdict]], ...]


# -- the exchange --------------------------------------------------------------------------------

def step(hs: Handshake, buf: bytes, closed: bool) -> Tuple[bool, bytes]:
    """After receiving into BUF (CLOSED: the peer closed or nothing more will come):
    (decided, bytes to send now). Decided once the asked protocol is recognised, or ruled out with
    nothing left to learn; a follow-up (NOOP after an ambiguous 220 greeting) is returned once."""
    buf = buf[:REPLY_CAP]
    if hs.protocol in ('smtp', 'ftp') and hs.followup_at < 0 and ambiguous_220(buf):
        hs.followup = b'NOOP\r\n'
        hs.followup_at = len(buf)
        return False, hs.followup
    state = RECOGNIZERS[hs.protocol](hs, buf)
    if state is not None or closed or len(buf) >= REPLY_CAP:
        return True, b''
    return False, b''


def answered(hs: Handshake, buf: bytes) -> Optional[str]:
    """The protocol that answered: the asked one when recognised, else the first that any reply
    names (see ANY_REQUEST), else None."""
    buf = buf[:REPLY_CAP]
    if not buf:
        return None
    if RECOGNIZERS[hs.protocol](hs, buf) is True:
        return hs.protocol
    if hs.followup_at >= 0:  # NOOP after an ambiguous 220: its answer may name the other one
        other = 'smtp' if hs.protocol == 'ftp' else 'ftp'
        if RECOGNIZERS[other](hs, buf) is True:
            return other
    for name, recognize in ANY_REQUEST:
        if name != hs.protocol and recognize(buf) is True:
            return name
    return None


def identify(hs: Handshake, port: int, buf: bytes, ending: str, limit: float = 0.0) -> Dict[str, object]:
    """The identification result of what PORT sent (BUF) to HS. ENDING is why the exchange ended:
    ``decided`` (see step), ``closed`` (the peer closed) or ``timeout`` (after LIMIT seconds)."""
    name = answered(hs, buf)
    where = '%d/%s' % (port, hs.proto)
    if name == hs.protocol:
        verdict, message = 'pass', '%s answers as %s' % (where, name)
    elif name is not None:
        verdict, message = 'fail', '%s answers as %s, not %s' % (where, name, hs.protocol)
    elif buf:
        verdict, message = 'fail', '%s: nothing recognisable answered (expected %s): %s' % (
            where, hs.protocol, safe_excerpt(buf[:REPLY_CAP], 120))
    elif ending == 'closed':
        verdict, message = 'fail', '%s closed the connection without an answer (expected %s)' % (where, hs.protocol)
    else:
        verdict, message = 'fail', '%s sent nothing within %g s (expected %s)' % (where, limit, hs.protocol)
    return {
        'expected': hs.protocol,
        'answered': name,
        'verdict': verdict,
        'excerpt': excerpt(buf[:REPLY_CAP], 120) if buf else None,
        'bytes': len(buf),
        'message': message,
    }
