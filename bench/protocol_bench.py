# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Protocol identification benchmark: 1,000 protocol probes across real servers, against 3 s.

Builds a lab host (tests/lab) running the real servers of tests/labtest/test_protocols.py
(nginx over HTTP and TLS, OpenSSH, PostgreSQL, MariaDB, Redis, memcached, RabbitMQ, Postfix,
Dovecot IMAP/POP3, vsftpd, dnsmasq, NTPsec, slapd; torn down at the end), then runs port_probe's
layer with the system Python inside the host's namespace over 1,000 targets, each asking the
protocol its server speaks, spread evenly over the servers (the batch is sent ROUNDS times,
waiting for each to finish). Module time is what the module measures (elapsed_ms); prints the
figures, how many were identified, and the ratio to the 3 s target.

The servers lift their per-address caps, as they would for a monitoring host: vsftpd
max_per_ip=0 (its default of 50 answers the rest 421) and NTPsec a "restrict ADDRESS" line of
its own for the probing address (under the default restriction it answers about 20 of a burst
from one address and then nothing for a while).
The slowest identified probe shows how long the answered ones took.
Usage: sudo .venv/bin/python bench/protocol_bench.py [--rounds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'lab'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'labtest'))

from portproof_lab import Lab  # noqa: E402 pylint: disable=wrong-import-position,import-error
from test_protocols import DAEMONS, SERVERS  # noqa: E402 pylint: disable=wrong-import-position,import-error

COUNT = 1000
TARGET_S = 3.0
TIMEOUT = 2.0
TARGET_PYTHON = '/usr/bin/python3' if os.access('/usr/bin/python3', os.X_OK) else sys.executable
RUNNER = os.path.join(REPO, 'tests', 'labtest', 'probe_runner.py')


def targets(address):
    servers = sorted(SERVERS.items())
    return [{'host': address, 'port': port, 'proto': proto, 'protocol': speaks, 'timeout': TIMEOUT}
            for (port, proto), speaks in (servers[index % len(servers)] for index in range(COUNT))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--json', help='also write the figures here')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('protocol_bench: needs root (network namespaces)')
    lab = Lab({'hosts': [{'name': 'srv', 'ipv6': False, 'daemons': DAEMONS}]})  # its own directory, removed at down()
    try:
        lab.up()
        batch = targets(lab.address('srv'))
        series = {'all servers': [measure(lab, batch) for _round in range(args.rounds)]}
    finally:
        lab.down()
    figures = {'probes': COUNT, 'servers': len(SERVERS), 'rounds': args.rounds, 'timeout_s': TIMEOUT, 'target_s': TARGET_S}
    for label, rounds in series.items():
        module = [item['module_ms'] / 1000.0 for item in rounds]
        entry = {
            'module_s': [round(value, 3) for value in module], 'module_s_median': round(statistics.median(module), 3),
            'wall_s': [item['wall_s'] for item in rounds],
            'slowest_answer_ms': [item['slowest_answer_ms'] for item in rounds],
            'ratio_to_target': round(statistics.median(module) / TARGET_S, 3),
            'identified': dict(sorted(rounds[-1]['passed'].items())),
        }
        figures[label] = entry
        print('%s: %d protocol probes, %d rounds' % (label, COUNT, len(rounds)))
        print('  module time (s): %s; median %.3f' % (', '.join('%.3f' % v for v in module), statistics.median(module)))
        print('  wall time incl. interpreter start (s): %s' % ', '.join('%.3f' % item['wall_s'] for item in rounds))
        print('  slowest identified probe, connect to verdict (ms): %s' % ', '.join(
            '%.0f' % item['slowest_answer_ms'] for item in rounds if item['slowest_answer_ms'] is not None))
        print('  identified (last round): %s' % ', '.join('%s %s' % item for item in entry['identified'].items()))
        print('  median module time / %.0f s target = %.2f (%s)' % (
            TARGET_S, entry['ratio_to_target'], 'within target' if entry['ratio_to_target'] < 1 else 'OVER target'))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(figures, handle, indent=1, sort_keys=True)


def measure(lab, batch):
    began = time.monotonic()
    proc = lab.ns('srv', [TARGET_PYTHON, RUNNER], input_text=json.dumps({'targets': batch}), timeout=120)
    wall = time.monotonic() - began
    result = json.loads(proc.stdout)
    passed = {}
    for probe, target in zip(result['probes'], batch):
        total, good = [int(part) for part in passed.get(target['protocol'], '0/0').split('/')][::-1]
        good += probe['response'][0]['status'] == 'pass'
        passed[target['protocol']] = '%d/%d' % (good, total + 1)
    answered = [probe['total_ms'] for probe in result['probes'] if probe['response'][0]['status'] == 'pass']
    return {'module_ms': result['elapsed_ms'], 'wall_s': round(wall, 3), 'passed': passed,
            'slowest_answer_ms': max(answered) if answered else None}


if __name__ == '__main__':
    main()
