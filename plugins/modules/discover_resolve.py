#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: discover_resolve
short_description: Resolve the names of the other hosts as this host's clients do, for discover (private to the roles)
version_added: 0.2.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - For the host it runs for, resolves the candidate DNS names of every other host of the play (its inventory name and its
    C(ansible_host), each when it is a DNS name and not an address) by running M(portproof.validate.port_probe) once on the
    host with its O(portproof.validate.port_probe#module:resolve) option (C(getaddrinfo), as the host's clients resolve),
    bounded by C(portproof_probe_timeout) (default 5 seconds). No module runs when there is no name to resolve. The
    private action C(discover_write) proposes C(names) for a service only where every allowed source resolved the name to
    the address the host is reached at, and to nothing else.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
attributes:
  action:
    support: full
    details: The action plugin computes the names on the controller and runs M(portproof.validate.port_probe) on the host.
  check_mode:
    support: full
    details: Resolving only reads; it runs in check mode too.
options: {}
"""

EXAMPLES = r"""
- name: Resolve the names of the other hosts, as this host's clients do
  portproof.validate.discover_resolve:
  register: portproof_discover_resolved
"""

RETURN = r"""
names:
  description: The names resolved (the candidates of every other host of the play), in the order asked.
  returned: success
  type: list
  elements: str
  sample: [db1, db1.example.internal]
resolved:
  description:
    - Per name, port_probe's answer - C(addresses) (null when it did not resolve), C(error) (C(nxdomain), C(servfail),
      C(no_address), C(timeout), C(other) or null), C(reason), C(ms).
    - Null when port_probe failed (a warning says why); empty when there was no name to resolve.
  returned: success
  type: dict
  sample: {db1: {name: db1, addresses: [10.1.0.5], error: null, reason: null, ms: 0.4}}
"""
