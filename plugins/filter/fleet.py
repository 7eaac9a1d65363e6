# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet filters of portproof.validate (documentation: host_addresses.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

ADDRESS_KEYS = ("portproof_address", "ansible_host", "portproof_controller_address")


def host_addresses_filter(hostvars, hosts):
    """{host: {portproof_address, ansible_host, portproof_controller_address}} of HOSTS (those that are set).

    Reading hostvars[HOST] makes Ansible compute every variable of that host; the static checks of
    one host need the addresses of every source host, so on a fleet they read this index (made once
    for the play) instead of hostvars: linear in the hosts instead of quadratic.
    """
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("host_addresses: the hosts must be a list of inventory host names (groups['all']), got %r" % (hosts,))
    index = {}
    for host in hosts:
        host = str(host)
        hvars = hostvars[host] if host in hostvars else {}
        index[host] = dict((key, str(hvars[key])) for key in ADDRESS_KEYS if key in hvars and hvars[key])
    return index


class FilterModule(object):
    """Fleet helpers: the address index of the inventory."""

    def filters(self):
        return {"host_addresses": host_addresses_filter}
