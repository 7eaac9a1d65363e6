# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# TLS checks of port_probe against real TLS servers on loopback with certificates made by
# cryptography: chain (given CA or system store), host name, days left, protocol version.

from __future__ import annotations

import datetime
import re
import ssl
import time
import warnings

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe._tls import days_message
from ansible_collections.portproof.validate.plugins.plugin_utils import _live_checks as live_checks


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return servers.Pki(str(tmp_path_factory.mktemp('pki')))


@pytest.fixture(scope='module')
def short_lived(pki):
    """HTTPS on loopback with a certificate that expires in 5 days (and a bit)."""
    cert, key, not_after = pki.leaf('short', datetime.timedelta(days=5, hours=1))
    server = servers.HttpServer(cert, key)
    server.not_after = not_after
    yield server
    server.close()


@pytest.fixture(scope='module')
def tls12_only(pki):
    cert, key, _not_after = pki.leaf('tls12', datetime.timedelta(days=90))
    server = servers.HttpServer(cert, key, max_version=ssl.TLSVersion.TLSv1_2)
    yield server
    server.close()


def probe(*targets):
    return run({'targets': list(targets)})['probes']


def checks(result):
    return dict((entry['name'], entry) for entry in result['response'])


def test_five_day_certificate_fails_min_days_14(pki, short_lived):
    (result,) = probe({'host': 'localhost', 'port': short_lived.port, 'family': 'ipv4',
                       'tls': {'ca': pki.ca_path, 'min_days': 14, 'min_version': 'TLSv1.2'}, 'http': {'path': '/health'}})
    got = checks(result)
    assert [entry['name'] for entry in result['response']] == [
        'tls_handshake', 'tls_verify', 'tls_hostname', 'tls_days', 'tls_version', 'http_status']
    assert got['tls_days'] == {'name': 'tls_days', 'status': 'fail', 'expected': '>= 14', 'actual': 5,
                               'message': 'certificate expires in 5 days (%s), at least 14 required'
                                          % short_lived.not_after.strftime('%Y-%m-%dT%H:%M:%SZ')}
    assert got['tls_verify']['status'] == 'pass' and got['tls_verify']['expected'] == pki.ca_path
    assert got['tls_hostname']['status'] == 'pass' and got['tls_hostname']['actual'] == ['localhost', '127.0.0.1']
    assert got['tls_version'] == {'name': 'tls_version', 'status': 'pass', 'expected': '>= TLSv1.2', 'actual': 'TLSv1.3',
                                  'message': 'TLSv1.3 negotiated, at least TLSv1.2 required'}
    assert got['http_status']['status'] == 'pass'
    assert result['ok'] is False
    assert result['tls']['days_left'] == 5 and result['tls']['verified'] is True
    assert result['tls']['subject'] == 'CN=localhost' and result['tls']['issuer'] == 'CN=portproof test CA'
    # The server (Python's ssl) sends its leaf alone, and staples nothing.
    assert result['tls']['protocol'] == 'TLSv1.3' and result['tls']['cipher'] == 'TLS_AES_256_GCM_SHA384'
    assert result['tls']['chain'] == [{'subject': 'CN=localhost', 'issuer': 'CN=portproof test CA', 'sha256': result['tls']['sha256'],
                                       'not_after': result['tls']['not_after']}]
    assert result['tls']['chain_visible'] is True and result['tls']['ocsp_stapled'] is False
    assert 'chain_note' not in result['tls']


def test_same_certificate_passes_min_days_5(pki, short_lived):
    (result,) = probe({'host': '127.0.0.1', 'port': short_lived.port, 'tls': {'ca': pki.ca_path, 'min_days': 5}})
    assert checks(result)['tls_days']['status'] == 'pass'
    assert checks(result)['tls_hostname']['expected'] == '127.0.0.1'
    assert result['ok'] is True
    assert result['tls']['sni'] is None


def test_unknown_ca_fails_verification_but_the_certificate_is_still_evidence(short_lived):
    (result,) = probe({'host': 'localhost', 'port': short_lived.port, 'family': 'ipv4',
                       'tls': {'min_days': 1}, 'http': {'path': '/health', 'headers': {'Authorization': 'Bearer t'}}})
    got = checks(result)
    assert got['tls_verify']['status'] == 'fail'
    assert got['tls_verify']['expected'] == 'the system CA store'
    assert got['tls_verify']['actual'] == 'unable to get local issuer certificate'
    assert got['tls_verify']['message'] == (
        'chain does not verify against the trust store of the probing host: unable to get local issuer certificate; '
        'the server presented 1 certificate: CN=localhost (issued by CN=portproof test CA)')
    assert got['tls_days']['status'] == 'pass' and got['tls_days']['actual'] == 5
    assert got['tls_hostname']['status'] == 'pass'
    assert got['http_status'] == {'name': 'http_status', 'status': 'skip', 'expected': None, 'actual': None,
                                  'message': 'not run: the certificate chain did not verify, nothing is sent to this server'}
    assert result['tls']['verified'] is False
    assert 'http' not in result
    assert result['ok'] is False


def test_verify_off_still_checks_the_rest(short_lived):
    (result,) = probe({'host': '127.0.0.1', 'port': short_lived.port, 'tls': {'verify': False}, 'http': {'path': '/health'}})
    assert [entry['name'] for entry in result['response']] == ['tls_handshake', 'tls_hostname', 'http_status']
    assert result['ok'] is True


def test_hostname_mismatch(pki, short_lived):
    (result,) = probe({'host': '127.0.0.1', 'port': short_lived.port, 'tls': {'ca': pki.ca_path, 'hostname': 'db.example.test'}})
    assert checks(result)['tls_hostname'] == {
        'name': 'tls_hostname', 'status': 'fail', 'expected': 'db.example.test', 'actual': ['localhost', '127.0.0.1'],
        'message': 'db.example.test is not among the certificate names localhost, 127.0.0.1'}
    assert result['tls']['sni'] == 'db.example.test'


def test_expired_certificate(pki):
    cert, key, _not_after = pki.leaf('expired', datetime.timedelta(days=-2, hours=1), not_before_days=30)
    server = servers.HttpServer(cert, key)
    try:
        (result,) = probe({'host': '127.0.0.1', 'port': server.port, 'tls': {'ca': pki.ca_path, 'min_days': 0}})
    finally:
        server.close()
    assert checks(result)['tls_verify']['actual'] == 'certificate has expired'
    assert checks(result)['tls_days']['status'] == 'fail' and checks(result)['tls_days']['actual'] == -2
    assert checks(result)['tls_days']['message'].startswith('certificate expired ')


def test_min_version(pki, tls12_only):
    low, high = probe({'host': '127.0.0.1', 'port': tls12_only.port, 'tls': {'ca': pki.ca_path, 'min_version': 'TLSv1.3'}},
                      {'host': '127.0.0.1', 'port': tls12_only.port, 'tls': {'ca': pki.ca_path, 'min_version': 'TLSv1.2'}})
    assert checks(low)['tls_version'] == {'name': 'tls_version', 'status': 'fail', 'expected': '>= TLSv1.3', 'actual': 'TLSv1.2',
                                          'message': 'TLSv1.2 negotiated, at least TLSv1.3 required'}
    assert checks(high)['tls_verify']['message'] == 'chain verifies against the CA %s' % pki.ca_path
    assert checks(high)['tls_version']['status'] == 'pass'


def test_tls_to_a_plain_port_fails_the_handshake():
    web = servers.HttpServer()
    try:
        (result,) = probe({'host': '127.0.0.1', 'port': web.port, 'tls': {'verify': False}, 'http': {}})
    finally:
        web.close()
    assert result['state'] == 'open'
    assert checks(result)['tls_handshake']['status'] == 'fail'
    assert checks(result)['tls_handshake']['message'].startswith('TLS handshake failed: ')
    assert checks(result)['http_status']['message'] == 'not run: the TLS handshake failed'


def test_missing_ca_file_is_an_error(tmp_path, short_lived):
    (result,) = probe({'host': '127.0.0.1', 'port': short_lived.port, 'tls': {'ca': str(tmp_path / 'nope.pem')}})
    assert checks(result)['tls_handshake']['status'] == 'error'
    assert checks(result)['tls_handshake']['message'].startswith('cannot load the CA or client certificate on this host: ')


def test_send_expect_over_tls(pki):
    cert, key, _not_after = pki.leaf('banner', datetime.timedelta(days=30))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b'* OK IMAP4rev1 ready\r\n')
            tls.recv(100)

    server = servers.TcpServer(handler)
    try:
        (result,) = probe({'host': '127.0.0.1', 'port': server.port, 'tls': {'ca': pki.ca_path}, 'expect': r'^\* OK'})
    finally:
        server.close()
    assert [(entry['name'], entry['status']) for entry in result['response']] == [
        ('tls_handshake', 'pass'), ('tls_verify', 'pass'), ('tls_hostname', 'pass'), ('expect', 'pass')]


@pytest.mark.parametrize('left, message', [
    (4, 'certificate expires in 4 days (2026-12-10T00:00:00Z), at least 14 required'),
    (1, 'certificate expires in 1 day (2026-12-10T00:00:00Z), at least 14 required'),
    (30, 'certificate expires in 30 days (2026-12-10T00:00:00Z), at least 14 required'),
    (-2, 'certificate expired 2 days ago (2026-12-10T00:00:00Z), at least 14 days left required'),
])
def test_days_message_names_the_limit(left, message):
    assert days_message('2026-12-10T00:00:00Z', left, 14) == message


@pytest.mark.parametrize('source, who', [('app1', 'app1'), ('controller', 'the controller')])
def test_the_tls_result_names_the_trust_store_of_the_source_and_carries_the_chain(short_lived, source, who):
    (result,) = probe({'host': '127.0.0.1', 'port': short_lived.port, 'tls': {'min_days': 14, 'min_version': 'TLSv1.3'}})
    entry = {'host': 'web1', 'service': 'https', 'source': source, 'kind': 'reach', 'checks': ['tls'],
             'target': {'host': '127.0.0.1', 'port': short_lived.port, 'proto': 'tcp'}}
    item = live_checks.tls(entry, result)
    leaf = result['tls']
    assert item['status'] == 'fail'
    assert item['message'] == (
        'https from %s at 127.0.0.1:%d/tcp: tls_verify fail: chain does not verify against the trust store of %s: unable to get local '
        'issuer certificate; the server presented 1 certificate: CN=localhost (issued by CN=portproof test CA); '
        'tls_days fail: certificate expires in 5 days (%s), at least 14 required' % (source, short_lived.port, who, leaf['not_after']))
    assert item['tls'] == {'protocol': 'TLSv1.3', 'cipher': 'TLS_AES_256_GCM_SHA384', 'ocsp_stapled': False, 'chain_visible': True,
                           'chain': [{'subject': 'CN=localhost', 'issuer': 'CN=portproof test CA', 'not_after': leaf['not_after'],
                                      'sha256': leaf['sha256']}]}


def test_a_tls11_only_server_fails_the_handshake_and_min_version_names_it(pki):
    cert, key, _not_after = pki.leaf('tls11', datetime.timedelta(days=30))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)  # TLSv1_1 is: that is the fault planted
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.load_cert_chain(cert, key)

    def handler(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    server = servers.TcpServer(handler)
    try:
        (result,) = probe({'host': '127.0.0.1', 'port': server.port, 'tls': {'ca': pki.ca_path, 'min_version': 'TLSv1.2'}})
    finally:
        server.close()
    got = checks(result)
    assert got['tls_handshake']['status'] == 'fail'
    # This host's OpenSSL offers TLS 1.2 and up, so the server refuses it; its answer to port_probe's own ClientHello says why.
    assert got['tls_handshake']['message'] == ('TLS handshake failed: TLSV1_ALERT_PROTOCOL_VERSION; the server answers a TLS 1.2 '
                                               'ClientHello with TLSv1.1 and ECDHE-ECDSA-AES256-SHA')
    assert got['tls_version'] == {'name': 'tls_version', 'status': 'fail', 'expected': '>= TLSv1.2', 'actual': 'TLSv1.1',
                                  'message': 'TLSv1.1 negotiated, at least TLSv1.2 required'}
    assert result['tls']['protocol'] == 'TLSv1.1' and result['tls']['handshake'] == 'failed'
    assert [item['subject'] for item in result['tls']['chain']] == ['CN=localhost']


def test_a_server_that_never_answers_the_chain_read_leaves_the_verdicts_their_time(pki):
    """The first connection gets a normal TLS server; the second (the chain read) is held open
    without an answer: the chain read gives up after half the time left, the verdicts stand."""
    cert, key, _not_after = pki.leaf('silent', datetime.timedelta(days=30))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    held = []

    def handler(conn):
        if server.accepted > 1:
            held.append(conn)
            time.sleep(3)
            return
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(100)

    server = servers.TcpServer(handler)
    try:
        started = time.monotonic()
        (result,) = probe({'host': '127.0.0.1', 'port': server.port, 'timeout': 2, 'tls': {'ca': pki.ca_path, 'min_days': 14}})
        took = time.monotonic() - started
    finally:
        server.close()
    assert [(entry['name'], entry['status']) for entry in result['response']] == [
        ('tls_handshake', 'pass'), ('tls_verify', 'pass'), ('tls_hostname', 'pass'), ('tls_days', 'pass')]
    assert result['state'] == 'open' and result['ok'] is True
    assert result['tls']['chain_visible'] is False and result['tls']['ocsp_stapled'] is None
    assert re.match(r'^chain not read: no complete answer to a TLS 1\.2 ClientHello within (0\.[1-9]|1\.0) s \(half the time left\)$',
                    result['tls']['chain_note']), result['tls']['chain_note']
    assert [item['subject'] for item in result['tls']['chain']] == ['CN=localhost']
    # Half of what the handshake left of the 2 s: about 1 s in all, and never the whole timeout.
    assert 0.9 < took < 1.9


def test_load_requests_do_not_read_the_chain(pki):
    """The chain is evidence of the probe, not of each load request: 10 requests over TLS are 10
    connections (plus the probe's handshake and its chain read), and their latency holds no chain read."""
    cert, key, _not_after = pki.leaf('load', datetime.timedelta(days=30))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handler(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(100)
        except (ssl.SSLError, OSError):  # the chain read closes after the server's first flight
            pass

    server = servers.TcpServer(handler)
    try:
        result = run({'targets': [{'host': '127.0.0.1', 'port': server.port, 'tls': {'ca': pki.ca_path}}],
                      'load': {'requests': 10, 'concurrency': 2}})
    finally:
        server.close()
    assert (result['load']['completed'], result['load']['errors'], result['load']['ok']) == (10, 0, True)
    assert result['probes'][0]['tls']['chain_visible'] is True
    assert server.accepted == 12
