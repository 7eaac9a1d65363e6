# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Real services on 127.0.0.1 for the port_probe tests: TCP listeners that answer, hang or send
# a banner, UDP responders, HTTP(S) with JSON, certificates made with cryptography, and the
# machine's sshd. Loaded by path from the test files (see load_servers() there).

from __future__ import annotations

import datetime
import html
import http.server
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port(kind=socket.SOCK_STREAM):
    """A port with nothing bound to it on 127.0.0.1 (a refused port for TCP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TcpServer(object):
    """Accepts connections and runs ``handler(conn)`` for each on a thread.

    handler None: accept, then hold the connection open and never send (accept-then-hang).
    """

    def __init__(self, handler=None, family=socket.AF_INET, host='127.0.0.1'):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.held = []
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.handler is None:
                self.held.append(conn)
            else:
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for conn in self.held:
            conn.close()


def banner(text):
    def handler(conn):
        conn.sendall(text)
        time.sleep(0.5)
    return handler


def read_line(conn):
    """What the peer sent up to its first line end; b'' when it closed before one."""
    data = b''
    while b'\n' not in data:
        chunk = conn.recv(1024)
        if not chunk:
            return b''
        data += chunk
    return data


def ping_pong(conn):
    data = read_line(conn)
    if data:
        conn.sendall(b'+PONG\r\n' if data.startswith(b'PING') else b'-ERR unknown\r\n')


class UdpServer(object):
    """Bound UDP port; replies with ``reply(data)`` unless it returns None (silent listener)."""

    def __init__(self, reply=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.received = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            self.received.append(data)
            answer = self.reply(data) if self.reply else None
            if answer is not None:
                self.sock.sendto(answer, addr)

    def close(self):
        self.sock.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    seen = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status, body, ctype='application/json'):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        type(self).seen.append({'path': self.path, 'headers': dict(self.headers)})
        if self.path == '/health':
            self._send(200, {'status': 'ok', 'checks': {'db': 'up'}, 'version': '1.4.2'})
        elif self.path == '/degraded':
            self._send(503, {'status': 'degraded'})
        elif self.path == '/aaa':
            self._send(200, b'a' * 39 + b'!', 'text/plain')  # what ^(a|aa)+$ backtracks on for seconds
        elif self.path == '/text':
            self._send(200, b'hello, plain text\n', 'text/plain')
        elif self.path == '/big':
            self._send(200, b'x' * 200000, 'text/plain')
        elif self.path.startswith('/slow'):
            time.sleep(float(self.path.split('=')[1]) if '=' in self.path else 0.05)
            self._send(200, {'status': 'ok'})
        elif self.path == '/hang':
            time.sleep(30)
        elif self.path.startswith('/echo'):
            # what a debug endpoint or a misconfigured proxy does: the request back, as text or JSON
            if self.path == '/echo/json':
                self._send(200, {'headers': dict(self.headers)})
            elif self.path == '/echo/php':  # PHP's json_encode(): "\/" for "/"
                self._send(200, json.dumps({'headers': dict(self.headers)}).replace('/', '\\/').encode())
            elif self.path == '/echo/html':  # a phpinfo()-like page: each value HTML-escaped
                self._send(200, ''.join('<dt>%s<dd>%s' % (name, html.escape(value))
                                        for name, value in self.headers.items()).encode(), 'text/html')
            elif self.path == '/echo/raw':  # the header bytes back as they came (Latin-1)
                self._send(200, ''.join('%s: %s\r\n' % item for item in self.headers.items()).encode('latin-1'), 'text/plain')
            elif self.path == '/echo/url':  # a redirect target or log line: each value percent-encoded
                self._send(200, '&'.join('%s=%s' % (name, urllib.parse.quote(value, safe=''))
                                         for name, value in self.headers.items()).encode(), 'text/plain')
            else:
                cut = int(self.path.split('=')[1]) if '=' in self.path else None
                text = ''.join('%s: %s\r\n' % item for item in self.headers.items()).encode()
                self._send(200, text[:cut] if cut is not None else text, 'text/plain')
        else:
            self._send(404, {'error': 'not found'})

    do_POST = do_GET


class HttpServer(object):
    """ThreadingHTTPServer on 127.0.0.1, optionally TLS with ``cert``/``key`` files."""

    def __init__(self, cert=None, key=None, max_version=None):
        class Handler(_Handler):
            seen = []
        self.handler = Handler
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            if max_version is not None:
                ctx.maximum_version = max_version
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()

    @property
    def seen(self):
        return self.handler.seen

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Pki(object):
    """A CA and leaf certificates written to a temporary directory."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'portproof test CA')])
        self.ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                        .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
                        .sign(self.ca_key, hashes.SHA256()))
        self.ca_path = os.path.join(directory, 'ca.pem')
        with open(self.ca_path, 'wb') as handle:
            handle.write(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, label, valid_for, names=('localhost',), ips=('127.0.0.1',), not_before_days=1):
        """(cert path, key path, not_after) of a leaf signed by the CA, valid ``valid_for`` (a timedelta) from now."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        not_after = now + valid_for
        sans = [x509.DNSName(name) for name in names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else label)]))
                .issuer_name(self.ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=not_before_days)).not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        cert_path = os.path.join(self.dir, label + '.pem')
        key_path = os.path.join(self.dir, label + '.key')
        with open(cert_path, 'wb') as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, 'wb') as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert_path, key_path, not_after


SSHD = '/usr/sbin/sshd'


class Sshd(object):
    """The machine's sshd on 127.0.0.1 with a fresh ed25519 host key and password authentication on."""

    def __init__(self, password=True, address='127.0.0.1', netns=None):
        self.dir = tempfile.mkdtemp(prefix='ppprb-sshd-')
        self.key = os.path.join(self.dir, 'host_ed25519')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', self.key], check=True)
        out = subprocess.run(['ssh-keygen', '-l', '-f', self.key + '.pub'], check=True, capture_output=True, text=True).stdout
        self.fingerprint = out.split()[1]
        self.port = free_port() if netns is None else 2222
        config = os.path.join(self.dir, 'sshd_config')
        with open(config, 'w') as handle:
            handle.write('\n'.join([
                'Port %d' % self.port, 'ListenAddress %s' % address, 'HostKey %s' % self.key, 'PidFile none',
                'UsePAM no', 'StrictModes no', 'PubkeyAuthentication yes',
                'PasswordAuthentication %s' % ('yes' if password else 'no'),
                'KbdInteractiveAuthentication no', 'AuthorizedKeysFile none', 'LogLevel ERROR', '']))
        # sshd refuses to start without its privilege separation directory, which only the init
        # system creates (a machine without one, such as a fresh container, has none).
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        argv = [SSHD, '-D', '-e', '-f', config]
        if netns is not None:
            argv = ['ip', 'netns', 'exec', netns] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.address = address
        self._wait_ready(netns)

    def _wait_ready(self, netns):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError('sshd exited: %s' % self.proc.stderr.read().decode())
            if netns is not None:
                out = subprocess.run(['ip', 'netns', 'exec', netns, 'ss', '-Htln', 'sport = :%d' % self.port],
                                     capture_output=True, text=True, check=False).stdout
                if out.strip():
                    return
            else:
                try:
                    socket.create_connection((self.address, self.port), timeout=0.2).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError('sshd did not start listening')

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def sshd_usable():
    return os.geteuid() == 0 and os.access(SSHD, os.X_OK) and shutil.which('ssh-keygen') is not None
