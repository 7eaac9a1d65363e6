# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# SSH checks of port_probe: the host key fingerprint and the authentication methods a server
# offers, learnt through paramiko (key exchange, then a "none" authentication request, which
# the server answers with the methods it accepts; no credential is ever sent). Where paramiko
# does not import, the checks are "unavailable" and the server's version line is still read.

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import sys
import traceback
from typing import TYPE_CHECKING, Any, Dict, List

try:
    import paramiko
    HAS_PARAMIKO = True
    PARAMIKO_IMPORT_ERROR = None
    # paramiko logs transport errors through "paramiko.transport"; with no handler Python would
    # print them on stderr, which a module must not do. They end up in the check entries instead.
    logging.getLogger('paramiko').addHandler(logging.NullHandler())
except ImportError:
    paramiko = None
    HAS_PARAMIKO = False
    PARAMIKO_IMPORT_ERROR = traceback.format_exc()

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session

_VERSION_LINE_CAP = 255


def fingerprint(key_blob: bytes) -> str:
    """OpenSSH style SHA256 fingerprint of a public key blob: 'SHA256:' + unpadded base64."""
    return 'SHA256:' + base64.b64encode(hashlib.sha256(key_blob).digest()).decode('ascii').rstrip('=')


def unavailable_message() -> str:
    last = ((PARAMIKO_IMPORT_ERROR or '').strip().splitlines() or ['ImportError'])[-1]
    return ('paramiko is not importable by the Python running this module (%s on %s): %s'
            % (sys.executable or 'python', socket.gethostname(), last))


def _version_line(session: Session, sock: Any) -> str:
    """The server's identification line (RFC 4253 4.2), read without paramiko."""
    data = b''
    while b'\n' not in data and len(data) < _VERSION_LINE_CAP:
        session.arm(sock)
        chunk = sock.recv(_VERSION_LINE_CAP)
        if not chunk:
            break
        data += chunk
    return data.split(b'\n', 1)[0].rstrip(b'\r').decode('utf-8', 'replace')


def ssh_session(session: Session, sock: Any) -> None:
    target = session.target
    opts: Dict[str, Any] = target.ssh or {}
    session.begin('ssh_handshake')
    if not HAS_PARAMIKO:
        line = _version_line(session, sock)
        session.evidence['ssh'] = {'banner': line}
        message = unavailable_message()
        for name in target.plan:
            if name.startswith('ssh_'):
                session.record(name, 'unavailable', message=message)
        return
    transport = paramiko.Transport(sock)
    try:
        left = session.remaining()
        transport.banner_timeout = left
        transport.handshake_timeout = left
        transport.auth_timeout = left
        try:
            transport.start_client(timeout=left)
            # start_client returns without an error when its timeout passes before the key
            # exchange is done; asking for the key then raises, and the deadline decides below.
            key = transport.get_remote_server_key()
        except OSError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            # paramiko re-raises whatever its reader hit in a malformed server hello (SSHException,
            # EOFError, IndexError, UnicodeDecodeError, ...): all of them are a failed handshake.
            if session.remaining() <= 0:
                raise socket.timeout('deadline reached during the SSH handshake')
            session.record('ssh_handshake', 'fail', message='SSH handshake failed: %s' % (str(exc) or type(exc).__name__))
            session.skip_note = 'not run: the SSH handshake failed'
            return
        evidence = {
            'banner': transport.remote_version,
            'key_type': key.get_name(),
            'fingerprint': fingerprint(key.asbytes()),
        }
        session.evidence['ssh'] = evidence
        session.record('ssh_handshake', 'pass', actual=transport.remote_version,
                       message='key exchange done, %s host key %s' % (evidence['key_type'], evidence['fingerprint']))
        if opts['host_key'] is not None:
            ok = evidence['fingerprint'] in opts['host_key']
            session.record('ssh_host_key', 'pass' if ok else 'fail', expected=opts['host_key'], actual=evidence['fingerprint'],
                           message='host key %s %s' % (evidence['fingerprint'], 'is expected' if ok else 'is not among the expected keys'))
        session.begin('ssh_auth_methods')
        try:
            methods = _offered_methods(transport, opts['user'])
        except paramiko.SSHException as exc:
            if session.remaining() <= 0:
                raise socket.timeout('deadline reached during the SSH authentication request')
            if 'ssh_auth_methods' in target.plan:
                session.record('ssh_auth_methods', 'error', expected=opts['auth_methods'],
                               message='the server did not answer the "none" authentication request: %s' % exc)
            return
        evidence['auth_methods'] = methods
        if opts['auth_methods'] is not None:
            extra = [method for method in methods if method not in opts['auth_methods']]
            session.record('ssh_auth_methods', 'fail' if extra else 'pass', expected=opts['auth_methods'], actual=methods,
                           message=('offers methods outside the allowed list: %s' % ', '.join(extra)) if extra
                           else 'offers only allowed methods')
    finally:
        transport.close()


def _offered_methods(transport: Any, user: str) -> List[str]:
    """Methods the server lists after a "none" authentication request for ``user``."""
    try:
        remaining = transport.auth_none(user)
    except paramiko.BadAuthenticationType as exc:
        return list(exc.allowed_types)
    # "none" was accepted: fully (the server lets the user in without any credential), or as a
    # partial success that names the methods still required.
    return ['none'] + list(remaining or [])
