#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restart_step
short_description: Plan the restart drill and judge each restart (private to the role restart_drill)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice. The role
    C(portproof.validate.restart_drill) runs it."
  - "O(stage=plan), run once for the play: the services to restart, host after host in play order, each service in
    contract order (those published from containers left out), each with the allowed source that polls its port after
    the restart: the first C(allow_from) entry that is an inventory host other than the target, a group with a member
    other than the target (its first, sorted) or C(controller); TCP services only."
  - "O(stage=record): the C(restart) result of one service from what M(portproof.validate.restart_unit) measured on
    its host and what M(portproof.validate.port_probe) saw from the source (C(downtime_s), C(reachable_s))."
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
options:
  stage:
    description: V(plan) for the play's steps, V(record) for one step's result.
    type: str
    required: true
    choices: [plan, record]
  step:
    description: One step of the plan (O(stage=record)).
    type: dict
  restarted:
    description: What M(portproof.validate.restart_unit) returned for the step (O(stage=record)).
    type: dict
  probed:
    description: What M(portproof.validate.port_probe) returned from the step's source, or its skipped result (O(stage=record)).
    type: dict
"""

EXAMPLES = r"""
- name: Plan the drill
  portproof.validate.restart_step:
    stage: plan
  register: portproof_restart_plan
  run_once: true
"""

RETURN = r"""
steps:
  description: The steps (O(stage=plan)), each with host, service, port, proto, max_s, source, delegate_to, address.
  returned: when O(stage=plan)
  type: list
  elements: dict
runner:
  description: The host the plan ran for, which keeps the drill's results (O(stage=plan)).
  returned: when O(stage=plan)
  type: str
result:
  description: The C(restart) result of the step (O(stage=record)).
  returned: when O(stage=record)
  type: dict
"""
