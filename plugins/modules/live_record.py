#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: live_record
short_description: Turn what the sources of a live step returned into results (private)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - From the plan of the step (C(portproof_live_step)) and what each source returned
    (M(portproof.validate.live_probe) registered as C(portproof_live_run) and C(portproof_live_delegated_run)),
    the results of O(kinds) each host of the play records, and the probe runs a later step of the play reuses.
  - This is an action plugin; it runs on the controller, once for the play (C(run_once)).
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.live_step
  - portproof.validate.controller_step
"""

EXAMPLES = r"""
- name: Interpret what every source returned
  portproof.validate.live_record:
    kinds: [reach, isolation]
  register: portproof_live_record
  run_once: true
"""

RETURN = r"""
hosts:
  description:
    - For each host of the play, C(portproof_results) (with the new results), C(portproof_live_last) (the new
      results) and C(portproof_lost) (why the host went down while probing, else as it was).
  returned: always
  type: dict
state:
  description: The key of the play, the kinds recorded since it last probed, and the probe runs kept.
  returned: always
  type: dict
"""
