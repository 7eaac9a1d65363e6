# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# SSH checks of port_probe against the machine's sshd on loopback (host key fingerprint as
# ssh-keygen prints it, offered authentication methods), and without paramiko.

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import normalize_targets
from ansible_collections.portproof.validate.plugins.module_utils._probe import _ssh
from ansible_collections.portproof.validate.plugins.module_utils._probe._ssh import fingerprint


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers
needs_sshd = pytest.mark.skipif(not servers.sshd_usable(), reason='needs root, /usr/sbin/sshd and ssh-keygen')


@pytest.fixture(scope='module')
def sshd_password():
    server = servers.Sshd(password=True)
    yield server
    server.close()


@pytest.fixture(scope='module')
def sshd_keys_only():
    server = servers.Sshd(password=False)
    yield server
    server.close()


def checks(result):
    return dict((entry['name'], entry) for entry in result['response'])


@pytest.mark.skipif(shutil.which('ssh-keygen') is None, reason='needs ssh-keygen')
@pytest.mark.parametrize('kind', ['ed25519', 'ecdsa', 'rsa'])
def test_fingerprint_is_what_ssh_keygen_prints(tmp_path, kind):
    key = str(tmp_path / kind)
    subprocess.run(['ssh-keygen', '-q', '-t', kind, '-N', '', '-f', key], check=True)
    with open(key + '.pub') as handle:
        blob = base64.b64decode(handle.read().split()[1])
    printed = subprocess.run(['ssh-keygen', '-l', '-f', key + '.pub'], check=True, capture_output=True, text=True).stdout.split()[1]
    assert fingerprint(blob) == printed


@needs_sshd
def test_password_offering_server_fails_publickey_only(sshd_password):
    (result,) = run({'targets': [{'host': '127.0.0.1', 'port': sshd_password.port,
                                  'ssh': {'auth_methods': ['publickey'], 'host_key': [sshd_password.fingerprint]}}]})['probes']
    got = checks(result)
    assert [entry['name'] for entry in result['response']] == ['ssh_handshake', 'ssh_host_key', 'ssh_auth_methods']
    assert got['ssh_handshake']['status'] == 'pass'
    assert got['ssh_host_key'] == {'name': 'ssh_host_key', 'status': 'pass', 'expected': [sshd_password.fingerprint],
                                   'actual': sshd_password.fingerprint,
                                   'message': 'host key %s is expected' % sshd_password.fingerprint}
    assert got['ssh_auth_methods'] == {'name': 'ssh_auth_methods', 'status': 'fail', 'expected': ['publickey'],
                                       'actual': ['publickey', 'password'],
                                       'message': 'offers methods outside the allowed list: password'}
    assert result['ssh']['key_type'] == 'ssh-ed25519'
    assert result['ssh']['banner'].startswith('SSH-2.0-OpenSSH_')
    assert result['state'] == 'open' and result['ok'] is False


@needs_sshd
def test_publickey_only_server_passes_and_wrong_key_fails(sshd_keys_only):
    good, wrong = run({'targets': [
        {'host': '127.0.0.1', 'port': sshd_keys_only.port, 'ssh': {'auth_methods': ['publickey'], 'host_key': [sshd_keys_only.fingerprint]}},
        {'host': '127.0.0.1', 'port': sshd_keys_only.port, 'ssh': {'host_key': ['SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']}},
    ]})['probes']
    assert good['ok'] is True
    assert checks(good)['ssh_auth_methods']['actual'] == ['publickey']
    assert checks(wrong)['ssh_host_key']['status'] == 'fail'
    assert wrong['ssh']['auth_methods'] == ['publickey']


@needs_sshd
def test_without_paramiko_the_checks_are_unavailable(sshd_password, monkeypatch):
    monkeypatch.setattr(_ssh, 'HAS_PARAMIKO', False)
    monkeypatch.setattr(_ssh, 'PARAMIKO_IMPORT_ERROR', "ModuleNotFoundError: No module named 'paramiko'")
    (result,) = run({'targets': [{'host': '127.0.0.1', 'port': sshd_password.port, 'ssh': {'auth_methods': ['publickey']}}]})['probes']
    assert [(entry['name'], entry['status']) for entry in result['response']] == [
        ('ssh_handshake', 'unavailable'), ('ssh_auth_methods', 'unavailable')]
    message = result['response'][0]['message']
    assert message.startswith('paramiko is not importable by the Python running this module (')
    assert message.endswith("): ModuleNotFoundError: No module named 'paramiko'")
    assert result['ssh']['banner'].startswith('SSH-2.0-OpenSSH_')
    assert result['state'] == 'open' and result['ok'] is False


def test_not_an_ssh_server_fails_the_handshake():
    server = servers.TcpServer(servers.banner(b'220 smtp ready\r\n'))
    try:
        (result,) = run({'targets': [{'host': '127.0.0.1', 'port': server.port, 'timeout': 3, 'ssh': {}}]})['probes']
    finally:
        server.close()
    assert result['state'] == 'open'
    assert checks(result)['ssh_handshake']['status'] == 'fail'
    assert checks(result)['ssh_handshake']['message'].startswith('SSH handshake failed: ')


def test_silent_server_times_out_within_the_deadline():
    server = servers.TcpServer()
    try:
        (result,) = run({'targets': [{'host': '127.0.0.1', 'port': server.port, 'timeout': 0.5, 'ssh': {}}]})['probes']
    finally:
        server.close()
    assert (result['state'], result['connected']) == ('timeout', True)
    assert checks(result)['ssh_handshake']['actual'] == 'timeout'
    assert result['total_ms'] < 3000  # the 0.5 s deadline holds (paramiko alone would wait 15 s for a banner)


def test_key_exchange_unfinished_at_the_deadline_is_a_timeout(monkeypatch):
    # paramiko's start_client returns without an error when its timeout passes before the key
    # exchange is done (a silent server on a loaded machine, where the probe loop has not yet
    # expired the session): that is the deadline, not a failed handshake or an internal error.
    def start_client_that_runs_out_of_time(self, event=None, timeout=None):
        time.sleep(timeout)

    monkeypatch.setattr(_ssh.paramiko.Transport, 'start_client', start_client_that_runs_out_of_time)
    server = servers.TcpServer()
    sock = socket.create_connection(('127.0.0.1', server.port), timeout=2)
    try:
        (target,) = normalize_targets([{'host': '127.0.0.1', 'port': server.port, 'timeout': 0.2, 'ssh': {}}])
        session = Session(target)
        session.start()
        with pytest.raises(socket.timeout, match='deadline reached during the SSH handshake'):
            _ssh.ssh_session(session, sock)
        assert 'ssh_handshake' not in session.checks
    finally:
        sock.close()
        server.close()
