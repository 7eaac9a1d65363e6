#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: failed_hosts
short_description: Find the hosts of the play whose checks failed (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Run once for the play. Reads the results in the variable named by O(results_from) of every host of the play and
    returns the hosts that a failed or errored result is about, each with the messages of those results.
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
    It reads what it needs from the task's variables. Below C(-vvv) the callback shows a result that did not fail without its values.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
options:
  results_from:
    description: The name of the variable of each host that holds the results of the step before.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Find the hosts whose static checks failed
  portproof.validate.failed_hosts:
    results_from: portproof_last_results
  register: portproof_failed
  run_once: true

- name: Fail them, each with its own failures
  ansible.builtin.fail:
    msg: "{{ portproof_failed.hosts[inventory_hostname] }}"
  when: inventory_hostname in portproof_failed.hosts
"""

RETURN = r"""
hosts:
  description: The hosts whose results failed or errored, by name, each with the messages of those results.
  returned: success
  type: dict
  sample: {db1: ["postgres: 0.0.0.0:5432 is bound, but the contract says loopback"]}
"""
