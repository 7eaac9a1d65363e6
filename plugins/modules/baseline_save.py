#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: baseline_save
short_description: Save the known-good state of a host on the controller (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Writes the state of the host's declared services to C(portproof_baseline_dir/<host>.json) on the controller,
    atomically with mode C(0644), making the directory (mode C(0755)) when it is missing. Nothing changes on the host,
    so the result is never C(changed).
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
    It reads what it needs from the task's variables. Below C(-vvv) the callback shows a result that did not fail without its values.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written and RV(written) says whether the file would be.
options: {}
"""

EXAMPLES = r"""
- name: Save the baseline of the host to portproof_baseline_dir (portproof-baseline by default)
  portproof.validate.baseline_save:
"""

RETURN = r"""
path:
  description: The baseline file of the host.
  returned: success
  type: str
written:
  description: Whether the file or its directory was written (or would be, in check mode).
  returned: success
  type: bool
saved:
  description: When the state was taken (UTC, ISO 8601, to the second).
  returned: success
  type: str
"""
