# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# TLS checks of port_probe: handshake, chain verification (the probing host's trust store or a
# given CA), host name, days left, negotiated protocol version. Each is its own check so that a
# report says which one failed, and each failure names the limit it missed; the certificate is
# read from DER so that it is evidence even when unverified. The chain as presented and OCSP
# stapling are read over a connection of their own (_tls_wire), as evidence only.

from __future__ import annotations

import datetime
import socket
import ssl
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from ansible_collections.portproof.validate.plugins.module_utils._probe._target import TLS_VERSIONS
from ansible_collections.portproof.validate.plugins.module_utils._probe._tls_wire import (
    WireError,
    chain_summary,
    describe,
    read_first_flight,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._x509 import (
    CertificateError,
    days_left,
    hostname_matches,
    parse_certificate,
)

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session

# How a message names the host that probed; the live check puts the host's name in its place.
PROBING_HOST = 'the probing host'
_VERSION_RANK = dict((name, rank) for rank, name in enumerate(('SSLv3',) + TLS_VERSIONS))


def make_context(opts: Dict[str, Any], verify: bool) -> ssl.SSLContext:
    """Client context: chain verification per ``verify`` (system CAs, or only ``ca``); host
    names are matched by hostname_matches() so that their verdict is a check of its own."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        if opts['ca']:
            ctx.load_verify_locations(cafile=opts['ca'])
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if opts['client_cert']:
        ctx.load_cert_chain(opts['client_cert'], opts['client_key'])
    return ctx


def _handshake(session: Session, sock: socket.socket, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    sni = (session.target.tls or {})['hostname']
    ssock = ctx.wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False)
    session.track(ssock)
    session.arm(ssock)
    ssock.do_handshake()
    return ssock


def _reconnect(session: Session) -> socket.socket:
    """A second, unverified connection to read the certificate after verification failed."""
    family, socktype, proto, _canon, sockaddr = session.addrinfo or ()
    sock = socket.socket(family, socktype, proto)
    session.track(sock)
    session.arm(sock)
    sock.connect(sockaddr)
    return sock


def _first_flight(session: Session, sni: Optional[str], connect: Callable[[Session], socket.socket]) -> Dict[str, Any]:
    """The chain as presented, over a connection of its own (see _tls_wire): describe()'s dict,
    or {'error': why} when it could not be read. It may take half of what is left of the probe's
    time, so that a server that never answers such a ClientHello leaves the verdicts their time.
    Not read for the requests of a load run (the probe reported it; their latency is the service's)."""
    if session.load_request:
        return {'error': 'not read for a load request'}
    budget = session.remaining() / 2
    until = session.clock() + budget

    def arm(sock: socket.socket) -> None:
        left = until - session.clock()
        if left <= 0:
            raise socket.timeout('timed out')
        sock.settimeout(left)

    try:
        sock = connect(session)
        return describe(read_first_flight(sock, sni, arm))
    except socket.timeout:
        return {'error': 'no complete answer to a TLS 1.2 ClientHello within %.1f s (half the time left)' % budget}
    except (OSError, WireError) as exc:
        return {'error': str(exc) or type(exc).__name__}


def _chain_evidence(flight: Dict[str, Any], version: Optional[str], leaf: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """chain, chain_visible, ocsp_stapled (and chain_note when the chain could not be seen) for the
    evidence; LEAF (from the normal handshake) stands in for a chain that is not visible."""
    if flight.get('chain'):
        return {'chain': flight['chain'], 'chain_visible': True, 'ocsp_stapled': flight['ocsp_stapled']}
    if flight.get('alert') and version == 'TLSv1.3':
        note = 'chain not visible: the server speaks TLS 1.3 only (it answered a TLS 1.2 ClientHello with %s)' % flight['alert']
    elif flight.get('alert'):
        note = 'chain not read: the server answered a TLS 1.2 ClientHello with %s' % flight['alert']
    else:
        note = 'chain not read: %s' % (flight.get('error') or 'the server sent no certificate')
    chain = [dict((key, leaf[key]) for key in ('subject', 'issuer', 'not_after', 'sha256'))] if leaf else []
    return {'chain': chain, 'chain_visible': False, 'chain_note': note, 'ocsp_stapled': None}


def _version_check(session: Session, opts: Dict[str, Any], version: Optional[str]) -> None:
    minimum = opts['min_version']
    ok = _VERSION_RANK.get(version or '', -1) >= _VERSION_RANK[minimum]
    session.record('tls_version', 'pass' if ok else 'fail', expected='>= %s' % minimum, actual=version,
                   message='%s negotiated, at least %s required' % (version, minimum))


def trust_text(opts: Dict[str, Any]) -> str:
    """What the chain is verified against, in words (the live check names the probing host)."""
    return 'the CA %s' % opts['ca'] if opts['ca'] else 'the trust store of %s' % PROBING_HOST


def tls_session(session: Session, sock: socket.socket,
                connect: Callable[[Session], socket.socket] = _reconnect) -> Optional[ssl.SSLSocket]:
    """Run the TLS checks; returns the TLS socket for what follows (HTTP, send/expect), or None
    when nothing more may be sent (handshake failed, or the chain did not verify)."""
    opts: Dict[str, Any] = session.target.tls or {}
    session.begin('tls_handshake')
    try:
        ctx = make_context(opts, opts['verify'])
    except (OSError, ssl.SSLError) as exc:
        session.record('tls_handshake', 'error', message='cannot load the CA or client certificate on this host: %s' % exc)
        session.skip_note = 'not run: TLS context could not be set up'
        return None
    verify_error: Optional[ssl.SSLCertVerificationError] = None
    try:
        ssock = _handshake(session, sock, ctx)
    except ssl.SSLCertVerificationError as exc:
        verify_error = exc
    except ssl.SSLError as exc:
        _failed_handshake(session, opts, exc, _first_flight(session, opts['hostname'], connect))
        return None
    if verify_error is not None:
        # The first connection is gone; read the certificate over a second one, unverified.
        ssock = _handshake(session, connect(session), make_context(opts, False))
    der = ssock.getpeercert(binary_form=True)
    version = ssock.version()
    cipher = ssock.cipher()
    session.record('tls_handshake', 'pass', actual=version,
                   message='negotiated %s with %s' % (version, cipher[0] if cipher else 'unknown cipher'))
    flight = _first_flight(session, opts['hostname'], connect)
    evidence = {'version': version, 'protocol': version, 'cipher': cipher[0] if cipher else None, 'sni': opts['hostname'],
                'verified': verify_error is None}
    session.evidence['tls'] = evidence
    try:
        cert: Optional[Dict[str, Any]] = parse_certificate(der or b'')
    except CertificateError as exc:
        for name in ('tls_hostname', 'tls_days'):
            if name in session.target.plan:
                session.record(name, 'error', message='cannot read the server certificate: %s' % exc)
        cert = None
    leaf = _leaf_evidence(cert) if cert is not None else None
    evidence.update(_chain_evidence(flight, version, leaf))
    if opts['verify']:
        where = opts['ca'] or 'the system CA store'
        if verify_error is None:
            session.record('tls_verify', 'pass', expected=where, actual='verified', message='chain verifies against %s' % trust_text(opts))
        else:
            presented = '; the server presented %s' % chain_summary(evidence['chain']) if evidence['chain_visible'] else ''
            session.record('tls_verify', 'fail', expected=where, actual=verify_error.verify_message,
                           message='chain does not verify against %s: %s%s' % (trust_text(opts), verify_error.verify_message, presented))
            session.skip_note = 'not run: the certificate chain did not verify, nothing is sent to this server'
    if cert is not None:
        evidence.update(leaf or {})
        _certificate_checks(session, opts, cert, evidence)
    if 'tls_version' in session.target.plan:
        _version_check(session, opts, version)
    if verify_error is not None:
        return None
    return ssock


def _failed_handshake(session: Session, opts: Dict[str, Any], exc: ssl.SSLError, flight: Dict[str, Any]) -> None:
    """The handshake of this host's ssl failed: what the server answered a TLS 1.2 ClientHello
    of port_probe's own (a protocol or cipher this host's OpenSSL refuses) is the evidence, and
    decides tls_version when the server chose a version."""
    message = 'TLS handshake failed: %s' % (exc.reason or exc)
    version = flight.get('version')
    if version:
        message += '; the server answers a TLS 1.2 ClientHello with %s and %s' % (version, flight['cipher'])
        session.evidence['tls'] = dict({'version': version, 'protocol': version, 'cipher': flight['cipher'], 'sni': opts['hostname'],
                                        'verified': False, 'handshake': 'failed'}, **_chain_evidence(flight, version, None))
    session.record('tls_handshake', 'fail', actual=None, message=message)
    session.skip_note = 'not run: the TLS handshake failed'
    if version and 'tls_version' in session.target.plan:
        _version_check(session, opts, version)


def _leaf_evidence(cert: Dict[str, Any]) -> Dict[str, Any]:
    return {
        'subject': cert['subject'],
        'issuer': cert['issuer'],
        'serial': cert['serial'],
        'not_before': cert['not_before'].strftime('%Y-%m-%dT%H:%M:%SZ'),
        'not_after': cert['not_after'].strftime('%Y-%m-%dT%H:%M:%SZ'),
        'dns_names': cert['dns_names'],
        'ip_addresses': cert['ip_addresses'],
        'sha256': cert['sha256'],
    }


def _certificate_checks(session: Session, opts: Dict[str, Any], cert: Dict[str, Any], evidence: Dict[str, Any]) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    left = days_left(cert, now)
    evidence['days_left'] = left
    if opts['check_hostname']:
        name = opts['hostname'] or session.target.host
        names = cert['dns_names'] + cert['ip_addresses']
        if hostname_matches(cert, name):
            session.record('tls_hostname', 'pass', expected=name, actual=names, message='%s is covered by the certificate' % name)
        else:
            session.record('tls_hostname', 'fail', expected=name, actual=names,
                           message='%s is not among the certificate names %s' % (name, ', '.join(names) or '(none)'))
    if opts['min_days'] is not None:
        ok = left >= opts['min_days']
        session.record('tls_days', 'pass' if ok else 'fail', expected='>= %d' % opts['min_days'], actual=left,
                       message=days_message(evidence['not_after'], left, opts['min_days']))


def _days(count: int) -> str:
    return '%d day%s' % (count, '' if count == 1 else 's')


def days_message(not_after: str, left: int, minimum: int) -> str:
    """The tls_days verdict in words, with the limit it was held to."""
    if left < 0:
        return 'certificate expired %s ago (%s), at least %s left required' % (_days(-left), not_after, _days(minimum))
    return 'certificate expires in %s (%s), at least %d required' % (_days(left), not_after, minimum)
