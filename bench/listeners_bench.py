# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Listeners on a busy host: port_facts against community.general.listen_ports_facts.

A lab host with 6,000 listeners (5,000 TCP and 1,000 UDP across 5 processes). Measured in one
run on that host: the module's own work (the listeners layer, timed on the host), the whole
`port_facts` task, an `ansible.builtin.ping` task, and `community.general.listen_ports_facts`
(from the `ansible` package, in .venv-bench only), each as the one task of a playbook run
(wall time of ansible-playbook, median of 5; the alternative once). Targets: the module's work under 1 s, the
whole task at most 1.3x the ping task.
"""

from __future__ import annotations

import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

from lab_ansible import ansible_env, collections_path, timed  # noqa: E402  pylint: disable=wrong-import-position
from portproof_lab import Lab  # noqa: E402  pylint: disable=wrong-import-position

PROCESSES = ("postgres", "nginx", "haproxy", "envoy", "named")
SPEC = {"hosts": [{"name": "busy", "services": [
    {"name": name, "listen": ["tcp:0.0.0.0:%d-%d" % (20000 + 1000 * i, 20999 + 1000 * i),
                              "udp:0.0.0.0:%d-%d" % (40000 + 200 * i, 40199 + 200 * i)]}
    for i, name in enumerate(PROCESSES)]}]}

PLAYBOOK = """
- name: One task on the busy host
  hosts: busy
  gather_facts: false
  tasks:
    - name: The task measured
      %s
"""

LAYER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.portproof.validate.plugins.module_utils._sockets import _listeners
start = time.perf_counter()
listeners, unavailable, warnings = _listeners.gather("host")
print("%.4f %d" % (time.perf_counter() - start, len(listeners)))
"""


def main():
    with Lab(SPEC) as lab:
        env = ansible_env(lab)
        count = int(lab.ns("busy", ["sh", "-c", "ss -H -ltun | wc -l"]).stdout)
        print("lab host: %d listeners (ss), %d processes with 1,200 sockets each" % (count, len(PROCESSES)))
        layer = []
        for _run in range(5):
            out = lab.ssh("busy", "/usr/bin/python3 -c '%s' %s" % (LAYER, collections_path())).stdout.split()
            layer.append(float(out[0]))
            found = int(out[1])
        playbooks = {}
        for name, task in (("ping", "ansible.builtin.ping:"), ("facts", "portproof.validate.port_facts: {gather_subset: [listeners]}"),
                           ("alternative", "community.general.listen_ports_facts:")):
            playbooks[name] = os.path.join(lab.workdir, name + ".yml")
            with open(playbooks[name], "w") as handle:
                handle.write(PLAYBOOK % task)
        run = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", lab.inventory]
        ping = [timed(run + [playbooks["ping"]], env)[0] for _run in range(5)]
        facts = [timed(run + [playbooks["facts"]], env)[0] for _run in range(5)]
        bench_env = dict(env, ANSIBLE_COLLECTIONS_PATH="")
        alt_cmd = [os.path.join(REPO, ".venv-bench", "bin", "ansible-playbook"), "-i", lab.inventory, playbooks["alternative"]]
        alternative, _out = timed(alt_cmd, bench_env)

    layer_s, ping_s, facts_s = statistics.median(layer), statistics.median(ping), statistics.median(facts)
    print("")
    print("| measure | seconds | ratio |")
    print("|---|---|---|")
    print("| port_facts listeners layer on the host (%d listeners, median of 5) | %.3f | target < 1 s |" % (found, layer_s))
    print("| playbook with one ansible.builtin.ping task (median of 5) | %.2f | 1.00 |" % ping_s)
    print("| playbook with one portproof.validate.port_facts task, gather_subset=listeners (median of 5) | %.2f | %.2f x ping (target <= 1.3) |"
          % (facts_s, facts_s / ping_s))
    print("| playbook with one community.general.listen_ports_facts task (1 run) | %.2f | %.1f x port_facts |"
          % (alternative, alternative / facts_s))
    ok = layer_s < 1.0 and facts_s / ping_s <= 1.3 and found >= 6000
    print("targets %s" % ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
