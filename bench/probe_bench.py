# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""port_probe benchmark: 1,000 targets from one host, against ansible.builtin.wait_for.

Builds two network namespaces of its own (ppprb-bench*-src/-dst, removed at the end), with
1,000 ports on the target host: a third open, a third refused (nothing listens), a third
dropped by the target's nft firewall. From the source host, in the same run:

  1. port_probe's layer over all 1,000 targets, 1 s timeout each (module time = elapsed_ms);
  2. the port_probe module over the same 1,000 through ansible (connection local);
  3. ansible.builtin.wait_for looping over 50 of them (17 open, 17 refused, 16 dropped), timeout 1;
  4. port_probe through ansible over the same 50, like for like;

then prints the figures and the per-probe ratio. Needs root, ip and nft.
Usage: sudo .venv/bin/python bench/probe_bench.py [--json bench/results/probe.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'labtest'))

from probe_lab import DST_ADDR, ProbeLab, lab_usable  # noqa: E402 pylint: disable=wrong-import-position

BASE = 20000
COUNT = 1000
TARGET_PYTHON = '/usr/bin/python3' if os.access('/usr/bin/python3', os.X_OK) else sys.executable
ANSIBLE_BIN = os.path.join(REPO, '.venv', 'bin')


def plan():
    ports = list(range(BASE, BASE + COUNT))
    third = COUNT // 3
    open_ports = ports[:third + 1]                  # 334
    refused_ports = ports[third + 1:2 * third + 1]  # 333
    dropped_ports = ports[2 * third + 1:]           # 333
    return open_ports, refused_ports, dropped_ports


def sample_of_50(open_ports, refused_ports, dropped_ports):
    return ([{'host': DST_ADDR, 'port': p} for p in open_ports[:17]] + [{'host': DST_ADDR, 'port': p} for p in refused_ports[:17]]
            + [{'host': DST_ADDR, 'port': p} for p in dropped_ports[:16]])


class Ansible(object):
    """ansible / ansible-playbook run inside the lab's source namespace, connection local."""

    def __init__(self, lab, workdir):
        self.lab = lab
        self.workdir = workdir
        collections = os.path.join(workdir, 'collections')
        os.makedirs(os.path.join(collections, 'ansible_collections', 'portproof'))
        os.symlink(REPO, os.path.join(collections, 'ansible_collections', 'portproof', 'validate'))
        self.env = ['env', 'ANSIBLE_COLLECTIONS_PATH=' + collections, 'ANSIBLE_HOME=' + os.path.join(workdir, 'home'),
                    'ANSIBLE_LOCALHOST_WARNING=false', 'ANSIBLE_INVENTORY_UNPARSED_WARNING=false', 'ANSIBLE_NOCOLOR=1',
                    'ANSIBLE_PYTHON_INTERPRETER=' + TARGET_PYTHON]

    def playbook(self, name, tasks, extra):
        path = os.path.join(self.workdir, name + '.yml')
        with open(path, 'w') as handle:
            json.dump([{'hosts': 'localhost', 'gather_facts': False, 'connection': 'local', 'tasks': tasks}], handle)
        varfile = os.path.join(self.workdir, name + '.vars.json')
        with open(varfile, 'w') as handle:
            json.dump(extra, handle)
        began = time.monotonic()
        proc = self.lab.run_src(self.env + [os.path.join(ANSIBLE_BIN, 'ansible-playbook'), '-i', 'localhost,', path, '-e', '@' + varfile],
                                timeout=900)
        wall = time.monotonic() - began
        if proc.returncode != 0:
            raise RuntimeError('%s failed: %s %s' % (name, proc.stdout[-2000:], proc.stderr[-2000:]))
        return wall, os.path.join(self.workdir, name + '.out.json')


def port_probe_tasks(out):
    return [
        {'name': 'probe', 'portproof.validate.port_probe': {'targets': '{{ targets }}'}, 'register': 'probe'},
        {'name': 'save', 'ansible.builtin.copy': {'content': '{{ probe | to_json }}', 'dest': out}},
    ]


def wait_for_tasks(out):
    return [
        {'name': 'wait_for each', 'ansible.builtin.wait_for': {'host': '{{ item.host }}', 'port': '{{ item.port }}', 'timeout': 1},
         'loop': '{{ targets }}', 'ignore_errors': True, 'register': 'waited'},
        {'name': 'save', 'ansible.builtin.copy': {'content': '{{ waited.results | map(attribute="failed") | list | to_json }}', 'dest': out}},
    ]


def noop_tasks(out):
    return [{'name': 'save', 'ansible.builtin.copy': {'content': '[]', 'dest': out}}]


def states(result):
    counts = {}
    for probe in result['probes']:
        counts[probe['state']] = counts.get(probe['state'], 0) + 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', help='also write the figures to this file')
    args = parser.parse_args()
    if not lab_usable():
        sys.exit('probe_bench: needs root, ip and nft')
    open_ports, refused_ports, dropped_ports = plan()
    targets = [{'host': DST_ADDR, 'port': port, 'timeout': 1.0} for port in open_ports + refused_ports + dropped_ports]
    fifty = sample_of_50(open_ports, refused_ports, dropped_ports)
    workdir = tempfile.mkdtemp(prefix='ppprb-bench-')
    figures = {}
    try:
        with ProbeLab(tag='bench%s' % os.urandom(2).hex()) as lab:
            lab.services({'address': DST_ADDR, 'open': open_ports})
            lab.firewall('table inet ppprb_bench {\n chain input {\n  type filter hook input priority 0; policy accept;\n'
                         '  tcp dport %d-%d drop\n }\n}\n' % (dropped_ports[0], dropped_ports[-1]))

            # 1. the layer (what the module runs), in the source namespace
            result, wall = lab.probe({'targets': targets}, python=TARGET_PYTHON)
            figures['layer'] = {'probes': len(result['probes']), 'module_s': result['elapsed_ms'] / 1000.0,
                                'process_wall_s': wall, 'states': states(result)}

            ansible = Ansible(lab, workdir)
            # Ansible's own start-up and the save task, to subtract from the playbooks below.
            noop_wall, _out = ansible.playbook('noop', noop_tasks(os.path.join(workdir, 'noop.out.json')), {})

            # 2. the module through ansible over all 1,000
            wall, out = ansible.playbook('probe1000', port_probe_tasks(os.path.join(workdir, 'probe1000.out.json')), {'targets': targets})
            with open(out) as handle:
                module_result = json.load(handle)
            figures['module_1000'] = {'probes': len(module_result['probes']), 'module_s': module_result['elapsed_ms'] / 1000.0,
                                      'playbook_wall_s': wall, 'task_s': wall - noop_wall, 'states': states(module_result)}

            # 3. wait_for over 50 of them, one after the other
            wall, out = ansible.playbook('waitfor50', wait_for_tasks(os.path.join(workdir, 'waitfor50.out.json')), {'targets': fifty})
            with open(out) as handle:
                failed = json.load(handle)
            figures['wait_for_50'] = {'probes': len(failed), 'playbook_wall_s': wall, 'task_s': wall - noop_wall,
                                      'succeeded': failed.count(False), 'failed': failed.count(True)}

            # 4. port_probe through ansible over the same 50
            wall, out = ansible.playbook('probe50', port_probe_tasks(os.path.join(workdir, 'probe50.out.json')), {'targets': [
                dict(target, timeout=1.0) for target in fifty]})
            with open(out) as handle:
                result50 = json.load(handle)
            figures['module_50'] = {'probes': 50, 'module_s': result50['elapsed_ms'] / 1000.0, 'playbook_wall_s': wall,
                                    'task_s': wall - noop_wall, 'states': states(result50)}
            figures['ansible_startup_s'] = noop_wall
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    layer = figures['layer']
    module = figures['module_1000']
    waited = figures['wait_for_50']
    per_probe_pp = module['module_s'] / module['probes']
    per_probe_pp_task = module['task_s'] / module['probes']
    per_probe_wf = waited['task_s'] / waited['probes']
    figures['per_probe'] = {'port_probe_module_ms': per_probe_pp * 1000, 'port_probe_task_ms': per_probe_pp_task * 1000,
                            'wait_for_task_ms': per_probe_wf * 1000, 'ratio_module_time': per_probe_wf / per_probe_pp,
                            'ratio_task_time': per_probe_wf / per_probe_pp_task}
    figures['target_met'] = module['module_s'] < 3.0 and layer['module_s'] < 3.0

    print('port_probe benchmark: 1,000 TCP targets (334 open, 333 refused, 333 dropped by nft), timeout 1 s, '
          'target python %s' % TARGET_PYTHON)
    print('  layer in the source namespace : %4d probes, module time %.3f s (process wall %.3f s), states %s' % (
        layer['probes'], layer['module_s'], layer['process_wall_s'], layer['states']))
    print('  module through ansible        : %4d probes, module time %.3f s, task %.3f s (playbook %.3f s), states %s' % (
        module['probes'], module['module_s'], module['task_s'], module['playbook_wall_s'], module['states']))
    print('  module through ansible, 50    : %4d probes, module time %.3f s, task %.3f s' % (
        50, figures['module_50']['module_s'], figures['module_50']['task_s']))
    print('  wait_for loop, 50             : %4d probes, task %.3f s (playbook %.3f s), %d succeeded, %d failed' % (
        waited['probes'], waited['task_s'], waited['playbook_wall_s'], waited['succeeded'], waited['failed']))
    print('  ansible start-up (no-op play) : %.3f s, subtracted from the task times' % figures['ansible_startup_s'])
    print('  per probe: port_probe %.3f ms of module time (%.3f ms of task time), wait_for %.1f ms of task time' % (
        per_probe_pp * 1000, per_probe_pp_task * 1000, per_probe_wf * 1000))
    print('  ratio wait_for / port_probe per probe: %.0fx on module time, %.0fx on task time' % (
        figures['per_probe']['ratio_module_time'], figures['per_probe']['ratio_task_time']))
    print('  target (1,000 probes in under 3 s of module time): %s' % ('met' if figures['target_met'] else 'NOT met'))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as handle:
            json.dump(figures, handle, indent=2, sort_keys=True)
    return 0 if figures['target_met'] else 1


if __name__ == '__main__':
    sys.exit(main())
