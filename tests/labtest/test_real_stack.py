# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end on real Debian daemons, as a new user runs the collection (README and docs/quickstart.md).

A small three-tier stack of packaged daemons nobody on this project wrote, configured as their
users configure them (tests/lab/lab_daemons.py): web1 runs nginx with TLS (master as root, workers
as www-data), haproxy in front of the app and a Podman container with a published port, behind
nftables (input and forward); app1 runs the app and dnsmasq (DNS for the stack's names, UDP and
TCP), behind iptables; db1 runs a PostgreSQL 15 cluster and Redis 7 with a password, behind
iptables. The contract is written in ``host_vars/`` and
``group_vars/`` next to the inventory, as the quickstart does; the run is ``baseline`` then
``post_deploy``, reading ``portproof-report/results.json``.

1. The unchanged stack: ``baseline`` then ``post_deploy`` exit 0 with no ``fail`` or ``error``
   result, and every declared service is seen listening and reached from each allowed source.
2. Realistic mistakes, planted together on different services (each one the way an operator makes
   it): Redis restarted bound to 0.0.0.0, nginx reloaded with a new worker user and a staging site
   on a port nobody declared, a firewall rule dropping app1's connections to PostgreSQL, dnsmasq
   restarted without ``bind-interfaces`` (so it binds the wildcard). The run exits 2 and its
   failures are exactly the ones these mistakes explain, each with its host, service, check and
   source.

Runs as its own step of scripts/test (``PORTPROOF_TEST_ONLY=realstack``): about 30 s on an idle machine, 1-3 minutes on two
busy cores.

web1 is dual-stack, app1 and db1 IPv4-only (no IPv6 at all), as many small sites run: each kind of
host meets the IPv6 address of ``public`` as a source.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.realstack]

NGINX = """user www-data;
worker_processes 2;
pid {dir}/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {
        listen 443 ssl;
        server_name web1;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /healthz { default_type text/plain; return 200 "ok\\n"; }
        location / { proxy_pass http://{address}:8080; }
    }
}
"""
HAPROXY = """global
    user haproxy
    group haproxy
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend api
    bind {address}:8080
    default_backend app
backend app
    server app1 {address:app1}:8000
"""
DNSMASQ = """user=dnsmasq
listen-address={address}
bind-interfaces
no-resolv
no-hosts
host-record=web1,{address:web1}
host-record=app1,{address:app1}
host-record=db1,{address:db1}
"""
POSTGRESQL = """listen_addresses = '{address}'
port = 5432
unix_socket_directories = '{dir}'
hba_file = '{dir}/pg_hba.conf'
ident_file = '{dir}/pg_ident.conf'
max_connections = 20
shared_buffers = 16MB
"""
PG_HBA = "local all postgres peer\nhost all all {address:app1}/32 scram-sha-256\n"
REDIS = """bind {address}
port 6379
protected-mode yes
requirepass lab-only-redis-password
daemonize no
dir {dir}
save ""
appendonly no
logfile ""
"""

# The tiers' firewalls: only the machine running Ansible gets SSH, each service only its clients.
WEB1_NFT = """table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iif "lo" accept
        meta l4proto { icmp, ipv6-icmp } accept
        ip saddr {lab_address} tcp dport 22 accept
        tcp dport 443 accept
        ip saddr {address:app1} tcp dport 8080 accept
    }
    chain forward {
        type filter hook forward priority -10; policy accept;
        ct state established,related accept
        ip daddr 10.88.0.0/16 tcp dport 80 ip saddr {address:app1} accept
        ip daddr 10.88.0.0/16 tcp dport 80 drop
    }
}
"""
V4_HEAD = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -s {lab_address}/32 -p tcp -m tcp --dport 22 -j ACCEPT
"""
APP1_IPTABLES = V4_HEAD + """-A INPUT -s {address:web1}/32 -p tcp -m tcp --dport 8000 -j ACCEPT
-A INPUT -s {address:web1}/32 -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -s {address:db1}/32 -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -s {address:web1}/32 -p tcp -m tcp --dport 53 -j ACCEPT
-A INPUT -s {address:db1}/32 -p tcp -m tcp --dport 53 -j ACCEPT
COMMIT
"""
DB1_IPTABLES = V4_HEAD + """-A INPUT -s {address:app1}/32 -p tcp -m tcp --dport 5432 -j ACCEPT
-A INPUT -s {address:app1}/32 -p tcp -m tcp --dport 6379 -j ACCEPT
COMMIT
"""

SPEC = {"hosts": [
    {"name": "web1", "groups": ["web"], "nft": WEB1_NFT, "containers": [{"name": "static", "publish": ["8081:80/tcp"]}],
     "daemons": [{"kind": "nginx", "config": NGINX, "listen": ["tcp:0.0.0.0:443"]},
                 {"kind": "haproxy", "config": HAPROXY, "listen": ["tcp:{address}:8080"]}]},
    {"name": "app1", "groups": ["app"], "ipv6": False, "iptables": APP1_IPTABLES,
     "services": [{"name": "gunicorn", "listen": ["tcp:{address:app1}:8000"], "behavior": "http", "status": 200,
                   "body": '{"status": "ok"}', "content_type": "application/json"}],
     "daemons": [{"kind": "dnsmasq", "config": DNSMASQ, "listen": ["udp:{address}:53", "tcp:{address}:53"]}]},
    {"name": "db1", "groups": ["db"], "ipv6": False, "iptables": DB1_IPTABLES,
     "daemons": [{"kind": "postgresql", "config": POSTGRESQL, "files": {"pg_hba.conf": PG_HBA, "pg_ident.conf": ""},
                  "listen": ["tcp:{address}:5432"]},
                 {"kind": "redis", "config": REDIS, "listen": ["tcp:{address}:6379"]}]},
]}

# A DNS query for db1's A record (id 0x1234, recursion desired), as UTF-8 text: every byte is below 0x80.
DNS_QUERY = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03db1\x00\x00\x01\x00\x01"


def contract(cert):
    """host_vars and group_vars as the quickstart writes them: {relative path: data}."""
    return {
        # Strict: a listener that no service declares is a failure too (SSH is the lab's way in).
        "group_vars/all.yml": {"portproof_probe_timeout": 2, "portproof_strict": True, "portproof_ignore": ["22/tcp"]},
        "host_vars/web1.yml": {"portproof_services": [
            {"name": "https", "port": 443, "process": "nginx", "user": "root", "allow_from": ["controller", "app"],
             "check": {"http": {"path": "/healthz", "status": 200, "body": "^ok"},
                       "tls": {"ca": cert, "min_days": 14, "min_version": "TLSv1.2"}}},
            {"name": "haproxy", "port": 8080, "bind": "internal", "process": "haproxy", "user": "haproxy",
             "allow_from": ["app"], "deny_from": ["db", "public"]},
            {"name": "static", "port": 8081, "publish": {"container": "static", "container_port": 80},
             "allow_from": ["app"], "deny_from": ["db", "public"], "check": {"http": {"path": "/", "status": 200}}},
        ]},
        "host_vars/app1.yml": {"portproof_services": [
            {"name": "app", "port": 8000, "bind": "internal", "process": "gunicorn", "allow_from": ["web"],
             "deny_from": ["db", "public"], "check": {"http": {"path": "/", "status": 200}}},
            {"name": "dns", "port": 53, "proto": "udp", "bind": "internal", "process": "dnsmasq", "user": "dnsmasq",
             "allow_from": ["web", "db"], "deny_from": ["public"], "check": {"send": DNS_QUERY, "expect": "db1"}},
            {"name": "dns-tcp", "port": 53, "bind": "internal", "process": "dnsmasq", "user": "dnsmasq",
             "allow_from": ["web", "db"], "deny_from": ["public"]},
        ]},
        "host_vars/db1.yml": {"portproof_services": [
            {"name": "postgres", "port": 5432, "bind": "internal", "process": "postgres", "user": "postgres",
             "allow_from": ["app"], "deny_from": ["web", "public"]},
            {"name": "redis", "port": 6379, "bind": "internal", "process": "redis-server", "user": "redis",
             "allow_from": ["app"], "deny_from": ["web", "public"], "check": {"send": "PING\r\n", "expect": "^-NOAUTH"}},
        ]},
    }


def playbook(lab, name, cwd):
    return subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "portproof.validate." + name, "-i", lab.inventory],
                          cwd=str(cwd), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=900)


def results(cwd):
    with open(os.path.join(str(cwd), "portproof-report", "results.json")) as handle:
        return json.load(handle)["results"]


def key(item):
    return (item["host"], item["service"] or "", item["check"], item["status"], item["source"] or "")


def bad(items):
    return sorted(key(item) for item in items if item["status"] in ("fail", "error"))


def explain(proc, items):
    lines = ["%s %s %s %s from %s: %s" % (i["status"], i["host"], i["service"], i["check"], i["source"], i["message"])
             for i in items if i["status"] in ("fail", "error")]
    return "rc=%d\n%s\n--- stdout tail\n%s\n--- stderr tail\n%s" % (
        proc.returncode, "\n".join(lines), proc.stdout[-4000:], proc.stderr[-2000:])


def test_real_daemons_no_false_alarm_then_every_planted_mistake_caught(make_lab, tmp_path):
    lab = make_lab(SPEC)
    cert = os.path.join(lab.host("web1")["daemons"]["nginx"]["dir"], "cert.pem")
    for path, data in contract(cert).items():
        os.makedirs(os.path.dirname(os.path.join(lab.workdir, path)), exist_ok=True)
        with open(os.path.join(lab.workdir, path), "w") as handle:
            yaml.safe_dump(data, handle, default_flow_style=False)

    # 1. The unchanged stack: a baseline, then a run on the same stack.
    proc = playbook(lab, "baseline", tmp_path)
    assert proc.returncode == 0, explain(proc, results(tmp_path) if os.path.exists(tmp_path / "portproof-report") else [])
    proc = playbook(lab, "post_deploy", tmp_path)
    clean = results(tmp_path)
    assert (proc.returncode, bad(clean)) == (0, []), explain(proc, clean)
    passed = set((i["host"], i["service"], i["check"], i["source"] or "") for i in clean if i["status"] == "pass")
    declared = {"web1": ["https", "haproxy", "static"], "app1": ["app", "dns", "dns-tcp"], "db1": ["postgres", "redis"]}
    for host, services in declared.items():
        for service in services:
            assert (host, service, "listen", "") in passed, (host, service)
            assert (host, service, "drift", "") in passed, (host, service)
    reached = {("web1", "https", "controller"), ("web1", "https", "app1"), ("web1", "haproxy", "app1"),
               ("web1", "static", "app1"), ("app1", "app", "web1"), ("app1", "dns", "web1"), ("app1", "dns", "db1"), ("app1", "dns-tcp", "web1"),
               ("app1", "dns-tcp", "db1"), ("db1", "postgres", "app1"), ("db1", "redis", "app1")}
    assert set((h, s, src) for h, s, check, src in passed if check == "reach") == reached
    isolated = {("web1", "haproxy", "db1"), ("web1", "static", "db1"), ("app1", "app", "db1"), ("db1", "postgres", "web1"),
                ("db1", "redis", "web1")}
    assert set((h, s, src) for h, s, check, src in passed if check == "isolation") == isolated
    for host, service, source in [("web1", "https", "controller"), ("web1", "https", "app1"),
                                  ("app1", "dns", "web1"), ("db1", "redis", "app1")]:
        assert (host, service, "response", source) in passed, (host, service, source)
    assert ("web1", "https", "tls", "controller") in passed
    assert ("web1", "static", "mapping", "") in passed

    # 2. Realistic mistakes, each on its own service.
    lab.reconfigure_daemon("db1", "redis", config=REDIS.replace("bind {address}", "bind 0.0.0.0"),
                           listen=["tcp:0.0.0.0:6379"])
    # A new nginx configuration: its workers run as another user, and a staging site came along on 8443.
    staging = "    server { listen 8443 ssl; ssl_certificate {cert}; ssl_certificate_key {key}; return 200; }\n}\n"
    lab.reconfigure_daemon("web1", "nginx", config=NGINX.replace("user www-data;", "user nobody nogroup;")[:-2] + staging,
                           listen=["tcp:0.0.0.0:443", "tcp:0.0.0.0:8443"])
    lab.ns("db1", ["iptables", "-I", "INPUT", "1", "-s", lab.address("app1"), "-p", "tcp", "--dport", "5432",
                   "-j", "DROP"])
    lab.reconfigure_daemon("app1", "dnsmasq", config=DNSMASQ.replace("bind-interfaces\n", ""),
                           listen=["udp:0.0.0.0:53", "tcp:0.0.0.0:53"])
    proc = playbook(lab, "post_deploy", tmp_path)
    planted = results(tmp_path)
    assert proc.returncode == 2, explain(proc, planted)
    assert bad(planted) == sorted([
        # Redis on every address: outside `bind: internal`, and moved since the baseline.
        ("db1", "redis", "bind", "fail", ""),
        ("db1", "redis", "drift", "fail", ""),
        # nginx's workers now run as nobody: its listening socket's holders changed since the baseline.
        ("web1", "https", "drift", "fail", ""),
        # The staging site's port: a listener no service declares (strict), new since the baseline (host-level drift).
        ("web1", "", "undeclared", "fail", ""),
        ("web1", "", "drift", "fail", ""),
        # app1 -> PostgreSQL dropped: the static verdict, the live probe and the verdict's drift.
        ("db1", "postgres", "firewall_allow", "fail", "app1"),
        ("db1", "postgres", "reach", "fail", "app1"),
        ("db1", "postgres", "drift", "fail", "app1"),
        # dnsmasq without bind-interfaces binds the wildcard, for UDP and TCP.
        ("app1", "dns", "bind", "fail", ""),
        ("app1", "dns", "drift", "fail", ""),
        ("app1", "dns-tcp", "bind", "fail", ""),
        ("app1", "dns-tcp", "drift", "fail", ""),
    ]), explain(proc, planted)
    by_key = dict((key(item), item) for item in planted)
    assert "0.0.0.0:6379" in by_key[("db1", "redis", "bind", "fail", "")]["message"]
    assert "nobody" in by_key[("web1", "https", "drift", "fail", "")]["message"]
    assert "drop" in by_key[("db1", "postgres", "firewall_allow", "fail", "app1")]["message"]
    # strict mode names what answers on the undeclared staging port: nginx's TLS server
    staging = by_key[("web1", "", "undeclared", "fail", "")]
    assert staging["message"].endswith("listens on 8443/tcp and no service declares it; 8443/tcp answers as tls (declare it, "
                                       "or list it in portproof_ignore)"), staging
    assert staging["actual"].endswith("; answers as tls"), staging
