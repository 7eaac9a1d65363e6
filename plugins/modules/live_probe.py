#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: live_probe
short_description: Probe the planned targets of one source of a live step (private)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Runs M(portproof.validate.port_probe) once on the host with every probe the plan of the step
    (C(portproof_live_step), from M(portproof.validate.live_plan)) gives the source, when the step probes, and
    once per load entry of the source when O(kinds) has V(load). The HTTP secrets the plan leaves out are added
    from the contract variables and never returned.
  - This is an action plugin; the probes run on the host (or the host the task is delegated to).
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.live_step
  - portproof.validate.controller_step
  - portproof.validate.probe_guard
attributes:
  action:
    support: full
    details: The action plugin takes its part of the plan on the controller and runs M(portproof.validate.port_probe) on the host
      (or the host the task is delegated to).
options:
  source:
    description:
      - The source whose part of the plan to probe, for a task delegated to it (or to the controller);
        the host the task runs for when not given.
    type: str
  max_requests:
    description: O(portproof.validate.port_probe#module:load.max_requests) of the load runs.
    type: raw
    default: 10000
  max_concurrency:
    description: O(portproof.validate.port_probe#module:load.max_concurrency) of the load runs.
    type: raw
    default: 100
  deadline:
    description: O(portproof.validate.port_probe#module:load.deadline) of the load runs.
    type: raw
    default: 60.0
"""

EXAMPLES = r"""
- name: Probe every planned target of each source in the play, in one task
  portproof.validate.live_probe:
    kinds: [reach, isolation]
  register: portproof_live_run
  ignore_unreachable: true
"""

RETURN = r"""
source:
  description: The source probed from.
  returned: always
  type: str
probe:
  description: The result of the port_probe run with all the probes of the source; null when it had none to run.
  returned: always
  type: dict
load:
  description: The result of each load run, in the order of the plan's load entries of the source.
  returned: always
  type: list
  elements: dict
"""
