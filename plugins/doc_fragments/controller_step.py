# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """What the private action plugins of the contract, static check, drift and failing steps share: they read on
    the controller and run nothing on a host."""

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
