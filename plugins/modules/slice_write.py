#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: slice_write
short_description: Write the partial results of one slice of a sliced run (private to the roles)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Run once for the play of one slice (C(portproof_run_id) set). Writes what the report reads of every host of the
    play (its results, whether it stayed in the play, its contract and port facts) to
    C(<dest>/<run_id>/<slice>.json), atomically, for the merge (playbook C(portproof.validate.merge)).
  - This is an action plugin. It runs in the controller's Ansible process and never connects to the host it runs for.
    It reads what it needs from the task's variables.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
options:
  dest:
    description: The results directory of sliced runs on the controller (C(portproof_results_dir)).
    type: path
    required: true
  run_id:
    description: The id of the sliced run (C(portproof_run_id)).
    type: str
    required: true
  slice:
    description: The name of the slice (C(portproof_slice)); empty, the name of the first host of the play.
    type: str
    default: ""
  hosts:
    description:
      - Every host of the run that the slice knows (C(portproof_hosts) of its inventory); the merge fails when a slice did
        not know every host of the run (an inventory pared down to the slice's hosts).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Write the results of this slice
  portproof.validate.slice_write:
    dest: portproof-results
    run_id: "4711"
    slice: "1"
    hosts: "{{ query('ansible.builtin.inventory_hostnames', 'all') }}"
  run_once: true
"""

RETURN = r"""
path:
  description: The file written.
  returned: success
  type: str
  sample: /srv/portproof-results/4711/1.json
slice:
  description: The name of the slice.
  returned: success
  type: str
  sample: "1"
hosts:
  description: How many hosts the slice wrote.
  returned: success
  type: int
  sample: 667
"""
