# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Probing outside the fleet: link-local and cloud metadata addresses are refused unless the user
# opts in. The table needs no traffic; the probes run in a network namespace of their own
# (unshare --net: only a loopback that is down), so that nothing, on the old code either, can
# leave this machine; the address used there is an ordinary link-local one, never a metadata one.

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._guard import outside_fleet


@pytest.mark.parametrize('address, what', [
    ('169.254.169.254', 'the cloud instance metadata service (AWS, Azure, GCP, OpenStack, DigitalOcean)'),
    ('::ffff:169.254.169.254', 'the cloud instance metadata service (AWS, Azure, GCP, OpenStack, DigitalOcean)'),
    ('fd00:ec2::254', 'the AWS instance metadata service (IPv6)'),
    ('100.100.100.200', 'the Alibaba Cloud metadata service'),
    ('169.254.77.7', 'a link-local address (169.254.0.0/16)'),
    ('fe80::1%eth0', 'a link-local address (fe80::/10)'),
    ('10.231.1.5', None),
    ('127.0.0.1', None),
    ('fd70:7070:1::5', None),
    ('100.100.100.201', None),
    ('db1.internal', None),
])
def test_outside_fleet(address, what):
    assert outside_fleet(address) == what


CODE = """
import json, socket, sys
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
def resolver(host, family, socktype):
    return [(socket.AF_INET, socktype, 0, '', ('169.254.77.7', 0))]
params = json.loads(sys.argv[1])
print(json.dumps(run(params, resolver=resolver)))
"""


def run_isolated(params):
    """port_probe's run() in a network namespace of its own, names resolving to 169.254.77.7."""
    proc = subprocess.run(['unshare', '--net', sys.executable, '-c', CODE, json.dumps(params)], capture_output=True, text=True,
                          timeout=60, check=False, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


needs_unshare = pytest.mark.skipif(os.geteuid() != 0 or shutil.which('unshare') is None, reason='needs root and unshare')


@needs_unshare
def test_a_name_that_resolves_to_a_link_local_address_is_refused():
    result = run_isolated({'targets': [{'host': 'meta.test', 'port': 80, 'http': {'path': '/latest/meta-data/'}, 'timeout': 2}],
                           'load': {'requests': 5, 'concurrency': 2}})
    (probe,) = result['probes']
    assert (probe['state'], probe['connected'], probe['resolved']) == ('error', False, '169.254.77.7')
    assert probe['reason'] == ("refused to probe 169.254.77.7 (resolved from 'meta.test'): it is a link-local address "
                               "(169.254.0.0/16), outside the fleet; set allow_link_local: true on port_probe (role variable "
                               "portproof_probe_allow_link_local) to probe it")
    assert result['load']['checks'][0]['message'] == 'not run: ' + probe['reason']
    assert result['ok'] is False


@needs_unshare
def test_the_opt_in_probes_it():
    result = run_isolated({'targets': [{'host': 'meta.test', 'port': 80, 'timeout': 2}], 'allow_link_local': True})
    (probe,) = result['probes']
    # connected to, in a namespace with no route anywhere
    assert (probe['state'], probe['reason']) == ('unreachable', 'Network is unreachable (ENETUNREACH)')


@needs_unshare
def test_a_refused_address_is_not_retried_by_wait():
    result = run_isolated({'targets': [{'host': 'meta.test', 'port': 80, 'timeout': 1}], 'wait': {'timeout': 3, 'interval': 0.1}})
    assert result['probes'][0]['state'] == 'error'
    assert (result['wait']['held'], result['wait']['rounds']) == (False, 1)


METADATA_V4 = 'the cloud instance metadata service (AWS, Azure, GCP, OpenStack, DigitalOcean)'


@pytest.mark.parametrize('address, what', [
    # NAT64 turns these into the IPv4 address they carry (RFC 6052 well-known prefix, RFC 8215 local-use)
    ('64:ff9b::a9fe:a9fe', METADATA_V4 + ', reached through NAT64 (64:ff9b::/96) at 169.254.169.254'),
    ('64:ff9b::a9fe:4d07', 'a link-local address (169.254.0.0/16), reached through NAT64 (64:ff9b::/96) at 169.254.77.7'),
    ('64:ff9b:1::a9fe:a9fe', METADATA_V4 + ', reached through local-use NAT64 (64:ff9b:1::/48) at 169.254.169.254'),
    ('64:ff9b:1:a9fe:a9:fe00::', METADATA_V4 + ', reached through local-use NAT64 (64:ff9b:1::/48) at 169.254.169.254'),
    ('64:ff9b:1:0:a9:fea9:fe00:0', METADATA_V4 + ', reached through local-use NAT64 (64:ff9b:1::/48) at 169.254.169.254'),
    ('::ffff:0:a9fe:a9fe', METADATA_V4 + ', reached as an IPv4-translated address (SIIT, ::ffff:0:0:0/96) at 169.254.169.254'),
    ('::169.254.169.254', METADATA_V4 + ', reached as an IPv4-compatible address (::/96) at 169.254.169.254'),
    ('64:ff9b::a00:1', None),
    ('64:ff9b:1::a00:1', None),
    ('::1', None),
    ('::', None),
    ('2001:db8::a9fe:a9fe', None),
])
def test_an_ipv6_address_carrying_a_refused_ipv4_address_is_refused(address, what):
    assert outside_fleet(address) == what


@pytest.mark.parametrize('literal, address', [('2852039166', '169.254.169.254'), ('0xa9.0xfe.0xa9.0xfe', '169.254.169.254'),
                                              ('0251.0376.0251.0376', '169.254.169.254'), ('169.254.43518', '169.254.169.254')])
def test_odd_ipv4_literals_are_refused_after_resolution(literal, address):
    # getaddrinfo() reads these as the address they spell; the guard sees what is connected to
    infos = socket.getaddrinfo(literal, None, socket.AF_INET, socket.SOCK_STREAM)
    assert infos[0][4][0] == address
    assert outside_fleet(infos[0][4][0]) == METADATA_V4


@needs_unshare
def test_a_nat64_literal_of_a_link_local_address_is_refused_before_any_packet():
    # in a namespace with no route: the old code tried to connect (unreachable); now nothing is sent
    result = run_isolated({'targets': [{'host': '64:ff9b::a9fe:4d07', 'port': 80, 'http': {'path': '/'}, 'timeout': 2}]})
    (probe,) = result['probes']
    assert (probe['state'], probe['connected']) == ('error', False)
    assert probe['reason'] == ('refused to probe 64:ff9b::a9fe:4d07: it is a link-local address (169.254.0.0/16), reached through '
                               'NAT64 (64:ff9b::/96) at 169.254.77.7, outside the fleet; set allow_link_local: true on port_probe '
                               '(role variable portproof_probe_allow_link_local) to probe it')
