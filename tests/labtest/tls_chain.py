# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A three-level PKI for TLS tests against nginx: root -> intermediate -> leaf (RSA 2048, so
that TLS 1.0/1.1 suites work too), and an OCSP response for the leaf signed by the
intermediate (what nginx staples from ``ssl_stapling_file``). Written with python
cryptography into a directory; every file name is an attribute."""

from __future__ import annotations

import datetime
import ipaddress
import os
from typing import Dict, List, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "portproof lab"), x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Chain(object):
    """root.pem, intermediate.pem, LABEL.pem (leaf), LABEL.key, LABEL-chain.pem (leaf + intermediate),
    LABEL.ocsp.der (a good OCSP response for the leaf) in DIRECTORY."""

    def __init__(self, directory: str, prefix: str = "portproof lab") -> None:
        self.dir = directory
        now = datetime.datetime.now(datetime.timezone.utc)
        self.root_key, self.int_key = _key(), _key()
        self.root = (x509.CertificateBuilder().subject_name(_name(prefix + " root")).issuer_name(_name(prefix + " root"))
                     .public_key(self.root_key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                     .sign(self.root_key, hashes.SHA256()))
        self.intermediate = (x509.CertificateBuilder().subject_name(_name(prefix + " intermediate")).issuer_name(self.root.subject)
                             .public_key(self.int_key.public_key()).serial_number(x509.random_serial_number())
                             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1825))
                             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                             .sign(self.root_key, hashes.SHA256()))
        self.root_path = self.write("root.pem", _pem(self.root))
        self.intermediate_path = self.write("intermediate.pem", _pem(self.intermediate))
        self.leaves: Dict[str, x509.Certificate] = {}

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def leaf(self, label: str, valid_for: datetime.timedelta, names: Sequence[str] = (), ips: Sequence[str] = ()) -> x509.Certificate:
        """A leaf signed by the intermediate, valid VALID_FOR from now (plus a minute, so that the
        whole days left are exactly VALID_FOR's days while a test runs)."""
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        sans: List[x509.GeneralName] = [x509.DNSName(name) for name in names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = (x509.CertificateBuilder().subject_name(_name(names[0] if names else label)).issuer_name(self.intermediate.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + valid_for + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.int_key, hashes.SHA256()))
        self.write(label + ".pem", _pem(cert))
        self.write(label + "-chain.pem", _pem(cert) + _pem(self.intermediate))
        self.write(label + ".key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                     serialization.NoEncryption()))
        now = datetime.datetime.now(datetime.timezone.utc)
        response = (ocsp.OCSPResponseBuilder()
                    .add_response(cert=cert, issuer=self.intermediate, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
                                  this_update=now - datetime.timedelta(minutes=5), next_update=now + datetime.timedelta(days=7),
                                  revocation_time=None, revocation_reason=None)
                    .responder_id(ocsp.OCSPResponderEncoding.HASH, self.intermediate)
                    .sign(self.int_key, hashes.SHA256()))
        self.write(label + ".ocsp.der", response.public_bytes(serialization.Encoding.DER))
        self.leaves[label] = cert
        return cert

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)


def nginx_server(port: int, address: str, cert: str, key: str, protocols: str = "TLSv1.2 TLSv1.3", ciphers: str = "",
                 stapling_file: str = "") -> str:
    """A server block of nginx.conf: TLS on ADDRESS:PORT with CERT (leaf, or leaf + intermediate) and KEY."""
    lines = ["    server {", "        listen %s:%d ssl;" % (address, port), "        ssl_certificate %s;" % cert,
             "        ssl_certificate_key %s;" % key, "        ssl_protocols %s;" % protocols]
    if ciphers:
        lines.append("        ssl_ciphers %s;" % ciphers)
    if stapling_file:
        lines += ["        ssl_stapling on;", "        ssl_stapling_file %s;" % stapling_file]
    lines += ["        location / { return 200 \"ok\\n\"; }", "    }"]
    return "\n".join(lines) + "\n"


def nginx_conf(servers: Sequence[str], directory: str = "{dir}") -> str:
    """nginx.conf around SERVERS (workers as nobody, logs in the daemon's directory)."""
    return ("user nobody nogroup;\nworker_processes 1;\npid %s/nginx.pid;\nevents { worker_connections 64; }\n"
            "http {\n    access_log off;\n    client_body_temp_path %s/body;\n    proxy_temp_path %s/proxy;\n"
            "    fastcgi_temp_path %s/fastcgi;\n    uwsgi_temp_path %s/uwsgi;\n    scgi_temp_path %s/scgi;\n%s}\n"
            % ((directory,) * 6 + ("".join(servers),)))
