#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: port_facts
short_description: Gather listening sockets, firewall rules, port mappings and addresses of a host
version_added: 0.1.0
description:
  - Reads what a host really exposes, as facts under C(ansible_facts.portproof), for the
    checks of the C(portproof.validate) roles.
  - C(listeners) come from the kernel's socket diagnostics (the netlink interface C(ss) uses),
    which say per socket whether an IPv6 wildcard socket also accepts IPv4 (dual-stack) and
    which interface a socket is bound to. Where those are not available the module reads
    C(/proc/net/tcp), C(tcp6), C(udp) and C(udp6) instead and says so in C(unavailable). Socket
    owners come from one pass over C(/proc/PID/fd); no process is started per socket.
  - C(addresses) come from rtnetlink, which follows the host's network namespace.
  - C(firewall) reads C(iptables-save), C(ip6tables-save) and the native nftables tables
    (C(nft -j list ruleset), or each native table on its own when iptables-nft tables exist) and
    normalizes them into one model (see the collection's C(docs/firewall-model.md)); firewalld
    and ufw are recognised as the managers behind them.
  - C(saved_firewall) reads the firewall configuration the host loads at boot, from its files only (nothing
    is loaded anywhere), into the same model, from C(/etc/iptables/rules.v4) and C(rules.v6) (iptables-persistent),
    C(/etc/sysconfig/iptables) and C(ip6tables) (iptables-services) and an enabled ufw's files (replayed as
    C(ufw-init) loads them at boot) and an nftables script (C(/etc/nftables.conf) with its includes, the subset
    of the nft language that the collection reads) and firewalld's permanent configuration (the XML files of
    C(/usr/lib/firewalld) and C(/etc/firewalld), translated into the rules firewalld installs at its start);
    what is outside those subsets is listed as not evaluated; and whether the unit that loads each at boot is
    enabled (see the collection's C(docs/reboot.md)).
  - C(mappings) lists how host ports lead to containers and NAT targets (Docker, Podman,
    iptables and nftables DNAT and REDIRECT rules).
  - C(starters) says who starts each process holding a listening socket, from its control group
    (C(/proc/PID/cgroup)) and, on a systemd host, the units involved (C(systemctl show),
    C(systemctl list-sockets)) and the units the default target pulls in at boot
    (C(systemctl list-dependencies)); and for each running container its restart policy, C(--rm) and the unit
    that runs it, with the state of the units that start containers at boot; read-only. It gathers C(listeners) too.
  - Whatever cannot be gathered (a missing tool, a permission, a daemon or tool that does not answer within its limit) is
    listed in C(unavailable) with the reason; it never fails the module and never looks like an
    empty result.
  - Never changes the host.
options:
  gather_subset:
    description:
      - What to gather. V(all) gathers everything.
    type: list
    elements: str
    choices: [all, listeners, firewall, mappings, addresses, saved_firewall, starters]
    default: [all]
  namespaces:
    description:
      - V(host) reads the host's own network namespace.
      - V(all) also reads every other network namespace on the host (containers, for example),
        through one process of each; their listeners carry C(netns) and C(container). Needs root.
    type: str
    choices: [host, all]
    default: host
  engine_timeout:
    description:
      - Seconds each container engine command (C(podman), C(docker)) may take. One that has not
        answered by then (a hung daemon) is killed, and the engine is listed in C(unavailable)
        as timed out; the other subsets are still gathered.
    type: float
    default: 30
  command_timeout:
    description:
      - Seconds each other command (C(iptables-save), C(ip6tables-save), C(nft), C(ipset), C(ip)) may
        take. One that has not answered by then is killed and listed in C(unavailable), naming the
        command and this limit; the firewall is then C(incomplete), so the checks that need it are
        C(error) results for this host, never a pass.
    type: float
    default: 30
    version_added: 0.1.0
  deadline:
    description:
      - Seconds the whole gather may take. Once they have passed, a running command is killed and
        no further command starts; each is listed in C(unavailable) naming this limit, and the
        module still returns what it gathered. Reading C(/proc) and the kernel's netlink answers
        needs no command and is not cut.
    type: float
    default: 120
    version_added: 0.1.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: Gathering changes nothing, so check mode gathers as well.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    support: full
    platforms: posix
notes:
  - Run it as root (C(become=true)) to see which process owns each socket and to read firewall
    rules; without root the listeners are still complete, their process fields are null and a
    warning says so.
  - Targets need Python 3.8 or newer and nothing outside the standard library.
author:
  - portproof.validate contributors (@portproof)
"""

EXAMPLES = r"""
- name: Listeners only, also inside containers' network namespaces
  portproof.validate.port_facts:
    gather_subset: [listeners]
    namespaces: all
  become: true

- name: Gather everything
  portproof.validate.port_facts:
  become: true

- name: Show the TCP listeners bound to all addresses
  ansible.builtin.debug:
    msg: "{{ ansible_facts.portproof.listeners | selectattr('proto', '==', 'tcp') | selectattr('address', 'in', ['0.0.0.0', '::']) }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to C(ansible_facts).
  returned: always
  type: complex
  contains:
    portproof:
      description: What was gathered; subsets that were not asked for are absent.
      returned: always
      type: complex
      contains:
        gathered_at:
          description:
            - When the facts were gathered, UTC (the controller's clock, added by the module's action). A sliced run
              refuses cached facts older than C(portproof_facts_max_age).
          returned: always
          type: str
          sample: "2026-12-06T19:30:00Z"
        run_id:
          description: The C(portproof_run_id) of the sliced run that gathered them (for the other slices, which read them from the fact cache).
          returned: when C(portproof_run_id) is set
          type: str
          sample: "4711"
        listeners:
          description: Listening TCP sockets and bound, unconnected UDP sockets.
          returned: when listeners were gathered
          type: list
          elements: dict
          sample:
            - proto: tcp
              family: ipv6
              address: "::"
              port: 5432
              dual_stack: true
              interface: null
              pid: 812
              process: postgres
              user: postgres
              shared_with: [{pid: 813, process: postgres, user: postgres}]
              netns: host
              container: null
              container_id: null
          contains:
            proto:
              description: V(tcp) or V(udp).
              type: str
            family:
              description: V(ipv4) or V(ipv6). An IPv4-mapped IPv6 address stays V(ipv6).
              type: str
            address:
              description: The bound address; V(0.0.0.0) and V(::) are the wildcards.
              type: str
            port:
              description: The bound port.
              type: int
            dual_stack:
              description:
                - True for an IPv6 wildcard socket that also accepts IPv4 (not IPV6_V6ONLY).
                - Null when it cannot be known (socket diagnostics unavailable in another namespace).
              type: bool
            interface:
              description: The interface the socket is bound to (SO_BINDTODEVICE), else null.
              type: str
            pid:
              description:
                - The process holding the socket that started the others holding it (whose parent holds no
                  copy of it, such as a master, systemd, or the parent that passed it on); the oldest of
                  several. Null when unknown. Not the lowest pid, which after a pid wrap can be a worker's.
              type: int
            process:
              description: Its process name (C(/proc/PID/comm)).
              type: str
            user:
              description: Its user.
              type: str
            shared_with:
              description:
                - The other processes holding the same socket (for example the workers of a master), each
                  with C(pid), C(process) and C(user), by pid; empty when one process holds it.
              type: list
              elements: dict
            netns:
              description: V(host) for the host's own namespace, else the namespace's name or C(net:[INODE]).
              type: str
            container:
              description:
                - The name of the container whose namespace it is, when known, from the engines' own
                  view (the network namespace of each running container's main process). A file inside
                  the namespace (C(/run/.containerenv)) is consulted only when Podman could not be read.
              type: str
            container_id:
              description: The id of that container (from the engines, else from the kernel's cgroup path), when it is one.
              type: str
        addresses:
          description: Every interface address of the host; null when they could not be read (see C(unavailable)).
          returned: when addresses were gathered
          type: list
          elements: dict
          sample:
            - {interface: eth0, family: ipv4, address: 10.1.0.5, prefix: 24, scope: global}
        starters:
          description:
            - Who starts the processes holding listening sockets (host network namespace), read-only.
              C(init) is the name of PID 1; C(processes) maps each such pid to its control group
              (C(cgroup)) and the C(.service) or C(.scope) unit it names (C(unit)). On a systemd host,
              C(sockets) lists the socket units' listening addresses (C(listen), C(unit), C(activates)),
              C(units) the properties of each unit found (C(systemctl show) C(UnitFileState), C(WantedBy),
              C(RequiredBy), C(Restart), C(TriggeredBy), C(Triggers), C(LoadState), C(FragmentPath),
              C(SourcePath), the quadlet file of a generated unit),
              C(default_target) the default target and C(reached) every unit it pulls in at boot.
            - C(containers) lists each running container (C(engine), C(id), C(name), C(pod), C(infra)) with what decides whether
              it comes back after a reboot, from the engine's C(inspect) - C(restart_policy) (V(no), V(always),
              V(unless-stopped), V(on-failure)), C(restart_retries), C(auto_remove) (run with C(--rm)) and
              C(systemd_unit) (its label C(PODMAN_SYSTEMD_UNIT), set on containers a unit runs); C(engines_unread)
              the engines that could not be read, with their messages. The units that start them at boot
              (that unit, C(podman-restart.service), C(docker.service)) are in C(units) on a systemd host.
            - Where PID 1 is not systemd, C(boot) says what the unit files make the next boot start, read by
              systemd's offline mode (C(systemctl --root=/)) - C(init) (what C(/sbin/init) resolves to),
              C(default_target), and per unit C(state) (what C(is-enabled) says) and C(wanted_by) (the targets
              pulled in at boot whose C(.wants) directory in C(/etc/systemd/system) links it).
          returned: when starters were gathered
          type: dict
          sample:
            init: systemd
            processes: {"812": {cgroup: /system.slice/postgresql.service, unit: postgresql.service}}
            sockets: [{listen: "[::]:7777", unit: echo.socket, activates: []}]
            units: {postgresql.service: {Id: postgresql.service, UnitFileState: enabled, WantedBy: [multi-user.target],
                    Restart: on-failure, TriggeredBy: [], Triggers: [], RequiredBy: [], LoadState: loaded,
                    FragmentPath: /lib/systemd/system/postgresql.service}}
            default_target: multi-user.target
            reached: [basic.target, multi-user.target, postgresql.service]
            containers: [{engine: podman, id: 43c697e4c177..., name: web, pod: null, infra: false, restart_policy: always,
                          restart_retries: 0, auto_remove: false, systemd_unit: null}]
            engines_unread: []
        firewall:
          description: The normalized firewall model (see the collection's C(docs/firewall-model.md)).
          returned: when the firewall was gathered
          type: dict
          contains:
            local_routes:
              description:
                - The host's C(local) routing table (table 255), IPv4 and IPv6, read through rtnetlink (read-only)
                  (what C(ip route show table local) shows); the address types that C(-m addrtype) and
                  nft C(fib ... type) match are decided from it.
                - Null when it could not be read (see C(unavailable), tool C(rtnetlink)).
              type: list
              elements: dict
              sample:
                - {type: local, dst: 10.1.0.5/32, dev: eth0, family: ipv4}
                - {type: broadcast, dst: 10.1.0.255/32, dev: eth0, family: ipv4}
                - {type: anycast, dst: "2001:db8:5::/128", dev: eth0, family: ipv6}
                - {type: multicast, dst: ff00::/8, dev: eth0, family: ipv6}
              contains:
                type:
                  description: V(local), V(broadcast), V(anycast) or V(multicast).
                  type: str
                dst:
                  description: The destination as a CIDR (a single address gets its V(/32) or V(/128)).
                  type: str
                dev:
                  description: The interface of the route; null when the route names none.
                  type: str
                family:
                  description: V(ipv4) or V(ipv6).
                  type: str
        saved_firewall:
          description:
            - The firewall the host loads at boot, read from its saved files (see the collection's C(docs/reboot.md)).
          returned: when the saved firewall was gathered
          type: dict
          version_added: 0.1.0
          contains:
            sources:
              description:
                - The saved configuration read into C(tables), each with C(path), C(format) (V(iptables-save), V(ufw),
                  V(nft) for an nft script or V(firewalld), one entry per IP family), C(loader) and C(family); ufw's, nft's
                  and firewalld's also list their C(files) (an nft script's includes, firewalld's XML files).
              type: list
              elements: dict
              sample:
                - {path: /etc/iptables/rules.v4, format: iptables-save, loader: iptables-persistent, family: ipv4}
            unsupported:
              description: Saved configuration that exists but is not evaluated, each with C(path), C(loader) and C(reason).
              type: list
              elements: dict
            tables:
              description: The saved tables in the firewall model; each also names its C(path), ufw's and nft's rules their own C(path).
              type: list
              elements: dict
            incomplete:
              description: Why C(tables) is incomplete (a saved file that could not be read or parsed).
              type: list
              elements: str
            loaders:
              description:
                - Per unit that loads a saved configuration at boot (V(netfilter-persistent.service),
                  V(iptables.service), V(ip6tables.service), V(nftables.service), V(ufw.service),
                  V(firewalld.service)), whether it is enabled, read-only (C(systemctl show) where PID 1 is systemd,
                  else the unit files and their C(.wants) links) - C(state) (V(enabled), V(disabled), V(masked),
                  V(missing) when its unit file is absent, V(undecided) when the state does not say), C(detail) and
                  C(how) (V(systemctl) or V(unit files)).
              type: dict
              sample:
                netfilter-persistent.service: {state: disabled, detail: disabled, how: systemctl}
            firewalld:
              description:
                - When C(/etc/firewalld) holds no file of its own, firewalld's permanent configuration from the package's
                  defaults (C(/usr/lib/firewalld)), with its own C(tables), C(sources) and C(notes), or an C(error),
                  that is what firewalld loads at its start, used by the check when firewalld runs now.
              returned: when C(/etc/firewalld/firewalld.conf) exists and no file of C(/etc/firewalld) overrides the defaults
              type: dict
        mappings:
          description:
            - Port mappings from host ports to containers and NAT targets, one per host address, port
              and protocol, joined across the engines' view and the NAT rules (see the collection's C(docs/mappings.md)).
          returned: when mappings were gathered
          type: list
          elements: dict
          sample:
            - proto: tcp
              family: ipv4
              host_ip: 0.0.0.0
              host_port: 8080
              target_ip: 10.88.0.4
              target_port: 80
              kind: dnat
              source: podman
              sources: [podman, iptables]
              container: web
              container_id: 9bdd672a7bbf02e8afbacfad9db5a48e1ef683414bf08e8351e82e8ebcf9ece6
              image: {name: "registry.example/web:1.4", id: "7b2915872c6a", digest: "sha256:8bc8ca22..."}
          contains:
            proto:
              description: V(tcp) or V(udp).
              type: str
            host_ip:
              description: The host address the mapping listens on; V(0.0.0.0) or V(::) for every address.
              type: str
            host_port:
              description: The host port.
              type: int
            target_ip:
              description: Where the packets go (the container's address); null for REDIRECT.
              type: str
            target_port:
              description: The port they go to (the container's port).
              type: int
            source:
              description: The first view that describes it (V(docker), V(podman), V(iptables), V(nftables)).
              type: str
            sources:
              description: Every view that describes it.
              type: list
              elements: str
            container:
              description: The container's name, when known.
              type: str
            image:
              description: The container's image (C(name), C(id), C(digest)), when known.
              type: dict
        ssh_client:
          description:
            - The address the controller's SSH session comes from (C(SSH_CLIENT)), the source address
              of C(controller) in contracts. Null when unknown (for example after C(become) resets the environment).
          returned: always
          type: str
          sample: 10.1.0.2
        unavailable:
          description: What could not be gathered, each with C(subset), C(tool) and C(reason).
          returned: always
          type: list
          elements: dict
          sample:
            - {subset: mappings, tool: docker, reason: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portproof.validate.plugins.module_utils._command import Limits
from ansible_collections.portproof.validate.plugins.module_utils._gather import SUBSETS, gather_facts


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            gather_subset=dict(type="list", elements="str", default=["all"], choices=["all"] + list(SUBSETS)),
            namespaces=dict(type="str", default="host", choices=["host", "all"]),
            engine_timeout=dict(type="float", default=30.0),
            command_timeout=dict(type="float", default=30.0),
            deadline=dict(type="float", default=120.0),
        ),
        supports_check_mode=True,
    )
    for option in ("engine_timeout", "command_timeout", "deadline"):
        if module.params[option] <= 0:
            module.fail_json(msg="%s must be a number of seconds above 0, got %s" % (option, module.params[option]))
    limits = Limits(module.params["command_timeout"], module.params["deadline"])
    facts = gather_facts(module, module.params["gather_subset"], module.params["namespaces"], module.params["engine_timeout"], limits)
    module.exit_json(changed=False, ansible_facts={"portproof": facts})


if __name__ == "__main__":
    main()
