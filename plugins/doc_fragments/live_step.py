# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """What the private action plugins of a live step (live_plan, live_probe, live_record) share, listed before
    controller_step (whose other attributes they take; the first fragment's value of an attribute stays). live_probe,
    which runs port_probe on the host, says so in its own attributes.action.details."""

    DOCUMENTATION = r"""
options:
  kinds:
    description:
      - The live check kinds of the step (the role variable C(portproof_live_kinds)), a subset of V(reach),
        V(isolation), V(response), V(tls) and V(load).
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    support: full
    details: Nothing is changed on any host; the probes run in check mode too.
notes:
  - Private to the roles of this collection, not a public interface, may change without notice.
    The task file C(roles/validate/tasks/live.yml) is its only user; see C(docs/live-checks.md).
seealso:
  - module: portproof.validate.port_probe
"""
