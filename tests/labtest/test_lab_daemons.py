# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's real daemons (tests/lab/lab_daemons.py): packaged binaries, their own users, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from lab_daemons import children  # pylint: disable=import-error
from portproof_lab import Lab, LabError  # pylint: disable=import-error

pytestmark = pytest.mark.lab

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
    server { listen {address}:443 ssl; ssl_certificate {cert}; ssl_certificate_key {key}; return 200; }
}
"""
HAPROXY = """global
    user haproxy
    group haproxy
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen pg
    bind {address}:6432
    server db {address}:5432
"""
DAEMONS = [
    {"kind": "nginx", "config": NGINX, "listen": ["tcp:{address}:443"]},
    {"kind": "haproxy", "config": HAPROXY, "listen": ["tcp:{address}:6432"]},
    {"kind": "dnsmasq", "config": "user=dnsmasq\nlisten-address={address}\nbind-interfaces\nno-resolv\nno-hosts\n",
     "listen": ["udp:{address}:53", "tcp:{address}:53"]},
    {"kind": "postgresql", "config": "listen_addresses = '{address}'\nunix_socket_directories = '{dir}'\n"
                                     "hba_file = '{dir}/pg_hba.conf'\nident_file = '{dir}/pg_ident.conf'\n",
     "files": {"pg_hba.conf": "local all postgres peer\n", "pg_ident.conf": ""}, "listen": ["tcp:{address}:5432"]},
    {"kind": "redis", "config": 'bind {address}\nport 6379\ndaemonize no\ndir {dir}\nsave ""\nlogfile ""\n',
     "listen": ["tcp:{address}:6379"]},
]


def _user(pid):
    with open("/proc/%d/status" % pid) as handle:
        uid = int([line.split()[1] for line in handle if line.startswith("Uid:")][0])
    return subprocess.run(["id", "-nu", str(uid)], capture_output=True, text=True, check=True).stdout.strip()


def _comm(pid):
    with open("/proc/%d/comm" % pid) as handle:
        return handle.read().strip()


def _owners(lab, host, port):
    """{(comm, user)} of the processes holding the listening socket of PORT in the host's namespace."""
    out = lab.ns(host, ["ss", "-Hltnup", "sport", "= :%d" % port]).stdout
    pids = [int(part.split("=")[1]) for part in out.replace(",", " ").split() if part.startswith("pid=")]
    return {(_comm(pid), _user(pid)) for pid in pids}


def test_daemons_run_as_packaged_and_configured_then_nothing_is_left(tmp_path):
    lab = Lab({"hosts": [{"name": "d1", "ipv6": False, "daemons": DAEMONS}]}, str(tmp_path / "lab"), keep_workdir=True)
    with lab:
        entry = lab.host("d1")
        state = json.loads(open(lab.path("state.json")).read())
        # An IPv4-only host: no IPv6 address at all, and the inventory says none.
        assert lab.ns("d1", ["ip", "-6", "-o", "addr", "show"]).stdout == ""
        assert "portproof_lab_address6" not in open(lab.inventory).read()
        assert _owners(lab, "d1", 443) == {("nginx", "root"), ("nginx", "www-data")}
        assert _owners(lab, "d1", 6432) == {("haproxy", "haproxy")}
        assert _owners(lab, "d1", 53) == {("dnsmasq", "dnsmasq")}
        assert _owners(lab, "d1", 5432) == {("postgres", "postgres")}
        assert _owners(lab, "d1", 6379) == {("redis-server", "redis")}
        # The daemons run on the lab's configuration, in the host's namespace only.
        assert "10.231." in open(os.path.join(entry["daemons"]["redis"]["dir"], "redis.conf")).read()
        assert ":5432 " not in subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
        # nginx reloaded with another worker user: same master, new workers as that user.
        master = entry["daemons"]["nginx"]["pid"]
        old_workers = set(children(master))
        assert lab.reconfigure_daemon("d1", "nginx", config=NGINX.replace("user www-data;", "user nobody nogroup;")) == master
        assert not set(children(master)) & old_workers
        assert _owners(lab, "d1", 443) == {("nginx", "root"), ("nginx", "nobody")}
        # Redis restarted on another configuration: a new process, listening where the new one says.
        old_redis = entry["daemons"]["redis"]["pid"]
        lab.reconfigure_daemon("d1", "redis", config=DAEMONS[4]["config"].replace("bind {address}", "bind 0.0.0.0"),
                               listen=["tcp:0.0.0.0:6379"])
        assert not Lab._alive(old_redis)  # pylint: disable=protected-access
        assert "0.0.0.0:6379 " in lab.ns("d1", ["ss", "-Hltn"]).stdout
        daemon_dir = entry["daemon_dir"]
        pids = [record["pid"] for record in lab.host("d1")["daemons"].values()]
        workers = [pid for main in pids for pid in children(main)]
    assert not os.path.exists(daemon_dir)
    for pid in pids + workers:
        assert not Lab._alive(pid)  # pylint: disable=protected-access
    assert state["hosts"]["d1"]["netns"] not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                                               check=True).stdout


def test_a_daemon_that_cannot_start_is_named_with_its_log_and_the_build_is_undone(tmp_path):
    spec = {"hosts": [{"name": "d1", "daemons": [
        {"kind": "redis", "config": "bind 192.0.2.77\nport 6379\ndaemonize no\nlogfile \"\"\n",
         "listen": ["tcp:192.0.2.77:6379"]}]}]}
    lab = Lab(spec, str(tmp_path / "lab"), keep_workdir=True)
    with pytest.raises(LabError, match=r"daemon redis \(redis\) on lab host d1 ended before listening on "
                                       r"tcp:192\.0\.2\.77:6379: (?s:.*)Cannot assign requested address"):
        lab.up()
    state = json.loads((tmp_path / "lab" / "state.json").read_text())
    assert state["hosts"]["d1"]["daemon_dir"] is None
    assert not [d for d in os.listdir("/tmp") if d.startswith("pplab-%s-" % state["id"])]


def test_a_refused_reload_is_an_error_at_once(tmp_path):
    lab = Lab({"hosts": [{"name": "d1", "daemons": [DAEMONS[0]]}]}, str(tmp_path / "lab"), keep_workdir=True)
    with lab:
        with pytest.raises(LabError, match=r"daemon nginx on lab host d1 did not reload .*\[emerg\].*unknown directive"):
            lab.reconfigure_daemon("d1", "nginx", config=NGINX.replace("worker_processes", "worker_procs"))


@pytest.mark.parametrize("daemon, message", [
    ({"kind": "apache", "config": "x", "listen": ["tcp:{address}:80"]},
     r"kind must be one of dnsmasq, dovecot, haproxy, mariadb, memcached, nginx, ntpsec, postfix, postgresql, rabbitmq, redis, "
     r"slapd, vsftpd, got .apache."),
    ({"kind": "redis", "config": "x"}, r"d1.daemons\[0\] \(redis\): listen must list"),
    ({"kind": "redis", "config": "x", "listen": ["tcp:6379"]}, r"listen entry 'tcp:6379' is not"),
    ({"kind": "redis", "listen": ["tcp:{address}:6379"]}, r"config must be the daemon's configuration text"),
    ({"kind": "redis", "config": "x", "listen": ["tcp:{address}:6379"], "files": {"../x": ""}}, r"files must map plain"),
    ({"kind": "redis", "config": "x", "listen": ["tcp:{address}:6379"], "user": "root"}, r"unknown keys \['user'\]"),
])
def test_a_bad_daemon_description_is_named(daemon, message):
    with pytest.raises(LabError, match=message):
        Lab({"hosts": [{"name": "d1", "daemons": [daemon]}]})
