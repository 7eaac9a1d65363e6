# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The ``listeners`` subset of port_facts: every listening socket of the host, with its owner.

Sockets come from the kernel's socket diagnostics (exact dual-stack and bound interface), or
from ``/proc/net/*`` where those are not available; owners from one pass over ``/proc``.
``namespaces='all'`` adds the sockets of every other network namespace (containers), read
through one process of each.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._sockets import _netlink, _proc_net, _sock_diag
from ansible_collections.portproof.validate.plugins.module_utils._files import read_text
from ansible_collections.portproof.validate.plugins.module_utils._sockets._processes import (
    ProcScan, container_of, named_netns, netns_of_pids, own_netns)

HOST = "host"
NETNS_RUN_DIR = "/run/netns"
Records = List[Dict[str, Any]]


def _unavailable(tool: str, reason: str) -> Dict[str, str]:
    return {"subset": "listeners", "tool": tool, "reason": reason}


def read_namespace_sockets(netns_path: Optional[str] = None, proc_net: Optional[str] = "/proc/net",
                           netns_inode: Optional[int] = None) -> Tuple[Records, List[Dict[str, str]]]:
    """(sockets, unavailable) of one namespace: sock_diag first, the /proc/net tables at PROC_NET second
    (none when PROC_NET is None: nothing is claimed then).

    With NETNS_INODE, raises _netlink.NamespaceGone when NETNS_PATH no longer names that namespace.
    """
    try:
        sock = _netlink.open_socket(_netlink.NETLINK_SOCK_DIAG, netns_path, netns_inode)
        try:
            return _sock_diag.read_sockets(sock), []
        finally:
            sock.close()
    except (OSError, _netlink.NetlinkError, ValueError) as exc:
        if proc_net is None:
            return [], [_unavailable("sock_diag", "socket diagnostics unavailable (%s), and no process is left in the "
                                                  "namespace whose /proc/PID/net could be read instead" % exc)]
        reason = "socket diagnostics unavailable (%s); read %s instead, which does not say which IPv6 sockets are " \
                 "IPv6-only" % (exc, proc_net)
        return _proc_net.read_sockets(proc_net), [_unavailable("sock_diag", reason)]


def read_other_namespace(ns_inode: int, pids: Sequence[int], proc: str = "/proc",
                         named_path: Optional[str] = None) -> Optional[Tuple[Records, List[Dict[str, str]]]]:
    """(sockets, unavailable) of namespace NS_INODE, entered through the first of PIDS still in it.

    Processes come and go while the host is read (a health check, an SSH session): one that
    ended, or whose pid now belongs to another namespace, is passed over. Then NAMED_PATH
    (``/run/netns/NAME``) is tried. None when no way into the namespace is left: it ended
    with its last process, so nothing listens in it.
    """
    ways: List[Tuple[str, Optional[str]]] = [("%s/%d/ns/net" % (proc, pid), "%s/%d/net" % (proc, pid)) for pid in pids]
    if named_path:
        ways.append((named_path, None))
    for netns_path, proc_net in ways:
        try:
            return read_namespace_sockets(netns_path, proc_net, ns_inode)
        except _netlink.NamespaceGone:
            continue
    return None


def bindv6only(path: str = "/proc/sys/net/ipv6/bindv6only") -> Optional[bool]:
    try:
        return read_text(path).strip() == "1"
    except OSError:
        return None


def dual_stack(sock: Dict[str, Any], default_v6only: Optional[bool]) -> Optional[bool]:
    """True when an IPv6 socket bound to the wildcard also accepts IPv4 connections."""
    if sock["family"] != "ipv6" or sock["address"] != "::":
        return False
    v6only = sock["v6only"] if sock["v6only"] is not None else default_v6only
    if v6only is None:
        return None
    return not v6only


def interface_name(index: int) -> Optional[str]:
    if not index:
        return None
    try:
        return socket.if_indextoname(index)
    except OSError:
        return str(index)


def pick_owner(pids: Sequence[int], scan: ProcScan) -> int:
    """The holder of a shared socket reported as its owner: the one that started the others.

    Among the holders, those whose parent holds no copy of the socket (an nginx or pre-fork
    master, systemd for an activated socket, the parent that passed it to a child); of those the
    oldest (start time, then pid). Never the lowest pid: after pids wrap, a worker forked by a
    reload has a lower pid than its master.
    """
    held = set(pids)
    roots = [pid for pid in pids if scan.lineage(pid)[0] not in held] or list(pids)
    return min(roots, key=lambda pid: (scan.lineage(pid)[1] is None, scan.lineage(pid)[1] or 0, pid))


def build(sockets: Records, scan: ProcScan, netns: str, container: Optional[Dict[str, Any]], default_v6only: Optional[bool],
          interfaces: bool = True) -> Records:
    """Listener records for the sockets of one namespace, owners taken from SCAN; CONTAINER is {id, name} or None."""
    listeners: Records = []
    for sock in sockets:
        pids = sorted(scan.owners.get(sock["inode"], []))
        first: Dict[str, Any] = {"pid": None, "process": None, "user": None}
        owners: Records = []
        if pids:
            chosen = pick_owner(pids, scan)
            owners = [scan.process(chosen)] + [scan.process(pid) for pid in pids if pid != chosen]
            first = owners[0]
        listeners.append({
            "proto": sock["proto"],
            "family": sock["family"],
            "address": sock["address"],
            "port": sock["port"],
            "dual_stack": dual_stack(sock, default_v6only),
            "interface": interface_name(sock["ifindex"]) if interfaces else (str(sock["ifindex"]) if sock["ifindex"] else None),
            "pid": first["pid"],
            "process": first["process"],
            "user": first["user"],
            "shared_with": owners[1:],
            "netns": netns,
            "container": container["name"] if container else None,
            "container_id": container["id"] if container else None,
        })
    return listeners


def hidepid(proc: str = "/proc", mountinfo: str = "/proc/self/mountinfo") -> Optional[str]:
    """The ``hidepid`` option of the proc file system mounted at PROC (the last mount there), or
    None when processes are not hidden (or it cannot be told)."""
    try:
        text = read_text(mountinfo, 16 * 1024 * 1024)
    except OSError:
        return None
    value = None
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        mount, fs = before.split(), after.split()
        if sep and len(mount) > 4 and mount[4] == proc and len(fs) > 2 and fs[0] == "proc":
            value = next((o.split("=", 1)[1] for o in fs[2].split(",") if o.startswith("hidepid=")), None)
    return value if value not in (None, "0", "off") else None


def describe(item: Dict[str, Any]) -> str:
    """How a listener is named in messages: ``tcp 0.0.0.0:5432``, ``udp [::]:53 (netns net:[4026532])``."""
    address = "[%s]" % item["address"] if ":" in item["address"] else item["address"]
    where = "" if item["netns"] == HOST else " (netns %s)" % item["netns"]
    return "%s %s:%d%s" % (item["proto"], address, item["port"], where)


def owner_warning(unowned: Records, denied: int, root: bool, hidden: Optional[str], shown: int = 10) -> Optional[str]:
    """The warning for listeners whose owner could not be read (UNOWNED), or None.

    DENIED processes could not be read; ROOT tells whether the module runs as root; HIDDEN is the
    ``hidepid`` option of ``/proc`` (which hides other users' processes from a non-root user
    without any error to count).
    """
    if not unowned or (root and not denied):
        return None
    names = ", ".join(describe(item) for item in unowned[:shown])
    if len(unowned) > shown:
        names += " and %d more" % (len(unowned) - shown)
    if not root and hidden:
        return ("not running as root, and /proc is mounted with hidepid=%s, which hides the processes of other users: the "
                "owning process of %d listener(s) is unknown (pid, process and user are null for %s); the listeners "
                "themselves are complete" % (hidden, len(unowned), names))
    if not root:
        return ("not running as root: the owning process of %d listener(s) may be unknown (pid, process and user are null "
                "for them); the listeners themselves are complete" % len(unowned))
    return ("/proc of %d process(es) could not be read: the owning process of %d listener(s) may be unknown (pid, process "
            "and user are null for %s); the listeners themselves are complete" % (denied, len(unowned), names))


def engine_namespaces(records: Records, proc: str = "/proc") -> Dict[int, Dict[str, Any]]:
    """{netns inode: {id, name}} of the engines' running containers, through each one's main pid.

    Containers sharing a namespace (a pod, ``--network container:X``) name it after the one that
    owns it, not a pod's infra container.
    """
    inodes = netns_of_pids([r["pid"] for r in records if r.get("pid")], proc)
    found: Dict[int, Dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: (bool(r.get("infra")), bool(r.get("netns_of")), r["name"])):
        inode = inodes.get(record["pid"]) if record.get("pid") else None
        if inode is not None and inode not in found:
            found[inode] = {"id": record["id"], "name": record["name"]}
    return found


def _container(ns_inode: int, pids: Sequence[int], proc: str, engine_view: Optional[Dict[int, Dict[str, Any]]],
               known_ids: Dict[str, str], names: Dict[str, str]) -> Optional[Dict[str, Any]]:
    """The container of namespace NS_INODE, or None.

    ENGINE_VIEW ({netns inode: {id, name}}, None when no engine could be read) decides first. Else
    the kernel's cgroup of a process in it; an id the engines know but place elsewhere is a false
    claim and names nothing. ``/run/.containerenv`` (which root in the container writes) is
    consulted only without an engine view.
    """
    if engine_view and ns_inode in engine_view:
        return engine_view[ns_inode]
    for candidate in pids:
        found = container_of(candidate, proc, files=engine_view is None)
        if found:
            if engine_view is not None and found["id"] in known_ids:
                return None
            return {"id": found["id"], "name": found["name"] or (names.get(found["id"]) if found["id"] else None)}
    return None


def gather(namespaces: str = "host", proc: str = "/proc", container_names: Optional[Dict[str, str]] = None,
           containers: Optional[Records] = None) -> Tuple[Records, List[Dict[str, str]], List[str]]:
    """(listeners, unavailable, warnings) for the host, and with namespaces='all' for every namespace.

    CONTAINERS (the engines' records, None when no engine could be read) decide which namespace
    is which container's, through each container's main pid. CONTAINER_NAMES ({container id:
    name}) names containers that their namespace alone does not name.
    """
    container_names = container_names or {}
    if containers is not None:
        container_names = dict(container_names, **dict((r["id"], r["name"]) for r in containers))
    unavailable: List[Dict[str, str]] = []
    warnings: List[str] = []
    # (sockets, netns label, container, default v6only, own namespace)
    groups: List[Tuple[Records, str, Optional[Dict[str, Any]], Optional[bool], bool]] = []
    sockets, missing = read_namespace_sockets(proc_net=proc + "/net")
    unavailable.extend(missing)
    groups.append((sockets, HOST, None, bindv6only(), True))

    scan = ProcScan(proc)
    if namespaces == "all":
        scan.scan()
        if os.geteuid() != 0:
            unavailable.append(_unavailable("namespaces", "reading other network namespaces needs root; only the host's "
                                                          "own namespace was read"))
        else:
            own = own_netns(proc)
            names = named_netns()
            engine_view = engine_namespaces(containers, proc) if containers is not None else None
            for ns_inode, pids in sorted(scan.netns_pids.items()):
                if ns_inode == own:
                    continue
                label = names.get(ns_inode, "net:[%d]" % ns_inode)
                container = _container(ns_inode, pids, proc, engine_view, container_names, container_names)
                named_path = os.path.join(NETNS_RUN_DIR, names[ns_inode]) if ns_inode in names else None
                read = read_other_namespace(ns_inode, pids, proc, named_path)
                if read is None:
                    continue
                ns_sockets, missing = read
                for entry in missing:
                    entry["reason"] = "namespace %s: %s" % (label, entry["reason"])
                unavailable.extend(missing)
                groups.append((ns_sockets, label, container, None, False))
    else:
        scan.scan({s["inode"] for s in sockets})

    listeners: Records = []
    for ns_sockets, label, container, default_v6only, own_ns in groups:
        listeners.extend(build(ns_sockets, scan, label, container, default_v6only, interfaces=own_ns))
    warning = owner_warning([item for item in listeners if item["pid"] is None], scan.denied, os.geteuid() == 0,
                            hidepid(proc) if os.geteuid() != 0 else None)
    if warning:
        warnings.append(warning)
    listeners.sort(key=lambda i: (i["netns"] != HOST, i["netns"], i["proto"], i["family"], i["address"], i["port"]))
    return listeners, unavailable, warnings
