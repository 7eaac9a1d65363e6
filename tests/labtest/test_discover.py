# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""discover on real lab hosts: the contract it writes, checked at once by post_deploy in strict mode, passes (no fail,
no error, no undeclared listener, and the checks it proposed from what answered pass); a fault planted afterwards fails
exactly where it should.

Three stacks built differently: lab_service processes with iptables and nft rules and Podman containers (one
published on a random host port); a ufw host and a firewalld host; real Debian daemons (nginx, PostgreSQL, Redis)
behind iptables rules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

# Its own step of scripts/test (PORTPROOF_TEST_ONLY=extended), outside the default set: the CI budget.
pytestmark = [pytest.mark.lab, pytest.mark.extended]


def _run(lab, argv, cwd):
    return subprocess.run([os.path.join(VENV_BIN, argv[0])] + argv[1:], cwd=str(cwd), env=ansible_env(lab),
                          capture_output=True, text=True, check=False)


def _discover(lab, run, *extra):
    started = time.monotonic()
    done = _run(lab, ["ansible-playbook", "-i", lab.inventory, "portproof.validate.discover"] + list(extra), run)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return time.monotonic() - started


def _post_deploy(lab, run):
    done = _run(lab, ["ansible-playbook", "-i", lab.inventory, "-i", "portproof-discovered", "portproof.validate.post_deploy"], run)
    results = json.loads((run / "portproof-report" / "results.json").read_text())["results"]
    return done, results


def _bad(results):
    return sorted((r["host"], r["service"] or "", r["check"], r["source"] or "", r["status"], r["message"]) for r in results
                  if r["status"] in ("fail", "error"))


def _load(run, relative):
    return yaml.safe_load((run / "portproof-discovered" / relative).read_text())


def _round_trip(lab, run, spec):
    """discover, then post_deploy with the discovered contract: zero fail and zero error, and undeclared passes."""
    took = _discover(lab, run)
    keep = os.environ.get("PORTPROOF_DISCOVER_KEEP")
    if keep:  # a copy of what discover wrote, for the docs
        shutil.copytree(str(run / "portproof-discovered"), os.path.join(keep, os.path.basename(str(run.parent))), dirs_exist_ok=True)
    done, results = _post_deploy(lab, run)
    assert _bad(results) == [], ((run / "portproof-discovered" / "README.md").read_text(), done.stdout[-3000:])
    assert done.returncode == 0, done.stdout[-3000:]
    undeclared = sorted((r["host"], r["status"]) for r in results if r["check"] == "undeclared")
    assert undeclared == [(host, "pass") for host in sorted(h["name"] for h in spec["hosts"])], undeclared
    inventory = _run(lab, ["ansible-inventory", "-i", lab.inventory, "-i", "portproof-discovered", "--list"], run)
    assert inventory.returncode == 0 and "Unable to parse" not in inventory.stderr, inventory.stderr
    return took, results, json.loads(inventory.stdout)["_meta"]["hostvars"]


GUNICORN = [{"name": "gunicorn", "listen": ["tcp:0.0.0.0:8000"], "behavior": "http", "status": 200}]
SERVICES_STACK = {"hosts": [
    {"name": "app1", "groups": ["app"], "services": GUNICORN},
    {"name": "app2", "groups": ["app"], "services": GUNICORN},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"],
     "services": [{"name": "postgres", "user": "nobody", "listen": ["tcp:{address:db1}:5432"]},
                  {"name": "statsd", "listen": ["udp:0.0.0.0:8125"]},
                  {"name": "memcached", "listen": ["tcp:127.0.0.1:11211"]}],
     "iptables": ("*filter\n:INPUT ACCEPT [0:0]\n"
                  "-A INPUT -s {address:app1}/32 -p tcp -m tcp --dport 5432 -j ACCEPT\n"
                  "-A INPUT -s {address:app2}/32 -p tcp -m tcp --dport 5432 -j ACCEPT\n"
                  "-A INPUT -s {lab_address}/32 -p tcp -m tcp --dport 5432 -j ACCEPT\n"
                  "-A INPUT -p tcp -m tcp --dport 5432 -j REJECT --reject-with tcp-reset\nCOMMIT\n"),
     "ip6tables": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 5432 -j DROP\nCOMMIT\n"},
    {"name": "ctr1", "groups": ["web"],
     "services": [{"name": "node_exporter", "listen": ["tcp:0.0.0.0:9100"]}],
     "containers": [{"name": "shop", "publish": ["8082:81/tcp"], "command": ["/bin/httpd", "-f", "-p", "81", "-h", "/www"]},
                    {"name": "blog", "publish": ["80/tcp"]}],
     "nft": ("table inet guard {\n  chain input {\n    type filter hook input priority 10; policy accept;\n"
             "    ip saddr {address:web1} tcp dport 9100 drop\n  }\n}\n")},
]}


def test_lab_services_iptables_nft_and_podman(make_lab, tmp_path):
    lab = make_lab(SERVICES_STACK)
    run = tmp_path / "run"
    run.mkdir()
    took, _results, hostvars = _round_trip(lab, run, SERVICES_STACK)
    db1 = _load(run, "host_vars/db1.yml")
    assert db1["portproof_strict"] is True and db1["portproof_ignore"] == ["22/tcp"]
    services = {s["name"]: s for s in db1["portproof_services__discovered"]}
    assert sorted(services) == ["postgres", "statsd"]  # memcached on loopback only is left out
    assert services["postgres"] == {"name": "postgres", "port": 5432, "proto": "tcp", "bind": "internal", "process": "postgres",
                                    "user": "nobody", "allow_from": ["app", "controller"], "deny_from": ["web", "public"]}
    ctr1 = {s["name"]: s for s in _load(run, "host_vars/ctr1.yml")["portproof_services__discovered"]}
    assert ctr1["blog"]["port"] == "auto" and ctr1["blog"]["publish"]["container_port"] == 80
    assert ctr1["shop"]["port"] == 8082 and ctr1["shop"]["publish"]["container_port"] == 81
    # the nft rule drops web1 (ctr1's only fellow member of web) on 9100
    assert (ctr1["node_exporter"]["allow_from"], ctr1["node_exporter"]["deny_from"]) == (["app", "db", "controller"], ["web"])
    assert "portproof_services__discovered" in hostvars["db1"]
    # app1 and app2 serve the same API alike: it goes to the group, and each host gets it from there
    app = _load(run, "group_vars/app.yml")["portproof_services__discovered_app"]
    assert [(s["name"], s["port"], s["allow_from"]) for s in app] == [("gunicorn", 8000, ["app", "db", "web", "controller"])]
    # what answered each host's own probe: the HTTP API and the containers' httpd their status (then run by post_deploy
    # from every allowed source); db1's firewall rejects db1's own connection to 5432 (it accepts app1, app2 and the
    # controller only), so postgres is asked from app1, where it answers nothing recognisable: no check, and the
    # comment says so; node_exporter says nothing
    assert app[0]["check"] == {"http": {"path": "/", "status": 200}}
    assert (ctr1["blog"]["check"], ctr1["shop"]["check"]) == ({"http": {"path": "/", "status": 200}},) * 2
    assert "check" not in ctr1["node_exporter"] and "check" not in services["postgres"]
    assert ("  # asked from app1, as the host's own probe was kept out (could not be identified: Connection refused (ECONNREFUSED)): "
            "answers nothing within 5 s: no check proposed\n  - name: postgres\n") in (
        run / "portproof-discovered" / "host_vars" / "db1.yml").read_text()
    assert "portproof_services__discovered" not in _load(run, "host_vars/app1.yml")
    assert hostvars["app2"]["portproof_services__discovered_app"] == app

    # A fault: app2 is cut off from PostgreSQL. The discovered contract catches it, statically and live.
    lab.ns("db1", ["iptables", "-I", "INPUT", "-s", lab.host("app2")["address"], "-p", "tcp", "--dport", "5432", "-j", "DROP"])
    done, results = _post_deploy(lab, run)
    assert [bad[:5] for bad in _bad(results)] == [("db1", "postgres", "firewall_allow", "app2", "fail"),
                                                  ("db1", "postgres", "reach", "app2", "fail")], _bad(results)
    assert done.returncode == 2, done.stdout[-2000:]
    print("discover took %.1f s" % took)


RICH = """--zone=public --add-rich-rule='rule family="ipv4" source address="{address:app1}" port port="9000" protocol="tcp" accept'"""
FIREWALL_STACK = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "uf1", "groups": ["api"],
     "services": [{"name": "gunicorn", "user": "nobody", "listen": ["tcp:0.0.0.0:8000"], "behavior": "http", "status": 200}],
     "ufw": ["default deny incoming", "allow from {lab_address} to any port 22 proto tcp",
             "allow from {address:app1} to any port 8000 proto tcp", "--force enable"]},
    {"name": "fd1", "groups": ["api"],
     "services": [{"name": "queue", "listen": ["tcp:0.0.0.0:9000"]}],
     "firewalld": {"files": {"zones/public.xml": '<?xml version="1.0" encoding="utf-8"?>\n<zone><interface name="eth0"/>'
                                                 '<service name="ssh"/></zone>\n'},
                   "commands": [RICH]}},
]}


def test_ufw_and_firewalld_hosts(make_lab, tmp_path):
    lab = make_lab(FIREWALL_STACK)
    run = tmp_path / "run"
    run.mkdir()
    took, _results, _hostvars = _round_trip(lab, run, FIREWALL_STACK)
    uf1 = {s["name"]: s for s in _load(run, "host_vars/uf1.yml")["portproof_services__discovered"]}
    assert (uf1["gunicorn"]["allow_from"], uf1["gunicorn"]["deny_from"]) == (["app"], ["api", "web", "public"]), uf1
    assert uf1["gunicorn"]["check"] == {"http": {"path": "/", "status": 200}}
    fd1 = {s["name"]: s for s in _load(run, "host_vars/fd1.yml")["portproof_services__discovered"]}
    assert (fd1["queue"]["allow_from"], fd1["queue"]["deny_from"]) == (["app"], ["api", "web", "public"]), fd1
    assert "ufw-user-input" in (run / "portproof-discovered" / "host_vars" / "uf1.yml").read_text()

    # A fault: the API on uf1 stops. Nothing listens where the discovered contract says.
    lab.stop_service("uf1", "gunicorn")
    done, results = _post_deploy(lab, run)
    assert [bad[:5] for bad in _bad(results)] == [("uf1", "gunicorn", "listen", "", "fail"),
                                                  ("uf1", "gunicorn", "reach", "app1", "fail")], _bad(results)
    assert done.returncode == 2
    print("discover took %.1f s" % took)


NGINX = """user www-data;
worker_processes 2;
pid {dir}/nginx.pid;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server { listen 0.0.0.0:80; return 200; }
}
"""
REDIS = 'bind {address}\nport 6379\ndaemonize no\ndir {dir}\nsave ""\nlogfile ""\n'
DAEMON_STACK = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"],
     "daemons": [{"kind": "nginx", "config": NGINX, "listen": ["tcp:0.0.0.0:80"]}]},
    {"name": "db1", "groups": ["db"],
     "daemons": [{"kind": "postgresql", "config": "listen_addresses = '{address}'\nunix_socket_directories = '{dir}'\n"
                                                  "hba_file = '{dir}/pg_hba.conf'\nident_file = '{dir}/pg_ident.conf'\n",
                  "files": {"pg_hba.conf": "local all postgres peer\n", "pg_ident.conf": ""}, "listen": ["tcp:{address}:5432"]},
                 {"kind": "redis", "config": REDIS, "listen": ["tcp:{address}:6379"]}],
     "iptables": ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n"
                  "-A INPUT -s {address:app1}/32 -p tcp -m tcp -m multiport --dports 5432,6379 -j ACCEPT\n"
                  "-A INPUT -p tcp -m tcp -m multiport --dports 5432,6379 -j DROP\nCOMMIT\n")},
]}


def test_real_debian_daemons(make_lab, tmp_path):
    lab = make_lab(DAEMON_STACK)
    run = tmp_path / "run"
    run.mkdir()
    took, _results, _hostvars = _round_trip(lab, run, DAEMON_STACK)
    db1 = {s["name"]: s for s in _load(run, "host_vars/db1.yml")["portproof_services__discovered"]}
    assert sorted(db1) == ["postgres", "redis-server"]
    assert db1["postgres"]["user"] == "postgres" and db1["redis-server"]["user"] == "redis"
    assert (db1["redis-server"]["bind"], db1["redis-server"]["allow_from"], db1["redis-server"]["deny_from"]) == (
        "internal", ["app"], ["web"])  # no ip6tables rule: public gets in over IPv6
    web1 = {s["name"]: s for s in _load(run, "host_vars/web1.yml")["portproof_services__discovered"]}
    assert (web1["nginx"]["port"], web1["nginx"]["bind"], web1["nginx"]["process"]) == (80, "public", "nginx")
    # the real daemons, identified by their own host (db1's firewall accepts what comes over lo, as most do): each check
    # then passed from app1 in the round trip above
    assert (web1["nginx"]["check"], db1["postgres"]["check"], db1["redis-server"]["check"]) == (
        {"http": {"path": "/", "status": 200}}, {"protocol": "postgres"}, {"protocol": "redis"})

    # A fault: Redis moves to every address. The bind the discovered contract proposed catches it.
    lab.reconfigure_daemon("db1", "redis", config=REDIS.replace("bind {address}", "bind 0.0.0.0"), listen=["tcp:0.0.0.0:6379"])
    done, results = _post_deploy(lab, run)
    assert [bad[:5] for bad in _bad(results)] == [("db1", "redis-server", "bind", "", "fail")], _bad(results)
    assert done.returncode == 2
    print("discover took %.1f s" % took)


SYSTEMD_UNITS = {
    "api.service": "[Service]\nExecStart={lab_service} --name api --listen tcp:0.0.0.0:8080\n[Install]\nWantedBy=multi-user.target\n",
    # Accept=yes: systemd keeps the listening socket, each connection gets its own echo@ instance
    "echo.socket": "[Socket]\nListenStream=7777\nAccept=yes\n[Install]\nWantedBy=sockets.target\n",
    "echo@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
    # Accept=no: the first connection starts tick.service, which then holds the listening socket beside systemd
    "tick.socket": "[Socket]\nListenStream=0.0.0.0:7778\n[Install]\nWantedBy=sockets.target\n",
    "tick.service": "[Service]\nExecStart={python} -c 'import socket; s = socket.socket(fileno=3); "
                    "[s.accept()[0].close() for _ in iter(int, 1)]'\n",
}
SYSTEMD_STACK = {"hosts": [{"name": "sd1", "groups": ["api"],
                            "systemd": {"units": SYSTEMD_UNITS, "enable": ["api.service", "echo.socket", "tick.socket"]}}]}


def test_socket_activated_services_on_a_systemd_host(make_lab, tmp_path):
    lab = make_lab(SYSTEMD_STACK)
    run = tmp_path / "run"
    run.mkdir()
    assert lab.ssh("sd1", "systemctl is-active tick.service; true").stdout.split() == ["inactive"]
    took, _results, _hostvars = _round_trip(lab, run, SYSTEMD_STACK)
    sd1 = {s["name"]: s for s in _load(run, "host_vars/sd1.yml")["portproof_services__discovered"]}
    assert sorted(sd1) == ["api", "echo", "tick"], sorted(sd1)
    assert [(sd1[name]["port"], sd1[name]["process"], sd1[name]["user"]) for name in ("echo", "tick")] == [
        (7777, "systemd", "root"), (7778, "systemd", "root")]
    assert "  # socket-activated by tick.socket: systemd (PID 1) holds the listening socket" in (
        run / "portproof-discovered" / "host_vars" / "sd1.yml").read_text()
    # post_deploy's probes connected: tick.service now runs and holds the listening socket too; still nothing fails
    assert lab.ssh("sd1", "systemctl is-active tick.service; true").stdout.split() == ["active"]
    done, results = _post_deploy(lab, run)
    assert _bad(results) == [] and done.returncode == 0, done.stdout[-3000:]
    assert sorted(r["status"] for r in results if r["check"] == "process" and r["service"] in ("echo", "tick")) == ["pass", "pass"]
    print("discover took %.1f s" % took)


# No DNS server: each host's resolver asks loopback in its own namespace (nothing listens), so names come from /etc/hosts.
RESOLV = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
NAMES_STACK = {"hosts": [
    {"name": "app1", "groups": ["app"], "ipv6": False,
     "sshd": {"etc": {"resolv.conf": RESOLV, "hosts": "127.0.0.1 localhost\n{address:db1} db1\n"}}},
    # a stale entry: db1 points at web1 itself
    {"name": "web1", "groups": ["web"], "ipv6": False,
     "sshd": {"etc": {"resolv.conf": RESOLV, "hosts": "127.0.0.1 localhost\n{address:web1} db1\n"}}},
    {"name": "db1", "groups": ["db"], "ipv6": False,
     "sshd": {"etc": {"resolv.conf": RESOLV, "hosts": "127.0.0.1 localhost\n"}},
     "services": [{"name": "api", "listen": ["tcp:0.0.0.0:8000"], "behavior": "http", "status": 200},
                  {"name": "cache", "listen": ["tcp:0.0.0.0:6380"]}],
     # app1 gets both, web1 the cache only, the controller (the lab's address) neither: it never resolves a name here
     "iptables": ("*filter\n:INPUT ACCEPT [0:0]\n"
                  "-A INPUT -s {address:app1}/32 -p tcp -m tcp -m multiport --dports 8000,6380 -j ACCEPT\n"
                  "-A INPUT -s {address:web1}/32 -p tcp -m tcp --dport 6380 -j ACCEPT\n"
                  "-A INPUT -p tcp -m tcp -m multiport --dports 8000,6380 -j DROP\nCOMMIT\n")},
]}


def test_names_every_allowed_source_resolves_to_the_host(make_lab, tmp_path):
    lab = make_lab(NAMES_STACK)
    run = tmp_path / "run"
    run.mkdir()
    took, results, _hostvars = _round_trip(lab, run, NAMES_STACK)
    text = (run / "portproof-discovered" / "host_vars" / "db1.yml").read_text()
    db1 = {s["name"]: s for s in yaml.safe_load(text)["portproof_services__discovered"]}
    assert (db1["api"]["names"], db1["api"]["allow_from"], db1["api"]["deny_from"]) == (["db1"], ["app"], ["web"]), text
    assert "  # names: db1, as every allowed source (app1) resolves it to %s only\n" % lab.host("db1")["address"] in text
    # web1's stale /etc/hosts sends db1 to web1 itself: the cache, which web1 may reach, gets no name
    assert (db1["cache"]["allow_from"], "names" in db1["cache"]) == (["app", "web"], False), text
    assert "  # names: db1 left out, web1 resolves it to %s, not only to %s, where db1 is reached\n" % (
        lab.host("web1")["address"], lab.host("db1")["address"]) in text
    # post_deploy resolved the name from app1 and reached the API by it
    assert sorted((r["service"], r["check"], r["source"], r["status"]) for r in results
                  if r["host"] == "db1" and r["check"] in ("dns", "reach")) == [
        ("api", "dns", "app1", "pass"), ("api", "reach", "app1", "pass"), ("cache", "reach", "app1", "pass"),
        ("cache", "reach", "web1", "pass")]


API = [{"name": "api", "listen": ["tcp:0.0.0.0:8080"], "behavior": "http", "status": 200}]
# Two hosts whose firewall drops everything but SSH from the controller and one source's address, with no lo accept:
# their own probe of their own API is dropped, so it is asked again from web1, the one source their verdict lets in
# (app1, db1 and db2 come before it in the order tried, and the verdict keeps them out: they are not asked).
CLOSED_STACK = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"], "services": API,
     "iptables": ("*filter\n:INPUT DROP [0:0]\n-A INPUT -s {lab_address}/32 -p tcp -m tcp --dport 22 -j ACCEPT\n"
                  "-A INPUT -s {address:web1}/32 -j ACCEPT\nCOMMIT\n")},
    {"name": "db2", "groups": ["db"], "services": API,
     "nft": ("table inet guard {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
             "    ip saddr {lab_address} tcp dport 22 accept\n    ip saddr {address:web1} accept\n  }\n}\n")},
]}


def test_identified_from_an_allowed_source_when_the_host_keeps_its_own_probe_out(make_lab, tmp_path):
    lab = make_lab(CLOSED_STACK)
    run = tmp_path / "run"
    run.mkdir()
    took, _results, _hostvars = _round_trip(lab, run, CLOSED_STACK)
    # the nft inet table drops public over IPv6 too (the iptables rules of db1 leave IPv6 alone)
    for host, denied in (("db1", ["app", "db"]), ("db2", ["app", "db", "public"])):
        text = (run / "portproof-discovered" / "host_vars" / ("%s.yml" % host)).read_text()
        api = {s["name"]: s for s in yaml.safe_load(text)["portproof_services__discovered"]}["api"]
        assert (api["allow_from"], api["deny_from"], api["check"]) == (
            ["web"], denied, {"http": {"path": "/", "status": 200}}), text
        assert ("  # asked from web1, as the host's own probe was kept out (could not be identified: no answer to the connection "
                "attempt within 5 s): answers as http (GET / answered 200): the check proves it\n  - name: api\n" in text), text
    print("discover took %.1f s" % took)
