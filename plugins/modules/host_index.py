#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_index
short_description: Refuse a play that checks nothing and index the hosts' addresses (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Run once for the play, after each host's contract is loaded. Fails when no host of the play declares a service and
    C(portproof_strict) is off for all of them (the play would check nothing), unless O(refuse=false).
  - Returns where each host of the inventory is reached, which the static checks, drift and the baseline read instead
    of every host's variables.
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
    It reads what it needs from the task's variables. Below C(-vvv) the callback shows a result that did not fail without its values.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
options:
  refuse:
    description: Whether to refuse a play that checks nothing; V(false) only indexes the addresses (the role discover,
      whose hosts have no contract yet).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Refuse a play that would check nothing and index where the hosts are reached
  portproof.validate.host_index:
  register: portproof_host_index
  run_once: true
"""

RETURN = r"""
host_addresses:
  description: The C(portproof_address), C(ansible_host) and C(portproof_controller_address) of each inventory host that sets them.
  returned: success
  type: dict
"""
