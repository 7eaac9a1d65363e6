# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Addresses a probe refuses unless the user opts in: whoever writes the contract (or an
# inventory's ansible_host) can make every source connect anywhere and copy the answer into the
# report, so link-local addresses and the cloud metadata services (credentials of the instance)
# are refused after name resolution, on the probing host. Pure functions, no I/O.

from __future__ import annotations

import ipaddress

OPT_IN = 'allow_link_local'
METADATA = {
    '169.254.169.254': 'the cloud instance metadata service (AWS, Azure, GCP, OpenStack, DigitalOcean)',
    '169.254.170.2': 'the AWS ECS task metadata service',
    '169.254.170.23': 'the AWS EKS pod identity agent',
    'fd00:ec2::254': 'the AWS instance metadata service (IPv6)',
    'fd00:ec2::23': 'the AWS EKS pod identity agent (IPv6)',
    'fd20:ce::254': 'the GCP metadata server (IPv6)',
    '100.100.100.200': 'the Alibaba Cloud metadata service',
    '192.0.0.192': 'the Oracle Cloud metadata service',
    '168.63.129.16': 'the Azure platform endpoint (WireServer)',
}
_LINK_LOCAL = (ipaddress.ip_network('169.254.0.0/16'), ipaddress.ip_network('fe80::/10'))


def outside_fleet(address):
    """What ADDRESS (a probed IP address, maybe scoped) is when a probe must not go there without
    the opt-in: a cloud metadata service or a link-local address; None for any other address."""
    try:
        ip = ipaddress.ip_address(address.split('%', 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in METADATA:
        return METADATA[str(ip)]
    for network in _LINK_LOCAL:
        if ip in network:
            return 'a link-local address (%s)' % network
    return None


def refusal(host, address, what):
    """The reason of a probe refused for ADDRESS (resolved from HOST) that is WHAT."""
    source = '' if host.split('%', 1)[0] == address.split('%', 1)[0] else ' (resolved from %r)' % host
    return ('refused to probe %s%s: it is %s, outside the fleet; set %s: true on port_probe (role variable '
            'portproof_probe_allow_link_local) to probe it' % (address, source, what, OPT_IN))
