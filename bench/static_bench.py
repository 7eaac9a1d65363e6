# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A host with 50 declared services: the static checks against an ansible.builtin.ping play.

One lab host runs 50 services (two processes), with a firewall rule set and two source hosts;
its contract declares all 50 (bind, process, allow_from, deny_from). Measured in one run, each
as a playbook on the same inventory: a play with one ansible.builtin.ping task, and a play with
the role validate and its static kinds, no report (contract validation, one gather, every check
evaluated on the controller). Target: the validation at most 1.5 times the ping play.
"""

from __future__ import annotations

import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

from lab_ansible import ansible_env, timed  # noqa: E402  pylint: disable=wrong-import-position
from portproof_lab import Lab  # noqa: E402  pylint: disable=wrong-import-position

SERVICES = 50
CONTRACT = [{"name": "svc%02d" % i, "port": 7000 + i, "bind": "internal", "process": "svc-a" if i % 2 else "svc-b",
             "allow_from": ["app"], "deny_from": ["web", "public"]} for i in range(SERVICES)]
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "big", "groups": ["db"], "vars": {"portproof_services": CONTRACT, "portproof_strict": True,
                                               "portproof_ignore": ["22/tcp"]},
     "services": [{"name": "svc-a", "listen": ["tcp:{address:big}:%d" % (7000 + i) for i in range(1, SERVICES, 2)]},
                  {"name": "svc-b", "listen": ["tcp:{address:big}:%d" % (7000 + i) for i in range(0, SERVICES, 2)]}],
     "iptables": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s {address:web1}/32 -p tcp -m multiport --dports 7000:7049 -j DROP\n"
                 "-A INPUT -s {address:app1}/32 -p tcp -m multiport --dports 7000:7049 -j ACCEPT\n"
                 "-A INPUT -p tcp -m multiport --dports 7000:7049 -j REJECT\nCOMMIT\n",
     "ip6tables": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m multiport --dports 7000:7049 -j REJECT\nCOMMIT\n"}]}
PING = """
- name: Ping the host
  hosts: big
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""
VALIDATE = """
- name: Validate the host's 50 services
  hosts: big
  gather_facts: false
  roles:
    - role: portproof.validate.validate
      vars:
        portproof_checks: [listen, bind, process, undeclared, firewall_allow, firewall_deny, mapping]
        portproof_report: false
        portproof_defer_failures: true
  post_tasks:
    - name: Count the results
      ansible.builtin.debug:
        msg: "results {{ portproof_results | length }} pass {{ portproof_results | selectattr('status', '==', 'pass') | list | length }}"
"""


def main():
    with Lab(SPEC) as lab:
        env = ansible_env(lab)
        paths = {}
        for name, text in (("ping", PING), ("validate", VALIDATE)):
            paths[name] = os.path.join(lab.workdir, name + ".yml")
            with open(paths[name], "w") as handle:
                handle.write(text)
        run = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", lab.inventory]
        ping = [timed(run + [paths["ping"]], env)[0] for _run in range(5)]
        validate, out = [], ""
        for _run in range(5):
            elapsed, out = timed(run + [paths["validate"]], env)
            validate.append(elapsed)
    counts = [line for line in out.splitlines() if "results " in line][-1].strip().strip('"').split('"')[-1]
    ping_s, validate_s = statistics.median(ping), statistics.median(validate)
    print("lab host with %d declared services, 2 sources, firewall rules; %s" % (SERVICES, counts))
    print("")
    print("| play | seconds (median of 5) | ratio |")
    print("|---|---|---|")
    print("| one ansible.builtin.ping task | %.2f | 1.00 |" % ping_s)
    print("| role validate, static kinds (50 services) | %.2f | %.2f x ping (target <= 1.5) |" % (validate_s, validate_s / ping_s))
    ok = validate_s / ping_s <= 1.5
    print("targets %s" % ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
