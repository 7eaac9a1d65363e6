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
from typing import Iterator, Optional, Tuple, Union

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
# IPv6 addresses that a translator (or a tunnel) turns into the IPv4 address they carry, with the
# offsets (in bytes, after removing the RFC 6052 "u" octet) where it may sit: the address is refused
# when any of them is. IPv4-mapped addresses are the IPv4 address itself to the kernel.
_EMBEDDING = (
    (ipaddress.ip_network('64:ff9b::/96'), (12,), 'through NAT64 (64:ff9b::/96)'),
    (ipaddress.ip_network('64:ff9b:1::/48'), (6, 7, 8, 12), 'through local-use NAT64 (64:ff9b:1::/48)'),
    (ipaddress.ip_network('::ffff:0:0:0/96'), (12,), 'as an IPv4-translated address (SIIT, ::ffff:0:0:0/96)'),
    (ipaddress.ip_network('::/96'), (12,), 'as an IPv4-compatible address (::/96)'),
)


def _refused(ip: Union[ipaddress.IPv4Address, ipaddress.IPv6Address]) -> Optional[str]:
    """What IP (an ip_address) is when it is refused; None otherwise."""
    if str(ip) in METADATA:
        return METADATA[str(ip)]
    for network in _LINK_LOCAL:
        if ip in network:
            return 'a link-local address (%s)' % network
    return None


def _embedded(ip: ipaddress.IPv6Address) -> Iterator[Tuple[ipaddress.IPv4Address, str]]:
    """The IPv4 addresses IP (an IPv6 ip_address) may carry, each with how it carries them."""
    packed = ip.packed
    unspread = packed[:8] + packed[9:]  # RFC 6052: bits 64-71 are not part of the IPv4 address
    for network, offsets, how in _EMBEDDING:
        if ip in network:
            for offset in offsets:
                source = packed if offset == 12 else unspread
                yield ipaddress.IPv4Address(source[offset:offset + 4]), how


def outside_fleet(address: str) -> Optional[str]:
    """What ADDRESS (a probed IP address, maybe scoped) is when a probe must not go there without
    the opt-in: a cloud metadata service or a link-local address, also when an IPv6 address carries
    one (IPv4-mapped, NAT64, SIIT, IPv4-compatible); None for any other address."""
    try:
        ip = ipaddress.ip_address(address.split('%', 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    what = _refused(ip)
    if what is not None or ip.version == 4:
        return what
    for inner, how in _embedded(ip):
        what = _refused(inner)
        if what is not None:
            return '%s, reached %s at %s' % (what, how, inner)
    return None


def refusal(host: str, address: str, what: str) -> str:
    """The reason of a probe refused for ADDRESS (resolved from HOST) that is WHAT."""
    source = '' if host.split('%', 1)[0] == address.split('%', 1)[0] else ' (resolved from %r)' % host
    return ('refused to probe %s%s: it is %s, outside the fleet; set %s: true on port_probe (role variable '
            'portproof_probe_allow_link_local) to probe it' % (address, source, what, OPT_IN))
