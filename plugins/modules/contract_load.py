#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: contract_load
short_description: Validate the contract of a host and start its results (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Validates the host's contract, read from the variables C(portproof_services) and C(portproof_services__*) as the
    task sees them (inventory, play vars, role vars, include_role vars, extra vars), with C(portproof_strict),
    C(portproof_ignore) and C(portproof_address); a host that already has C(portproof_contract) keeps it.
  - Fails the host with every problem of its contract, each naming the variable and the service.
  - Says which port_facts subsets to gather for the check kinds in C(portproof_checks) (RV(gather_subset)).
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
    It reads what it needs from the task's variables. Below C(-vvv) the callback shows a result that did not fail without its values.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
options: {}
"""

EXAMPLES = r"""
- name: Validate the contract of the host
  portproof.validate.contract_load:
  register: portproof_contract_loaded

- name: Keep it as the host's contract, as the role validate does
  ansible.builtin.set_fact:
    portproof_contract: "{{ portproof_contract_loaded.contract }}"
"""

RETURN = r"""
contract:
  description: The validated, normalised contract of the host, HTTP header values and basic-auth passwords masked.
  returned: success
  type: list
  elements: dict
results:
  description: The results of the host so far (C(portproof_results), empty when not set).
  returned: success
  type: list
  elements: dict
gather_now:
  description: Whether this run has yet to gather the host's port facts (C(portproof_gathered) is not set).
  returned: success
  type: bool
gather_subset:
  description:
    - The port_facts subsets the check kinds in C(portproof_checks) read, for the gather that follows.
    - C(listeners), C(firewall), C(mappings) and C(addresses) always; C(saved_firewall) and C(starters) only when
      C(persist) is among them.
  returned: success
  type: list
  elements: str
"""
