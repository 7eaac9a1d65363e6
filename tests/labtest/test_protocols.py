# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Protocol identification (port_probe's ``protocol`` option) against real servers from Debian
packages, each running in a lab host as its users configure it: every protocol is probed against
every server (a full cross matrix) in one bounded run of the module's layer, with the system
Python (stdlib only), from inside the host's namespace."""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = pytest.mark.lab

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = '/usr/bin/python3'
TIMEOUT = 2.0

NGINX = """user www-data;
pid {dir}/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server { listen {address}:80; return 200 "ok\\n"; }
    server { listen {address}:443 ssl; ssl_certificate {cert}; ssl_certificate_key {key}; return 200 "ok\\n"; }
}
"""
DOVECOT = """protocols = imap pop3
listen = {address}
ssl = no
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
passdb {
  driver = static
  args = nopassword=n
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
"""
POSTFIX = """compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
inet_interfaces = {address}
inet_protocols = ipv4
myhostname = srv.lab.test
maillog_file = /dev/stdout
"""
# The same servers with a greeting that names neither SMTP nor FTP (as sites that hide their
# software set it): identified by the answer to NOOP (250 SMTP, 200 FTP).
with open('/usr/share/postfix/master.cf.dist') as _handle:
    MASTER_2525 = _handle.read().replace('\nsmtp      inet  n', '\n2525      inet  n', 1)
DAEMONS = [
    {"kind": "nginx", "config": NGINX, "listen": ["tcp:{address}:80", "tcp:{address}:443"]},
    {"kind": "dnsmasq", "config": "user=dnsmasq\nlisten-address={address}\nbind-interfaces\nno-resolv\nno-hosts\n",
     "listen": ["udp:{address}:53", "tcp:{address}:53"]},
    {"kind": "postgresql", "config": "listen_addresses = '{address}'\nunix_socket_directories = '{dir}'\n"
                                     "hba_file = '{dir}/pg_hba.conf'\nident_file = '{dir}/pg_ident.conf'\n",
     "files": {"pg_hba.conf": "local all postgres peer\n", "pg_ident.conf": ""}, "listen": ["tcp:{address}:5432"]},
    {"kind": "redis", "config": 'bind {address}\nport 6379\ndaemonize no\ndir {dir}\nsave ""\nlogfile ""\n',
     "listen": ["tcp:{address}:6379"]},
    {"kind": "mariadb", "config": "[mariadbd]\nbind-address = {address}\nport = 3306\ndatadir = {dir}/data\n"
                                  "socket = {dir}/mysqld.sock\npid-file = {dir}/mysqld.pid\nskip-log-bin\n",
     "listen": ["tcp:{address}:3306"]},
    {"kind": "memcached", "config": "-l {address} -p 11211 -U 0\n", "listen": ["tcp:{address}:11211"]},
    {"kind": "rabbitmq", "config": "listeners.tcp.default = {address}:5672\n", "listen": ["tcp:{address}:5672"]},
    {"kind": "postfix", "config": POSTFIX, "listen": ["tcp:{address}:25"]},
    {"kind": "dovecot", "config": DOVECOT, "listen": ["tcp:{address}:143", "tcp:{address}:110"]},
    {"kind": "vsftpd", "config": "listen=YES\nlisten_ipv6=NO\nlisten_address={address}\nbackground=NO\n"
                                 "anonymous_enable=YES\nanon_root=/var/run/vsftpd/empty\nwrite_enable=NO\nlocal_enable=NO\n"
                                 "secure_chroot_dir=/var/run/vsftpd/empty\nmax_per_ip=0\n", "listen": ["tcp:{address}:21"]},
    {"kind": "postfix", "name": "postfix-plain", "config": POSTFIX + "smtpd_banner = $myhostname ready\n",
     "files": {"master.cf": MASTER_2525}, "listen": ["tcp:{address}:2525"]},
    {"kind": "vsftpd", "name": "vsftpd-plain",
     "config": "listen=YES\nlisten_ipv6=NO\nlisten_address={address}\nlisten_port=2121\nbackground=NO\nanonymous_enable=YES\n"
               "anon_root=/var/run/vsftpd/empty\nwrite_enable=NO\nlocal_enable=NO\nsecure_chroot_dir=/var/run/vsftpd/empty\n"
               "max_per_ip=0\nftpd_banner=Welcome\n", "listen": ["tcp:{address}:2121"]},
    # ntpsec answers about 20 of a burst from one address under the default restriction: the
    # probing address (its own) gets a line of its own
    {"kind": "ntpsec", "config": "driftfile {dir}/drift\ninterface ignore all\ninterface listen {address}\n"
                                 "restrict default\nrestrict {address}\ndiscard minimum 0 average 0\n",
     "listen": ["udp:{address}:123"]},
    {"kind": "slapd", "config": "include /etc/ldap/schema/core.schema\npidfile {dir}/slapd.pid\nmodulepath /usr/lib/ldap\n"
                                "moduleload back_mdb\ndatabase mdb\nsuffix \"dc=lab,dc=test\"\ndirectory {dir}/db\n",
     "listen": ["tcp:{address}:389"]},
]
# (port, proto): the protocol that answers there; the lab host's own sshd answers on 22.
SERVERS = {
    (80, 'tcp'): 'http', (443, 'tcp'): 'tls', (22, 'tcp'): 'ssh', (5432, 'tcp'): 'postgres', (3306, 'tcp'): 'mysql',
    (6379, 'tcp'): 'redis', (11211, 'tcp'): 'memcached', (5672, 'tcp'): 'amqp', (25, 'tcp'): 'smtp',
    (143, 'tcp'): 'imap', (110, 'tcp'): 'pop3', (21, 'tcp'): 'ftp', (53, 'udp'): 'dns', (53, 'tcp'): 'dns',
    (123, 'udp'): 'ntp', (389, 'tcp'): 'ldap', (2525, 'tcp'): 'smtp', (2121, 'tcp'): 'ftp',
}
# nginx answers bytes that are neither TLS nor an HTTP request with a plain-text HTTP 400 on its
# TLS port too, so probes of other protocols there name http (docs/live-checks.md).
ALSO_NAMED = {(443, 'tcp'): 'http'}
TCP = ['http', 'tls', 'ssh', 'postgres', 'mysql', 'redis', 'memcached', 'mongodb', 'amqp', 'smtp', 'imap', 'pop3',
       'ftp', 'dns', 'ldap', 'kafka']
UDP = ['dns', 'ntp']


@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason='needs the system python3')
def test_every_protocol_against_every_server(make_lab):
    lab = make_lab({"hosts": [{"name": "srv", "ipv6": False, "daemons": DAEMONS}]})
    address = lab.address("srv")
    targets = [{'host': address, 'port': port, 'proto': proto, 'protocol': name, 'timeout': TIMEOUT}
               for (port, proto) in sorted(SERVERS) for name in (UDP if proto == 'udp' else TCP)]
    began = time.monotonic()
    proc = lab.ns("srv", [SYSTEM_PYTHON, os.path.join(HERE, 'probe_runner.py')], input_text=json.dumps({'targets': targets}),
                  timeout=120)
    wall = time.monotonic() - began
    probes = json.loads(proc.stdout)['probes']
    assert len(probes) == len(targets) == 16 * 16 + 2 * 2
    matrix = {}
    for probe, target in zip(probes, targets):
        check = probe['response'][0]
        assert check['name'] == 'protocol'
        matrix[(target['port'], target['proto'], target['protocol'])] = (check['status'], check['actual'], check['message'])
    wrong = []
    for (port, proto, asked), (status, answered, message) in sorted(matrix.items()):
        speaks = SERVERS[(port, proto)]
        if asked == speaks:
            if (status, answered, message) != ('pass', speaks, '%d/%s answers as %s' % (port, proto, speaks)):
                wrong.append('%s server, %s probe: %s' % (speaks, asked, message))
        elif status == 'pass' or answered not in (None, speaks, ALSO_NAMED.get((port, proto))):
            wrong.append('%s server, %s probe passed or named another: %s' % (speaks, asked, message))
    assert not wrong, '\n'.join(wrong)
    # What answered is named when the server spoke (a greeting, or an answer to any request).
    assert matrix[(25, 'tcp', 'postgres')][2] == '25/tcp answers as smtp, not postgres'
    assert matrix[(6379, 'tcp', 'memcached')][2] == '6379/tcp answers as redis, not memcached'
    assert matrix[(443, 'tcp', 'http')][2] == '443/tcp answers as tls, not http'
    assert matrix[(443, 'tcp', 'redis')][2] == '443/tcp answers as http, not redis'
    # A greeting naming neither SMTP nor FTP: NOOP tells them apart; other probes show the greeting.
    assert probes[targets.index({'host': address, 'port': 2525, 'proto': 'tcp', 'protocol': 'smtp', 'timeout': TIMEOUT})][
        'protocol']['excerpt'].startswith('220 srv.lab.test ready\r\n250 ')
    assert matrix[(2121, 'tcp', 'smtp')][2] == '2121/tcp answers as ftp, not smtp'
    assert matrix[(2525, 'tcp', 'ftp')][2] == '2525/tcp answers as smtp, not ftp'
    assert matrix[(2121, 'tcp', 'redis')][2].startswith("2121/tcp: nothing recognisable answered (expected redis): '220 Welcome")
    # One selector loop: the whole matrix takes about the largest timeout, not the sum.
    assert wall < TIMEOUT + 3.0, wall
