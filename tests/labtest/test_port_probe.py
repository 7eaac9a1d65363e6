# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# port_probe between two lab hosts (network namespaces of our own, see probe_lab.py): every
# outcome for real, including the ones only a firewall or a second host produce: dropped
# (timeout), rejected (refused), rejected as host unreachable and no route (unreachable), name
# resolved on the source host only, UDP dropped (open_filtered), an SSH server offering
# passwords, with and without paramiko on the probing host.
#   .venv/bin/pytest tests/labtest/test_port_probe.py -m lab

from __future__ import annotations

import datetime
import importlib.util
import os
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from probe_lab import DST_ADDR, ProbeLab, lab_usable  # noqa: E402 pylint: disable=wrong-import-position


def _load_servers():
    path = os.path.join(HERE, '..', 'unit', 'plugins', 'module_utils', 'probe_servers.py')
    spec = importlib.util.spec_from_file_location('portproof_lab_probe_servers', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


servers = _load_servers()
SYSTEM_PYTHON = '/usr/bin/python3'

pytestmark = [pytest.mark.lab, pytest.mark.skipif(not lab_usable(), reason='needs root, ip and nft')]

FIREWALL = """
table inet ppprb {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 8003 drop
        tcp dport 8004 reject with tcp reset
        tcp dport 8005 reject
        tcp dport 8006 reject with icmp type host-unreachable
        tcp dport 8008 reject with icmpx type admin-prohibited
        udp dport 9003 drop
        udp dport 9005 reject
        udp dport 9006 reject with icmp type host-unreachable
    }
}
"""


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    pki = servers.Pki(str(tmp_path_factory.mktemp('pki')))
    cert, key, _not_after = pki.leaf('target', datetime.timedelta(days=5, hours=1), names=('target.lab',), ips=(DST_ADDR,))
    with ProbeLab(hosts={'target.lab': DST_ADDR}) as lab:
        lab.pki = pki
        # 8003-8008 listen too: only the firewall makes them drop or reject.
        lab.services({'address': DST_ADDR, 'open': [8001, 8003, 8004, 8005, 8006, 8008], 'hang': [8007], 'http': 8080,
                      'https': {'port': 8443, 'cert': cert, 'key': key},
                      'udp_echo': [9001, 9003, 9005, 9006], 'udp_silent': [9004]})
        lab.firewall(FIREWALL)
        lab.sshd = servers.Sshd(password=True, address=DST_ADDR, netns=lab.dst)
        try:
            yield lab
        finally:
            lab.sshd.close()


def by_name(result):
    return dict((probe['name'], probe) for probe in result['probes'])


def checks(probe):
    return dict((entry['name'], entry) for entry in probe['response'])


def test_every_outcome_in_one_bounded_run(lab):
    targets = [
        {'name': 'open', 'host': DST_ADDR, 'port': 8001},
        {'name': 'refused', 'host': DST_ADDR, 'port': 8002},
        {'name': 'dropped', 'host': DST_ADDR, 'port': 8003},
        {'name': 'reset', 'host': DST_ADDR, 'port': 8004},
        {'name': 'rejected', 'host': DST_ADDR, 'port': 8005},
        {'name': 'host_unreachable', 'host': DST_ADDR, 'port': 8006},
        {'name': 'prohibited', 'host': DST_ADDR, 'port': 8008},
        {'name': 'no_route', 'host': '10.99.0.1', 'port': 80},
        {'name': 'hang', 'host': DST_ADDR, 'port': 8007, 'expect': '^220 '},
        {'name': 'by_name', 'host': 'target.lab', 'port': 8001},
        {'name': 'unknown_name', 'host': 'nosuch.lab', 'port': 8001},
        {'name': 'udp_echo', 'host': DST_ADDR, 'port': 9001, 'proto': 'udp', 'send': 'hi', 'expect': '^ECHO hi$'},
        {'name': 'udp_nobody', 'host': DST_ADDR, 'port': 9002, 'proto': 'udp', 'send': 'hi'},
        {'name': 'udp_dropped', 'host': DST_ADDR, 'port': 9003, 'proto': 'udp', 'send': 'hi'},
        {'name': 'udp_silent', 'host': DST_ADDR, 'port': 9004, 'proto': 'udp', 'send': 'hi'},
        {'name': 'udp_rejected', 'host': DST_ADDR, 'port': 9005, 'proto': 'udp', 'send': 'hi'},
        {'name': 'udp_host_unreachable', 'host': DST_ADDR, 'port': 9006, 'proto': 'udp', 'send': 'hi'},
    ]
    for target in targets:
        target.setdefault('timeout', 1.0)
    result, wall = lab.probe({'targets': targets})
    got = by_name(result)
    states = dict((name, probe['state']) for name, probe in got.items())
    assert states == {
        'open': 'open', 'refused': 'refused', 'dropped': 'timeout', 'reset': 'refused', 'rejected': 'refused',
        'host_unreachable': 'unreachable', 'prohibited': 'unreachable', 'no_route': 'unreachable', 'hang': 'timeout',
        'by_name': 'open', 'unknown_name': 'dns_error', 'udp_echo': 'open', 'udp_nobody': 'refused',
        'udp_dropped': 'open_filtered', 'udp_silent': 'open_filtered', 'udp_rejected': 'refused',
        'udp_host_unreachable': 'unreachable',
    }
    assert got['dropped']['reason'] == 'no answer to the connection attempt within 1 s'
    assert got['dropped']['connected'] is False
    assert got['host_unreachable']['reason'] == 'No route to host (EHOSTUNREACH)'
    assert got['no_route']['reason'] == 'Network is unreachable (ENETUNREACH)'
    assert (got['hang']['connected'], got['hang']['phase']) == (True, 'response')
    assert checks(got['hang'])['expect']['actual'] == 'timeout'
    assert got['by_name']['resolved'] == DST_ADDR
    assert got['unknown_name']['reason'].startswith("cannot resolve 'nosuch.lab' on this host: ")
    assert checks(got['udp_echo'])['reply']['status'] == 'pass'
    assert got['udp_dropped']['reason'] == 'no reply and no ICMP error within 1 s'
    # Bounded by the largest timeout (1 s), not the sum of the eight that wait for it.
    assert result['elapsed_ms'] < 2000
    assert wall < 5


def test_response_checks_across_hosts(lab):
    result, _wall = lab.probe({'targets': [
        {'name': 'json_ok', 'host': 'target.lab', 'port': 8080, 'http': {'path': '/health', 'json_query': "status == 'ok'"}},
        {'name': 'json_bad', 'host': 'target.lab', 'port': 8080, 'http': {'path': '/health', 'json_query': "db == 'down'"}},
        {'name': 'tls', 'host': 'target.lab', 'port': 8443, 'tls': {'ca': lab.pki.ca_path, 'min_days': 14}, 'http': {'path': '/health'}},
        {'name': 'ssh', 'host': DST_ADDR, 'port': 2222, 'ssh': {'auth_methods': ['publickey'], 'host_key': [lab.sshd.fingerprint]}},
    ]})
    got = by_name(result)
    assert got['json_ok']['ok'] is True and checks(got['json_ok'])['http_json']['evaluated_on'] == 'target'
    assert checks(got['json_bad'])['http_json']['status'] == 'fail'
    assert checks(got['tls'])['tls_days']['status'] == 'fail' and checks(got['tls'])['tls_days']['actual'] == 5
    assert checks(got['tls'])['tls_verify']['status'] == 'pass' and checks(got['tls'])['tls_hostname']['status'] == 'pass'
    assert checks(got['tls'])['http_status']['status'] == 'pass'
    assert checks(got['ssh'])['ssh_host_key']['status'] == 'pass'
    assert checks(got['ssh'])['ssh_auth_methods']['status'] == 'fail'
    assert checks(got['ssh'])['ssh_auth_methods']['actual'] == ['publickey', 'password']


@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason='needs the system python3')
def test_stdlib_only_python_on_the_source_host(lab):
    result, _wall = lab.probe({'targets': [
        {'name': 'ssh', 'host': DST_ADDR, 'port': 2222, 'ssh': {'auth_methods': ['publickey']}},
        {'name': 'json', 'host': DST_ADDR, 'port': 8080, 'http': {'path': '/health', 'json_query': "status == 'ok'"}},
        {'name': 'dropped', 'host': DST_ADDR, 'port': 8003, 'timeout': 0.5},
    ]}, python=SYSTEM_PYTHON)
    got = by_name(result)
    if checks(got['ssh'])['ssh_handshake']['status'] != 'unavailable':
        pytest.skip('paramiko is importable by %s' % SYSTEM_PYTHON)
    assert checks(got['ssh'])['ssh_auth_methods']['status'] == 'unavailable'
    assert got['ssh']['ssh']['banner'].startswith('SSH-2.0-OpenSSH')
    assert checks(got['json'])['http_json']['evaluated_on'] == 'controller'
    assert got['json']['http']['json'] == {'status': 'ok', 'db': 'up'}
    assert got['dropped']['state'] == 'timeout'


def test_load_across_hosts(lab):
    result, _wall = lab.probe({'targets': [{'host': DST_ADDR, 'port': 8080, 'http': {'path': '/slow'}}],
                               'load': {'requests': 100, 'concurrency': 10, 'p95_ms': 1}})
    load = result['load']
    assert (load['completed'], load['errors']) == (100, 0)
    assert 20 <= load['p95_ms']
    assert [(entry['name'], entry['status']) for entry in load['checks']] == [('load_errors', 'pass'), ('load_p95', 'fail')]


def test_wait_for_a_firewall_that_opens(lab):
    """The port is dropped until the rule goes away 1 s into the wait."""
    lab.firewall('table inet ppprb_wait {\n chain input {\n type filter hook input priority -1; policy accept;\n'
                 ' tcp dport 8001 drop\n }\n}\n')
    timer = threading.Timer(1.0, lab.run_dst, args=(['nft', 'delete', 'table', 'inet', 'ppprb_wait'],))
    timer.start()
    try:
        result, _wall = lab.probe({'targets': [{'host': DST_ADDR, 'port': 8001, 'timeout': 0.3}], 'wait': {'timeout': 10, 'interval': 0.2}})
    finally:
        timer.join()
    assert result['wait']['held'] is True and result['wait']['rounds'] >= 2
    assert result['probes'][0]['state'] == 'open'
