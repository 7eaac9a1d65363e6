# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The few fields of an X.509 certificate that port_probe reports, read from its DER bytes with
# the standard library only (ssl.getpeercert() returns nothing when the chain is not verified,
# and the certificate is still the evidence then), and RFC 6125 host name matching.

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from typing import Any, Dict, List, Optional, Tuple, Union

_OID_NAMES = {
    '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU',
}
_OID_SAN = '2.5.29.17'
_STRING_TAGS = (0x0c, 0x13, 0x14, 0x16, 0x1a, 0x1e)  # UTF8, Printable, Teletex, IA5, Visible, BMP


class CertificateError(ValueError):
    """The bytes are not a DER certificate this parser understands."""


def _tlv(data: bytes, pos: int) -> Tuple[int, int, int]:
    """(tag, value_start, value_end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise CertificateError('truncated element at offset %d' % pos)
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7f
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError('bad length at offset %d' % pos)
        length = int.from_bytes(data[pos:pos + count], 'big')
        pos += count
    if pos + length > len(data):
        raise CertificateError('element at offset %d runs past the end' % pos)
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> List[Tuple[int, int, int]]:
    items: List[Tuple[int, int, int]] = []
    pos = start
    while pos < end:
        tag, vstart, vend = _tlv(data, pos)
        items.append((tag, vstart, vend))
        pos = vend
    return items


def _oid(raw: bytes) -> str:
    first = raw[0]
    parts = [str(min(first // 40, 2)), str(first - 40 * min(first // 40, 2))]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7f)
        if not byte & 0x80:
            parts.append(str(value))
            value = 0
    return '.'.join(parts)


def _string(tag: int, raw: bytes) -> str:
    if tag == 0x1e:
        return raw.decode('utf-16-be', 'replace')
    if tag == 0x0c:
        return raw.decode('utf-8', 'replace')
    return raw.decode('latin-1')


def _time(tag: int, raw: bytes) -> datetime.datetime:
    text = raw.decode('ascii')
    if not text.endswith('Z'):
        raise CertificateError('time %r is not in UTC' % text)
    if tag == 0x17:
        year = int(text[:2])
        text = ('19' if year >= 50 else '20') + text
    elif tag != 0x18:
        raise CertificateError('unexpected time tag 0x%02x' % tag)
    return datetime.datetime.strptime(text[:14], '%Y%m%d%H%M%S').replace(tzinfo=datetime.timezone.utc)


def _name(data: bytes, start: int, end: int) -> str:
    """RFC 4514-like text of a Name, most specific attribute first (as openssl -nameopt RFC2253)."""
    parts: List[str] = []
    for _tag, set_start, set_end in _children(data, start, end):
        for _seq, atv_start, atv_end in _children(data, set_start, set_end):
            atv = _children(data, atv_start, atv_end)
            if len(atv) != 2 or atv[0][0] != 0x06:
                raise CertificateError('bad attribute in a name')
            oid = _oid(data[atv[0][1]:atv[0][2]])
            vtag, vstart, vend = atv[1]
            value = _string(vtag, data[vstart:vend]) if vtag in _STRING_TAGS else data[vstart:vend].hex()
            parts.append('%s=%s' % (_OID_NAMES.get(oid, oid), value))
    return ','.join(reversed(parts))


def _san(data: bytes, start: int, end: int) -> Tuple[List[str], List[str]]:
    dns: List[str] = []
    ips: List[str] = []
    for tag, vstart, vend in _children(data, start, end):
        if tag == 0x82:
            dns.append(data[vstart:vend].decode('ascii', 'replace'))
        elif tag == 0x87 and vend - vstart in (4, 16):
            ips.append(str(ipaddress.ip_address(data[vstart:vend])))
    return dns, ips


def parse_certificate(der: Union[bytes, bytearray]) -> Dict[str, Any]:
    """subject, issuer, serial, not_before, not_after (aware datetimes), SAN names and addresses,
    and the SHA-256 fingerprint of a DER encoded certificate."""
    data = bytes(der)
    try:
        _tag, cstart, cend = _tlv(data, 0)
        tbs_tag, tstart, tend = _children(data, cstart, cend)[0]
        if tbs_tag != 0x30:
            raise CertificateError('no TBSCertificate')
        fields = _children(data, tstart, tend)
        if fields[0][0] == 0xa0:
            fields = fields[1:]
        serial, _sigalg, issuer, validity, subject = fields[:5]
        times = _children(data, validity[1], validity[2])
        cert = {
            'serial': data[serial[1]:serial[2]].hex(),
            'issuer': _name(data, issuer[1], issuer[2]),
            'subject': _name(data, subject[1], subject[2]),
            'not_before': _time(times[0][0], data[times[0][1]:times[0][2]]),
            'not_after': _time(times[1][0], data[times[1][1]:times[1][2]]),
            'dns_names': [],
            'ip_addresses': [],
            'sha256': hashlib.sha256(data).hexdigest(),
        }
        for tag, estart, eend in fields[5:]:
            if tag != 0xa3:
                continue
            _seq, xstart, xend = _tlv(data, estart)
            for _ext, ext_start, ext_end in _children(data, xstart, xend):
                parts = _children(data, ext_start, ext_end)
                if _oid(data[parts[0][1]:parts[0][2]]) != _OID_SAN:
                    continue
                _octets, ostart, _oend = parts[-1]
                _gseq, gstart, gend = _tlv(data, ostart)
                cert['dns_names'], cert['ip_addresses'] = _san(data, gstart, gend)
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, CertificateError):
            raise
        raise CertificateError('not a DER certificate: %s' % exc)
    return cert


def _dns_match(pattern: str, name: str) -> bool:
    pattern = pattern.lower().rstrip('.')
    name = name.lower().rstrip('.')
    if pattern == name:
        return True
    if not pattern.startswith('*.') or '*' in pattern[2:]:
        return False
    head, sep, rest = name.partition('.')
    return bool(sep) and bool(head) and rest == pattern[2:] and rest.count('.') >= 1


def hostname_matches(cert: Dict[str, Any], hostname: str) -> bool:
    """RFC 6125 matching of ``hostname`` (DNS name or IP address) against the SAN entries:
    a wildcard covers exactly one leftmost label, IP addresses only match iPAddress entries,
    and the subject CN is not consulted (as browsers and Python's ssl do)."""
    address: Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]
    try:
        address = ipaddress.ip_address(hostname.split('%', 1)[0])
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(entry) == address for entry in cert['ip_addresses'])
    return any(_dns_match(entry, hostname) for entry in cert['dns_names'])


def days_left(cert: Dict[str, Any], now: Optional[datetime.datetime] = None) -> int:
    """Whole days until not_after (negative once expired)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return int((cert['not_after'] - now).total_seconds() // 86400)
