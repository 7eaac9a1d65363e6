#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: discover_identify
short_description: Ask, from a source, what answers on the listeners a host could not reach itself (private to the roles)
version_added: 0.2.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Each host asks its own listeners in its one M(portproof.validate.discover_gather) run. This action asks the TCP
    listeners a host could not reach itself (its own firewall keeps out what it sends itself) from elsewhere.
  - With O(step=plan) (once for the play), for each such listener, the first source the host's static firewall verdict
    lets in - a host of the play from an inventory group, else the controller. With O(step=source) (on each such source
    host, or delegated to the controller with O(source=controller)), that source asks, at the inventory address of each
    host, every listener the plan gives it, in one M(portproof.validate.port_probe) run bounded by
    C(portproof_probe_timeout) (default 5 seconds). The private action C(discover_write) turns the answers into C(check)
    suggestions.
  - This is an action plugin. It runs in the controller's Ansible process and reads what it needs from the task's variables.
    Below C(-vvv) the callback shows a result that did not fail without its values. Nothing changes on the host.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
attributes:
  action:
    support: full
    details: The action plugin computes the probes on the controller and runs M(portproof.validate.port_probe) on the host.
  check_mode:
    support: full
    details: The probes only read; they run in check mode too.
options:
  step:
    description:
      - V(plan) plans who asks the listeners a host could not reach
        itself (reads the C(identified) of the C(portproof_discover_gathered) result of every host of the play, which the
        role registers from M(portproof.validate.discover_gather)); V(source) asks those the
        plan (C(portproof_discover_fallback)) gives this source.
    type: str
    choices: [plan, source]
    required: true
  source:
    description: With O(step=source), the source the plan names - C(controller) when delegated to the controller; default
      the inventory name of the host.
    type: str
"""

EXAMPLES = r"""
- name: Plan who asks the listeners a host could not reach itself
  portproof.validate.discover_identify:
    step: plan
  register: portproof_discover_fallback
  run_once: true
"""

RETURN = r"""
probes:
  description: How many port_probe targets were run (every handshake of every listener asked, in one run).
  returned: O(step=source)
  type: int
plan:
  description: With O(step=plan), per source (a host, or C(controller)), the listeners it asks - C(host), C(address),
    C(key) (C(80/tcp)) and the port_probe C(targets).
  returned: O(step=plan)
  type: dict
sources:
  description: With O(step=plan), the hosts of the play that ask for another host.
  returned: O(step=plan)
  type: list
  elements: str
controller:
  description: With O(step=plan), whether the controller asks for a host.
  returned: O(step=plan)
  type: bool
asked:
  description: With O(step=source), per host asked, what answers on each of its listeners, as in the C(identified)
    result of M(portproof.validate.discover_gather), with C(via) (the source).
  returned: O(step=source)
  type: dict
"""
