#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check_drift
short_description: Compare a host with its saved baseline (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Compares the host's declared services and the host itself with C(portproof_baseline_dir/<host>.json) on the
    controller. Skipped when the baseline directory does not exist.
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
- name: Compare the host with its baseline
  portproof.validate.check_drift:
  register: drift_checked
"""

RETURN = r"""
new:
  description: The drift results of this step.
  returned: success
  type: list
  elements: dict
results:
  description: The results of the host (C(portproof_results)) followed by RV(new).
  returned: success
  type: list
  elements: dict
"""
