# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``tls`` check as clients see it, end to end against Debian's nginx.

The test makes a PKI (root -> intermediate -> leaf, tls_chain.py) and an OCSP response for the
leaf. web1 runs nginx with five TLS servers: the full chain with the OCSP response stapled
(``ssl_stapling_file``), the leaf alone (intermediate missing), a leaf that expires in 4 days,
TLS 1.1 only, TLS 1.3 only. app1's sessions see the lab root as their trust store
(``/etc/ssl/certs/ca-certificates.crt`` through the lab's ``sshd.etc``); app2 sees the machine's,
which does not hold it. ``post_deploy`` (checks reach and tls) must give exactly one tls verdict per
service and source, each failure naming the limit it missed and whose trust store it used, and
every tls result must carry the chain as presented, the protocol, the cipher and OCSP stapling."""

from __future__ import annotations

import datetime
import os
import sys

import pytest
import yaml
from cryptography.hazmat.primitives import hashes

from post_deploy_run import explain, post_deploy  # pylint: disable=import-error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tls_chain import Chain, nginx_conf, nginx_server  # noqa: E402 pylint: disable=wrong-import-position,import-error

pytestmark = pytest.mark.lab

NAME = "web.pplab.test"
LEAF = "CN=web.pplab.test,O=portproof lab"
INTERMEDIATE = "CN=portproof lab intermediate,O=portproof lab"
ROOT = "CN=portproof lab root,O=portproof lab"
PORTS = {"good": 443, "nochain": 8443, "expiring": 9443, "old": 10443, "modern": 11443}


def spec(chain):
    servers = [
        nginx_server(PORTS["good"], "{address}", chain.path("leaf-chain.pem"), chain.path("leaf.key"),
                     stapling_file=chain.path("leaf.ocsp.der")),
        nginx_server(PORTS["nochain"], "{address}", chain.path("leaf.pem"), chain.path("leaf.key")),
        nginx_server(PORTS["expiring"], "{address}", chain.path("short-chain.pem"), chain.path("short.key")),
        nginx_server(PORTS["old"], "{address}", chain.path("leaf-chain.pem"), chain.path("leaf.key"), protocols="TLSv1.1",
                     ciphers="DEFAULT:@SECLEVEL=0"),
        nginx_server(PORTS["modern"], "{address}", chain.path("leaf-chain.pem"), chain.path("leaf.key"), protocols="TLSv1.3"),
    ]
    with open(chain.root_path) as handle:
        root = handle.read()
    return {"hosts": [
        {"name": "web1", "groups": ["web"], "ipv6": False,
         "daemons": [{"kind": "nginx", "config": nginx_conf(servers), "listen": ["tcp:{address}:%d" % port for port in PORTS.values()]}]},
        {"name": "app1", "groups": ["app", "trusting"], "ipv6": False, "sshd": {"etc": {"ssl/certs/ca-certificates.crt": root}}},
        {"name": "app2", "groups": ["app"], "ipv6": False},
    ]}


def contract():
    tls = {"hostname": NAME, "min_days": 14, "min_version": "TLSv1.2"}
    return {"portproof_probe_timeout": 5, "portproof_services": [
        {"name": "good", "port": PORTS["good"], "allow_from": ["app"], "check": {"tls": tls}},
        {"name": "nochain", "port": PORTS["nochain"], "allow_from": ["trusting"], "check": {"tls": tls}},
        {"name": "expiring", "port": PORTS["expiring"], "allow_from": ["trusting"], "check": {"tls": tls}},
        {"name": "old", "port": PORTS["old"], "allow_from": ["trusting"], "check": {"tls": tls}},
        {"name": "modern", "port": PORTS["modern"], "allow_from": ["trusting"], "check": {"tls": tls}},
    ]}


def when(cert):
    return cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def link(cert, issuer):
    """A chain entry as port_probe reports it, from the certificate the test made."""
    return {"subject": cert.subject.rfc4514_string(), "issuer": issuer, "not_after": when(cert), "sha256": cert.fingerprint(hashes.SHA256()).hex()}


def test_tls_verdicts_and_evidence_from_a_source_that_trusts_the_lab_root_and_one_that_does_not(make_lab, tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    chain = Chain(str(pki))
    leaf = chain.leaf("leaf", datetime.timedelta(days=60), names=[NAME])
    short = chain.leaf("short", datetime.timedelta(days=4), names=[NAME])
    lab = make_lab(spec(chain))
    os.makedirs(os.path.join(lab.workdir, "host_vars"), exist_ok=True)
    with open(os.path.join(lab.workdir, "host_vars", "web1.yml"), "w") as handle:
        yaml.safe_dump(contract(), handle, default_flow_style=False)

    proc, items = post_deploy(lab, tmp_path / "run", {"portproof_checks": ["reach", "tls"]})
    tls = dict(((item["service"], item["source"]), item) for item in items if item["check"] == "tls")
    assert sorted(tls) == sorted([("good", "app1"), ("good", "app2"), ("nochain", "app1"), ("expiring", "app1"), ("old", "app1"),
                                  ("modern", "app1")]), explain(proc, items)
    address = lab.address("web1")

    def at(service):
        return "%s from app%s at %s:%d/tcp: " % (service, "%s", address, PORTS[service])

    full = [link(leaf, INTERMEDIATE), link(chain.intermediate, ROOT)]
    presented = ("2 certificates: %s (issued by %s), %s (issued by %s)" % (LEAF, INTERMEDIATE, INTERMEDIATE, ROOT))
    verdicts = dict((key, (item["status"], item["message"])) for key, item in tls.items())
    assert verdicts == {
        ("good", "app1"): ("pass", at("good") % 1 + "tls_handshake pass: negotiated TLSv1.3 with TLS_AES_256_GCM_SHA384; "
                           "tls_verify pass: chain verifies against the trust store of app1; tls_hostname pass: web.pplab.test is covered "
                           "by the certificate; tls_days pass: certificate expires in 60 days (%s), at least 14 required; "
                           "tls_version pass: TLSv1.3 negotiated, at least TLSv1.2 required" % when(leaf)),
        ("good", "app2"): ("fail", at("good") % 2 + "tls_verify fail: chain does not verify against the trust store of app2: "
                           "unable to get local issuer certificate; the server presented %s" % presented),
        ("nochain", "app1"): ("fail", at("nochain") % 1 + "tls_verify fail: chain does not verify against the trust store of app1: "
                              "unable to get local issuer certificate; the server presented 1 certificate: %s (issued by %s)"
                              % (LEAF, INTERMEDIATE)),
        ("expiring", "app1"): ("fail", at("expiring") % 1 + "tls_days fail: certificate expires in 4 days (%s), at least 14 required"
                               % when(short)),
        # The sources' OpenSSL (Debian's, under /usr/bin/python3) refuses what a TLS 1.1 server signs with.
        ("old", "app1"): ("fail", at("old") % 1 + "tls_handshake fail: TLS handshake failed: [SSL] legacy sigalg disallowed or "
                          "unsupported (_ssl.c:992); the server answers a TLS 1.2 ClientHello with TLSv1.1 and ECDHE-RSA-AES128-SHA; "
                          "tls_version fail: TLSv1.1 negotiated, at least TLSv1.2 required"),
        ("modern", "app1"): ("pass", at("modern") % 1 + "tls_handshake pass: negotiated TLSv1.3 with TLS_AES_256_GCM_SHA384; "
                             "tls_verify pass: chain verifies against the trust store of app1; tls_hostname pass: web.pplab.test is "
                             "covered by the certificate; tls_days pass: certificate expires in 60 days (%s), at least 14 required; "
                             "tls_version pass: TLSv1.3 negotiated, at least TLSv1.2 required" % when(leaf)),
    }, explain(proc, items)
    evidence = dict((key, item.get("tls")) for key, item in tls.items())
    assert evidence == {
        ("good", "app1"): {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain": full, "chain_visible": True,
                           "ocsp_stapled": True},
        ("good", "app2"): {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain": full, "chain_visible": True,
                           "ocsp_stapled": True},
        ("nochain", "app1"): {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain": [link(leaf, INTERMEDIATE)],
                              "chain_visible": True, "ocsp_stapled": False},
        ("expiring", "app1"): {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain_visible": True, "ocsp_stapled": False,
                               "chain": [link(short, INTERMEDIATE), link(chain.intermediate, ROOT)]},
        ("old", "app1"): {"protocol": "TLSv1.1", "cipher": "ECDHE-RSA-AES128-SHA", "chain": full, "chain_visible": True,
                          "ocsp_stapled": False},
        ("modern", "app1"): {"protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain": [link(leaf, INTERMEDIATE)],
                             "chain_visible": False, "ocsp_stapled": None,
                             "chain_note": "chain not visible: the server speaks TLS 1.3 only (it answered a TLS 1.2 ClientHello with "
                                           "protocol_version)"},
    }, explain(proc, items)
    assert proc.returncode == 2, explain(proc, items)
