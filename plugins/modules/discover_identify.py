#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: discover_identify
short_description: Learn what answers on each listener discover may propose (private to the roles)
version_added: 0.2.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - For the host it runs for, after M(portproof.validate.port_facts), asks each listener that discover may propose (TCP
    listeners not on loopback only and not on an ephemeral port, UDP ones on 53 and 123, published container ports) what
    answers, by running M(portproof.validate.port_probe) once on the host with every credential-free handshake of the
    protocol identification at once, bounded by C(portproof_probe_timeout) (default 5 seconds). No module runs when the
    host has no such listener. The private action C(discover_write) turns the answers into C(check) suggestions.
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
options: {}
"""

EXAMPLES = r"""
- name: Learn what answers on each listener discover may propose
  portproof.validate.discover_identify:
  register: portproof_discover_identified
"""

RETURN = r"""
identified:
  description:
    - Per host port (C(80/tcp)), what answers there - C(answered) (the protocols recognised), C(label) (as in the
      C(undeclared) results of strict mode) and C(status) (the HTTP status that answered C(GET /) when HTTP did, else null).
    - Empty when the host has no listener to ask.
  returned: success
  type: dict
  sample: {"80/tcp": {answered: [http], label: answers as http, status: 200}}
probes:
  description: How many port_probe targets were run (every handshake of every listener asked, in one run).
  returned: success
  type: int
"""
