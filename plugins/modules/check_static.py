#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check_static
short_description: Evaluate the static checks of a host (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Evaluates the static checks of O(kinds) over the host's contract (C(portproof_contract)) and port facts
    (C(ansible_facts.portproof)).
  - This is an action plugin. It runs in the controller's Ansible process and reads what it needs from the task's variables.
    Below C(-vvv) the callback shows a result that did not fail without its values.
  - It connects to the host it runs for in one case only, in strict mode (C(portproof_strict)) when the host has an undeclared
    listener, to run M(portproof.validate.port_probe) once there and learn what answers on each undeclared listener (its label
    in the C(undeclared) result; see C(docs/how-checks-decide.md)).
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
attributes:
  action:
    support: full
    details: The action plugin evaluates the checks on the controller; in strict mode, when the host has an undeclared
      listener, it runs M(portproof.validate.port_probe) on the host once, to learn what answers there.
options:
  kinds:
    description: The check kinds to evaluate.
    type: list
    elements: str
    required: true
    choices: [listen, bind, process, undeclared, mapping, firewall_allow, firewall_deny, persist]
"""

EXAMPLES = r"""
- name: Evaluate the listen checks of the host
  portproof.validate.check_static:
    kinds: [listen]
  register: static_checked
"""

RETURN = r"""
new:
  description: The results of this step.
  returned: success
  type: list
  elements: dict
results:
  description: The results of the host (C(portproof_results)) followed by RV(new).
  returned: success
  type: list
  elements: dict
"""
