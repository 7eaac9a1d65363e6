# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """What the private action plugins of the roles (plugin_utils/_step_action.py, StepAction) share: they work on the
    controller. One that runs a module on the host it runs for (its action plugin sets _requires_connection) says so in
    its own attributes.action.details, which replace the ones here."""

    DOCUMENTATION = r"""
attributes:
  action:
    support: full
    details: Everything happens in the action plugin on the controller; there is no module to run on a host.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
"""
