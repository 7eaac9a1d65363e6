#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: merge_write
short_description: Merge the slices of a sliced run into one report (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Reads the partial results of every slice of the run O(run_id) (C(<src>/<run_id>/*.json)), fails when a host of
    O(hosts) was covered by no slice (a missing slice) or by more than one (a duplicated slice), and writes the report of
    the whole run to O(dest), every file as for one unsliced run.
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
options:
  src:
    description: The results directory of sliced runs (C(portproof_results_dir)).
    type: path
    required: true
  dest:
    description: The report directory (C(portproof_report_dir)).
    type: path
    required: true
  run_id:
    description: The id of the sliced run (C(portproof_run_id)).
    type: str
    required: true
  hosts:
    description: Every host of the run, in inventory order (C(portproof_hosts) through the C(ansible.builtin.inventory_hostnames) lookup).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Merge the slices of run 4711
  portproof.validate.merge_write:
    src: portproof-results
    dest: portproof-report
    run_id: "4711"
    hosts: "{{ query('ansible.builtin.inventory_hostnames', 'all') }}"
  run_once: true
"""

RETURN = r"""
summary:
  description: The summary of the report (as in C(results.json)).
  returned: success
  type: dict
files:
  description: The files of the report.
  returned: success
  type: list
  elements: str
console:
  description: The outcome line, the failures to show and the failures of each host.
  returned: success
  type: dict
failed_hosts:
  description: The hosts that a failed or errored result is about.
  returned: success
  type: list
  elements: str
"""
