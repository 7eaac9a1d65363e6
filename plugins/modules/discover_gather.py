#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: discover_gather
short_description: Gather the port facts, identify the host's own listeners and resolve names, for discover (private to the roles)
version_added: 0.2.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice."
  - In ONE module run on the host, for the role C(discover) - gathers what M(portproof.validate.port_facts) gathers (every
    subset, the same facts under C(ansible_facts.portproof)); then, with O(identify), plans the probes that ask each
    listener discover may propose what answers (TCP listeners not on loopback only and not on an ephemeral port, UDP ones
    on 53 and 123, published container ports at O(address) for a wildcard) and runs them with the engine of
    M(portproof.validate.port_probe), every credential-free handshake of the protocol identification at once, bounded
    by O(timeout); and resolves O(names) as the host's clients do (C(getaddrinfo)), while the probes run.
  - The private action C(discover_gather) computes the arguments on the controller (the host's inventory address, the
    candidate names of the other hosts of the play) and turns the result into what C(discover_write) reads. A task gives
    O(namespaces) only; the action sets the other options from the play's variables (C(portproof_discover_identify),
    C(portproof_discover_names), C(portproof_probe_timeout), C(portproof_discover_ssh)). Nothing changes on the host.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - portproof.validate.controller_step
attributes:
  action:
    support: full
    details: The action plugin computes the arguments on the controller and runs this module, with the port facts gathering
      and the engine of M(portproof.validate.port_probe) on the host.
  check_mode:
    support: full
    details: Gathering, probing and resolving only read; they run in check mode too.
options:
  namespaces:
    description: Which network namespaces' listeners are gathered, as O(portproof.validate.port_facts#module:namespaces).
    type: str
    default: host
    choices: [host, all]
  identify:
    description: Whether the host's own listeners are asked what answers.
    type: bool
    default: false
  address:
    description: The address other hosts reach this host at (its inventory address); a container port published on a wildcard is asked there.
    type: str
  timeout:
    description: The bound, in seconds, of each probe and of the name lookups.
    type: float
    default: 5.0
  ephemeral:
    description: The first and the last port of the ephemeral range; listeners on them are not asked.
    type: list
    elements: int
    default: [32768, 60999]
  ssh:
    description: How discover treats SSH; with V(ignore), 22/tcp is not asked.
    type: str
    default: ignore
  names:
    description: The names to resolve as the host's clients do (none when empty).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Gather the port facts, ask each listener what answers and resolve the other hosts' names, in one run
  portproof.validate.discover_gather:
    namespaces: all
  register: portproof_discover_gathered
"""

RETURN = r"""
ansible_facts:
  description: The port facts, as M(portproof.validate.port_facts) returns them.
  returned: always
  type: dict
targets:
  description: The port_probe targets of the identification (empty without O(identify) or when no listener is asked).
  returned: always
  type: list
  elements: dict
  sample: [{name: discover 80/tcp/http, host: 127.0.0.1, port: 80, proto: tcp, protocol: http, timeout: 5.0}]
probe:
  description:
    - What the port_probe engine returned for C(targets) and O(names) (C(probes), C(resolved)), or C(failed) and C(msg)
      when the probes could not run; null when there was nothing to probe or resolve.
  returned: always
  type: dict
  sample: {probes: [], resolved: [{name: db1, addresses: [10.1.0.5], error: null, reason: null, ms: 0.4}], ok: true}
"""

from typing import Any, Dict

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.portproof.validate.plugins.module_utils._command import Limits
from ansible_collections.portproof.validate.plugins.module_utils._discover._plan import identify_plan
from ansible_collections.portproof.validate.plugins.module_utils._gather import gather_facts
from ansible_collections.portproof.validate.plugins.module_utils._probe._argspec import ARGUMENT_SPEC
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import ProbeConfigError

# port_facts' own bounds (its option defaults)
ENGINE_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0
DEADLINE = 120.0


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            namespaces=dict(type="str", default="host", choices=["host", "all"]),
            identify=dict(type="bool", default=False),
            address=dict(type="str"),
            timeout=dict(type="float", default=5.0),
            ephemeral=dict(type="list", elements="int", default=[32768, 60999]),
            ssh=dict(type="str", default="ignore"),
            names=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not 0 < params["timeout"] <= 3600:
        module.fail_json(msg="timeout must be a number of seconds above 0 (at most 3600), got %s" % params["timeout"])
    if len(params["ephemeral"]) != 2:
        module.fail_json(msg="ephemeral must be two ports (the first and the last), got %r" % (params["ephemeral"],))
    facts = gather_facts(module, ["all"], params["namespaces"], ENGINE_TIMEOUT, Limits(COMMAND_TIMEOUT, DEADLINE))
    targets = identify_plan(facts, params["address"], params["timeout"], params["ephemeral"], ssh=params["ssh"]) \
        if params["identify"] else []
    probe = None  # type: Any
    if targets or params["names"]:
        # first_answer: a port that answered one handshake as its own protocol waits no longer on the others
        asked = {"targets": targets, "first_answer": True}  # type: Dict[str, Any]
        if params["names"]:
            asked["resolve"] = {"names": params["names"], "timeout": params["timeout"]}
        checked = ArgumentSpecValidator(ARGUMENT_SPEC).validate(asked)
        if checked.error_messages:
            probe = {"failed": True, "msg": "; ".join(checked.error_messages)}
        else:
            try:  # the names resolve while the targets are probed (port_probe's engine)
                probe = run(checked.validated_parameters)
            except ProbeConfigError as exc:
                probe = {"failed": True, "msg": str(exc)}
    module.exit_json(changed=False, ansible_facts={"portproof": facts}, targets=targets, probe=probe)


if __name__ == "__main__":
    main()
