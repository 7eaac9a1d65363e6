#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: report_write
short_description: Write the portproof report of every host of the play on the controller, in one task (private)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice. The role
    C(portproof.validate.report) calls it; use that role."
  - Collects C(portproof_results) of every host of the play (C(ansible_play_hosts_all)) on the controller and writes
    every report file to O(dest) - C(results.json), C(junit.xml), C(summary.md), C(report.html), C(metrics.prom), and
    C(facts/<host>.json) (the evidence of each host of the play, also of the hosts that left the play). C(docs/report.md)
    of the collection describes each file.
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
    Run it once (C(run_once)); the role C(portproof.validate.report) does, delegated to C(localhost).
  - Each file is written atomically (a temporary file in the same directory, then renamed over the old one) with mode
    C(0644); missing directories are made with mode C(0755). A file whose content is unchanged is not rewritten.
  - The report's C(generated) time (UTC, to the second) is in every file but C(summary.md), so a later run normally
    rewrites the others and reports RV(ignore:changed).
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written and RV(ignore:changed) says whether any file would change.
  platform:
    support: full
    platforms: posix
    details: The files are written on the controller, whatever the host the task runs for.
options:
  dest:
    description:
      - The report directory on the controller. A relative path is relative to the current directory of
        C(ansible-playbook); C(~) is expanded. It is made if it does not exist.
      - RV(summary.report_dir) is its real path (symbolic links resolved).
    type: path
    required: true
notes:
  - The report covers the hosts of the play of the task (C(ansible_play_hosts_all), C(ansible_play_hosts) and
    C(hostvars) of the task's variables); include the task in the same play as the checks, after them.
  - A failure (O(dest) is a file, a permission denied, a file that cannot be replaced) fails the task with the path
    and the reason.
seealso:
  - module: ansible.builtin.copy
    description: The report role wrote each file with one C(copy) task (one module run per file) before this action.
"""

EXAMPLES = r"""
- name: Write the report of the play on the controller
  portproof.validate.report_write:
    dest: portproof-report
  register: written
  run_once: true
  delegate_to: localhost

- name: Say what it found and where the report is
  ansible.builtin.debug:
    msg: "{{ written.summary.headline }}; see {{ written.summary.report_dir }}/report.html"
  run_once: true
"""

RETURN = r"""
summary:
  description:
    - The C(summary) of the report, as in C(results.json); see C(docs/report.md) of the collection.
  returned: always
  type: dict
  sample:
    version: 1
    status: fail
    headline: "FAIL: 3 fail, 69 pass of 72 results on 5 hosts"
    generated: "2026-11-22T04:10:55Z"
    report_dir: /ci/portproof-report
    total: 72
    pass: 69
    fail: 3
    error: 0
    skip: 0
    hosts:
      db1: {status: fail, total: 13, pass: 10, fail: 3, error: 0, skip: 0, reachable: true, address: 10.1.0.14,
            facts: facts/db1.json}
    checks:
      reach: {pass: 8, fail: 1, error: 0, skip: 0}
  contains:
    status:
      description: V(fail) if any result failed, else V(error) if any errored, else V(pass).
      type: str
    headline:
      description: The outcome in one line.
      type: str
    generated:
      description: When the report was made (UTC, ISO 8601, to the second).
      type: str
    report_dir:
      description: The real path of O(dest).
      type: str
    total:
      description: The number of results.
      type: int
    pass:
      description: The number of results that passed.
      type: int
    fail:
      description: The number of results that failed.
      type: int
    error:
      description: The number of results that could not be decided.
      type: int
    skip:
      description: The number of results that were skipped.
      type: int
    hosts:
      description: The counts and status of each host, its address and the path of its facts file relative to O(dest).
      type: dict
    checks:
      description: The counts of each check kind.
      type: dict
console:
  description:
    - What the role C(portproof.validate.report) prints, every line with its control characters shown as C(\\xNN).
  returned: always
  type: dict
  sample:
    outcome: "portproof FAIL: 72 results on 5 hosts: 69 pass, 3 fail, 0 error, 0 skip; report: /ci/portproof-report"
    failures: ["FAIL db1 postgres reach from app2: postgres: app2 cannot reach 10.1.0.14:5432/tcp: timeout"]
    hosts:
      db1: ["FAIL db1 postgres reach from app2: postgres: app2 cannot reach 10.1.0.14:5432/tcp: timeout"]
  contains:
    outcome:
      description: The outcome in one line, with the counts and the report's path.
      type: str
    failures:
      description:
        - "One line per failed or errored result (C(STATUS HOST SERVICE CHECK [from SOURCE]: MESSAGE)), the first 20, then one
          saying how many more there are."
      type: list
      elements: str
    hosts:
      description:
        - For each host of the play that a failed or errored result is about, its lines (the first 20, then a count). A
          result about a host outside the play is under the host that recorded it; one about a host that left the play is
          under none.
      type: dict
files:
  description: The absolute path of every file of the report, written or not (unchanged, or check mode).
  returned: always
  type: list
  elements: str
  sample:
    - /ci/portproof-report/results.json
    - /ci/portproof-report/junit.xml
    - /ci/portproof-report/summary.md
    - /ci/portproof-report/report.html
    - /ci/portproof-report/metrics.prom
    - /ci/portproof-report/facts/db1.json
"""
