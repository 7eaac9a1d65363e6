#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: discover_write
short_description: Write the contract discovered from the play's hosts on the controller (private to the roles)
version_added: 0.2.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - Infers a contract from the port facts of every host of the play (run it once for the play, after
    M(portproof.validate.port_facts)) and writes it to C(portproof_discover_dir) on the controller - C(host_vars/<host>.yml),
    C(group_vars/<group>.yml) for what every member of a group serves alike, C(hosts.yml) (no hosts, so that the
    directory is an inventory source of variables only), C(README.md) and a marker file listing what it wrote.
  - It refuses a directory that is not empty and holds no marker of an earlier discover; in one that does, it replaces
    the files it wrote then and removes those it no longer writes. Nothing changes on any host.
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
    details: In check mode nothing is written and RV(written) says whether a file would be.
options: {}
"""

EXAMPLES = r"""
- name: Write the discovered contract to portproof_discover_dir (portproof-discovered by default)
  portproof.validate.discover_write:
  run_once: true
"""

RETURN = r"""
path:
  description: The directory written (absolute).
  returned: always
  type: str
files:
  description: The files of the discovered contract, relative to RV(path).
  returned: success
  type: list
  elements: str
removed:
  description: Files an earlier discover wrote in RV(path) that this one no longer writes, now removed.
  returned: success
  type: list
  elements: str
written:
  description: Whether a file was written or removed (or would be, in check mode).
  returned: success
  type: bool
hosts:
  description: The hosts whose facts were used.
  returned: success
  type: list
  elements: str
not_gathered:
  description: The hosts of the play without port facts (unreachable or failed), for which nothing is proposed.
  returned: success
  type: list
  elements: str
verification:
  description: Per host, the static checks that would not pass with the discovered contract over the same facts (empty when all pass).
  returned: success
  type: dict
"""
