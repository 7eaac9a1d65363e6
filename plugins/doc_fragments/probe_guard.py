# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """The option of every plugin that runs port_probe (port_probe itself and the live checks' live_probe)
    that lets it probe outside the fleet: link-local addresses and cloud metadata services."""

    DOCUMENTATION = r"""
options:
  allow_link_local:
    description:
      - Probe link-local addresses (V(169.254.0.0/16), V(fe80::/10)) and cloud metadata services
        (V(169.254.169.254), V(fd00:ec2::254), V(100.100.100.200) and the other ones listed in
        C(docs/reliability.md)) as well.
      - By default a target that is such an address, an IPv6 address that carries one (IPv4-mapped, NAT64
        V(64:ff9b::/96) and V(64:ff9b:1::/48), SIIT V(::ffff:0:0:0/96), IPv4-compatible V(::/96)),
        or a name that resolves to one of them on this host, is not
        connected to; its probe ends C(error) with a reason naming the address and this
        option. A contract (or an inventory's C(ansible_host)) could otherwise make every source send
        requests to the metadata service of its cloud instance and copy the answer into the report.
    type: bool
    default: false
"""
