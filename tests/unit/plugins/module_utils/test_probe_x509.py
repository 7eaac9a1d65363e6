# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The DER certificate reader of port_probe against certificates captured with openssl
# (fixtures/probe/capture.sh): every field must read as openssl itself reads it.

from __future__ import annotations

import datetime
import os
import ssl

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._x509 import (
    CertificateError,
    days_left,
    hostname_matches,
    parse_certificate,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'probe')
NAMES = ['dns_names', 'ip_addresses', 'no_san', 'generalized_time', 'utf8_subject']


def _openssl_view(name):
    view = {}
    with open(os.path.join(FIXTURES, name + '.txt'), encoding='utf-8') as handle:
        for line in handle:
            key, _sep, value = line.rstrip('\n').partition('=')
            view[key] = value
    return view


def _der(name):
    with open(os.path.join(FIXTURES, name + '.pem')) as handle:
        return ssl.PEM_cert_to_DER_cert(handle.read())


def _openssl_san(text):
    dns, ips = [], []
    for item in filter(None, (part.strip() for part in text.split(','))):
        kind, _sep, value = item.partition(':')
        if kind == 'DNS':
            dns.append(value)
        elif kind == 'IP Address':
            ips.append(str(__import__('ipaddress').ip_address(value)))
    return dns, ips


@pytest.mark.parametrize('name', NAMES)
def test_fields_read_as_openssl_reads_them(name):
    view = _openssl_view(name)
    cert = parse_certificate(_der(name))
    assert cert['subject'] == view['subject']
    assert cert['issuer'] == view['issuer']
    assert cert['serial'].upper().lstrip('0') == view['serial'].lstrip('0')
    assert cert['not_before'].strftime('%Y-%m-%d %H:%M:%SZ') == view['notBefore']
    assert cert['not_after'].strftime('%Y-%m-%d %H:%M:%SZ') == view['notAfter']
    assert cert['sha256'] == view['sha256 Fingerprint'].replace(':', '').lower()
    assert (cert['dns_names'], cert['ip_addresses']) == _openssl_san(view.get('san', ''))


@pytest.mark.parametrize('name, hostname, matches', [
    ('dns_names', 'web.example.test', True),
    ('dns_names', 'WEB.example.test.', True),
    ('dns_names', 'v1.api.example.test', True),
    ('dns_names', 'a.v1.api.example.test', False),  # a wildcard covers one label only
    ('dns_names', 'api.example.test', False),
    ('dns_names', 'example.test', True),
    ('dns_names', 'other.test', False),
    ('ip_addresses', '127.0.0.1', True),
    ('ip_addresses', '::1', True),
    ('ip_addresses', '0:0::1', True),
    ('ip_addresses', '127.0.0.2', False),
    ('ip_addresses', 'localhost', True),
    ('no_san', 'legacy.example.test', False),  # the subject CN is not consulted
    ('utf8_subject', 'xn--caf-dma.example.test', True),
])
def test_hostname_matching(name, hostname, matches):
    assert hostname_matches(parse_certificate(_der(name)), hostname) is matches


@pytest.mark.parametrize('delta, expected', [
    (datetime.timedelta(days=5, hours=1), 5),
    (datetime.timedelta(days=5, seconds=-1), 4),
    (datetime.timedelta(hours=23), 0),
    (datetime.timedelta(hours=-1), -1),  # expired an hour ago: below any min_days
    (datetime.timedelta(days=-2, hours=1), -2),
])
def test_days_left(delta, expected):
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    assert days_left({'not_after': now + delta}, now) == expected


@pytest.mark.parametrize('der', [b'', b'\x30', b'\x30\x03\x02\x01\x00', b'\x04\x02ab', b'\x30\x84\xff\xff\xff\xff'])
def test_garbage_is_a_certificate_error(der):
    with pytest.raises(CertificateError):
        parse_certificate(der)
