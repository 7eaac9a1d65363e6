# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The target host's services for the port_probe lab, in one process (started by probe_lab.py
# inside the target namespace). argv[1] is JSON:
#   {"address": "10.250.0.2", "open": [ports], "hang": [ports], "http": port,
#    "https": {"port": p, "cert": path, "key": path}, "udp_echo": [ports], "udp_silent": [ports]}
# Prints "ready" once everything listens, then serves until terminated.

from __future__ import annotations

import http.server
import json
import selectors
import socket
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == '/health':
            body = json.dumps({'status': 'ok', 'db': 'up'}).encode()
            status = 200
        elif self.path.startswith('/slow'):
            time.sleep(0.02)
            body, status = b'{"status": "ok"}', 200
        else:
            body, status = b'{"error": "not found"}', 404
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def http_server(address, port, tls=None):
    httpd = http.server.ThreadingHTTPServer((address, port), Handler)
    httpd.daemon_threads = True
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls['cert'], tls['key'])
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()


def main():
    config = json.loads(sys.argv[1])
    address = config['address']
    sel = selectors.DefaultSelector()
    held = []
    for kind in ('open', 'hang'):
        for port in config.get(kind, []):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(1024)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, kind)
    for kind in ('udp_echo', 'udp_silent'):
        for port in config.get(kind, []):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, port))
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, kind)
    if config.get('http'):
        http_server(address, config['http'])
    if config.get('https'):
        http_server(address, config['https']['port'], config['https'])
    print('ready', flush=True)
    while True:
        for key, _mask in sel.select():
            sock = key.fileobj
            try:
                if key.data == 'open':
                    sock.accept()[0].close()
                elif key.data == 'hang':
                    held.append(sock.accept()[0])
                elif key.data == 'udp_echo':
                    data, peer = sock.recvfrom(65535)
                    sock.sendto(b'ECHO ' + data, peer)
                else:
                    sock.recvfrom(65535)
            except BlockingIOError:
                pass


if __name__ == '__main__':
    main()
