#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: live_plan
short_description: Plan the live probes of a play (private)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Decides whether a live step of the play probes, or reuses the plan and the probe run of an earlier step of
    the same play that recorded none of its O(kinds); when it probes, plans every probe of the play from the
    contracts of its hosts, grouped by source.
  - This is an action plugin; it runs on the controller, once for the play (C(run_once)).
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.live_step
  - portproof.validate.controller_step
options:
  sample:
    description:
      - Each target is probed from this many hosts of each source group (the role variable C(portproof_probe_sample)).
    type: raw
  timeout:
    description:
      - Seconds each probe may take (the role variable C(portproof_probe_timeout)).
    type: raw
  limit_hosts:
    description:
      - The hosts the run's C(--limit) selects (C(ansible_limit) through the C(ansible.builtin.inventory_hostnames)
        lookup); sources outside them are not probed but given C(skip) results. Ignored without C(--limit).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Plan the live probes of the play
  portproof.validate.live_plan:
    kinds: [reach, isolation]
  register: portproof_live_step
  run_once: true
"""

RETURN = r"""
fresh:
  description: Whether the step probes (V(false) when it reuses the probe run of an earlier step of the play).
  returned: always
  type: bool
key:
  description: The play the plan is of (its name and hosts).
  returned: always
  type: str
kinds:
  description: The kinds of the step.
  returned: always
  type: list
  elements: str
plan:
  description: The plan, grouped by source (C(sources), C(delegated), C(delegated_load), C(errors)).
  returned: always
  type: dict
probing:
  description: The sources in the play that have work in this step (the hosts the live_probe task runs on).
  returned: always
  type: list
  elements: str
delegated:
  description: The sources probed by delegation that have work in this step (C(source), C(delegate_to)).
  returned: always
  type: list
  elements: dict
summary:
  description: The line saying which source probes how many targets; null when the step does not probe.
  returned: always
  type: str
"""
