# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The contract key ``names`` and the live check ``dns`` end to end, with a real dnsmasq (Debian package,
tests/lab/lab_daemons.py) on db2 as the DNS server that app1's and app2's ``/etc/resolv.conf`` name, and each source's
own ``/etc/hosts`` (the lab's ``sshd.etc`` overlay: nothing of the machine's /etc is touched).

db1 serves HTTPS on 8443; its contract says clients use ``db.internal`` and ``pg.example.test``. The planted faults:
dnsmasq points db.internal at db2 (the wrong host) and does not know pg.example.test (NXDOMAIN, ``local=`` makes it
authoritative); app2's /etc/hosts holds db.internal -> db1 (so app2 is right where app1 is not: split horizon) and a
stale pg.example.test -> db2; db1's certificate covers ``db1`` only, not the first name. ``post_deploy`` fails on
exactly those results, each naming what it saw; once dnsmasq, app2's /etc/hosts and the certificate are fixed it passes.
The controller resolves through the machine's /etc, which no test may change: its path is covered by
tests/unit/plugins/plugin_utils/test_dns_names.py."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from post_deploy_run import explain, post_deploy  # pylint: disable=import-error

pytestmark = pytest.mark.lab

DNSMASQ = """user=dnsmasq
listen-address={address}
bind-interfaces
no-resolv
no-hosts
local=/internal/
local=/example.test/
"""
WRONG = DNSMASQ + "address=/db.internal/{address:db2}\n"
FIXED = DNSMASQ + "address=/db.internal/{address:db1}\naddress=/pg.example.test/{address:db1}\n"
RESOLV = "nameserver {address:db2}\noptions timeout:1 attempts:1\n"
APP2_HOSTS = "127.0.0.1 localhost\n{address:db1} db.internal\n{address:db2} pg.example.test\n"


def certificate(directory, name, san):
    key, cert = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                    "-subj", "/CN=%s" % name, "-addext", "subjectAltName=" + san, "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def web(cert, key):
    return {"name": "web", "listen": ["tcp:{address:db1}:8443"], "behavior": "http", "status": 200, "body": "ok",
            "tls_cert": cert, "tls_key": key}


def spec(cert, key):
    return {"hosts": [
        {"name": "app1", "groups": ["app"], "ipv6": False,
         "sshd": {"etc": {"resolv.conf": RESOLV, "hosts": "127.0.0.1 localhost\n"}}},
        {"name": "app2", "groups": ["app"], "ipv6": False, "sshd": {"etc": {"resolv.conf": RESOLV, "hosts": APP2_HOSTS}}},
        {"name": "db1", "groups": ["db"], "ipv6": False, "services": [web(cert, key)]},
        {"name": "db2", "groups": ["db"], "ipv6": False,
         "daemons": [{"kind": "dnsmasq", "config": WRONG, "listen": ["udp:{address}:53", "tcp:{address}:53"]}]},
    ]}


def write_contract(lab, ca):
    data = {"portproof_probe_timeout": 2, "portproof_services": [
        {"name": "db", "port": 8443, "names": ["db.internal", "pg.example.test"], "allow_from": ["app"],
         "check": {"tls": {"ca": ca}, "http": {"path": "/", "status": 200}}}]}
    os.makedirs(os.path.join(lab.workdir, "host_vars"), exist_ok=True)
    with open(os.path.join(lab.workdir, "host_vars", "db1.yml"), "w") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False)


def of(items, check):
    return sorted((i["source"], i["status"], i["message"], i.get("actual")) for i in items if i["check"] == check)


def test_names_resolve_per_source_wrong_host_nxdomain_split_horizon_and_sni_fail_then_pass(make_lab, tmp_path):
    certs = str(tmp_path / "certs")
    os.makedirs(certs)
    bad_cert, bad_key = certificate(certs, "db1", "DNS:db1")
    good_cert, good_key = certificate(certs, "db.internal", "DNS:db.internal,DNS:pg.example.test")
    lab = make_lab(spec(bad_cert, bad_key))
    db1, db2 = lab.address("db1"), lab.address("db2")

    write_contract(lab, bad_cert)
    proc, items = post_deploy(lab, tmp_path / "faults")
    failing = sorted((i["host"], i["service"], i["check"], i["status"], i["source"]) for i in items if i["status"] in ("fail", "error"))
    assert (proc.returncode, failing) == (2, [
        ("db1", "db", "dns", "fail", "app1"), ("db1", "db", "dns", "fail", "app1"), ("db1", "db", "dns", "fail", "app2"),
        ("db1", "db", "reach", "fail", "app1"), ("db1", "db", "tls", "fail", "app2")]), explain(proc, items)
    assert of(items, "dns") == [
        ("app1", "fail", "db: db.internal resolves to %s (db2) from app1, not to db1 (%s)" % (db2, db1), "%s (db2)" % db2),
        ("app1", "fail", "db: pg.example.test cannot be resolved from app1: NXDOMAIN, the name does not exist "
                         "(Name or service not known (EAI_NONAME)), so its clients there cannot find db1", "NXDOMAIN"),
        ("app2", "fail", "db: pg.example.test resolves to %s (db2) from app2, not to db1 (%s)" % (db2, db1), "%s (db2)" % db2),
        ("app2", "pass", "db: db.internal resolves to %s (db1) from app2" % db1, "%s (db1)" % db1),
    ], explain(proc, items)
    # app1 connects where its clients would: db.internal, that is db2, where nothing listens
    assert [(i["status"], i["message"]) for i in items if i["check"] == "reach" and i["source"] == "app1"] == [
        ("fail", "db: app1 cannot reach db.internal:8443/tcp: refused (Connection refused (ECONNREFUSED))")], explain(proc, items)
    tls = [i for i in items if i["check"] == "tls" and i["source"] == "app2"]
    assert len(tls) == 1 and tls[0]["status"] == "fail", explain(proc, items)
    # app2 reaches db1 by the first name: SNI and host name verification use db.internal, which the certificate lacks
    assert (tls[0]["message"], tls[0]["actual"]) == (
        "db from app2 at db.internal:8443/tcp: tls_hostname fail: db.internal is not among the certificate names db1",
        "tls_handshake: TLSv1.3; tls_verify: verified; tls_hostname: db1"), explain(proc, items)

    # fixed: dnsmasq answers db1 for both names, app2's stale line is gone, the certificate covers the first name
    lab.reconfigure_daemon("db2", "dnsmasq", config=FIXED)
    lab.ssh("app2", "printf '%%s\\n' '127.0.0.1 localhost' '%s db.internal' > /etc/hosts" % db1)
    lab.stop_service("db1", "web")
    lab.start_service("db1", web(good_cert, good_key))
    write_contract(lab, good_cert)
    proc, items = post_deploy(lab, tmp_path / "fixed")
    assert (proc.returncode, [i for i in items if i["status"] in ("fail", "error")]) == (0, []), explain(proc, items)
    assert of(items, "dns") == sorted(
        (source, "pass", "db: %s resolves to %s (db1) from %s" % (name, db1, source), "%s (db1)" % db1)
        for source in ("app1", "app2") for name in ("db.internal", "pg.example.test")), explain(proc, items)
    assert sorted((i["source"], i["status"]) for i in items if i["check"] in ("reach", "tls", "response")) == [
        ("app1", "pass")] * 3 + [("app2", "pass")] * 3, explain(proc, items)
