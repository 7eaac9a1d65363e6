# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Who owns which socket, and which network namespaces exist: one pass over ``/proc``.

No process is spawned: socket inodes are mapped to processes by reading the links in
``/proc/PID/fd``, network namespaces by ``/proc/PID/ns/net``. Which container a process belongs
to comes from what the kernel says (its cgroup) and what the engine leaves on the host (Docker's
``config.v2.json``); what lies inside the container (Podman's ``/run/.containerenv``) is written
by whoever is root in it, so it is read only when asked for (no engine could be read), and like
every file here it is read without following links or blocking, and bounded (_files.py).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Collection, Dict, Iterable, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._files import read_beneath, read_bytes

_DOCKER_ID = re.compile(r"(?:docker-|/docker/)([0-9a-f]{64})")
_LIBPOD_ID = re.compile(r"libpod-(?:conmon-)?([0-9a-f]{64})")
_SMALL = 64 * 1024           # /proc/PID/comm, status, cgroup; /run/.containerenv
_DOCKER_CONFIG = 4 * 1024 * 1024


class ProcScan:
    """The result of one pass over /proc: socket owners, namespaces, what could not be read."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self.owners: Dict[int, List[int]] = {}      # socket inode -> [pid, ...]
        self.netns_pids: Dict[int, List[int]] = {}  # netns inode -> [pid, ...]
        self.denied = 0         # processes whose fds or namespace could not be read
        self._users: Dict[int, str] = {}
        self._processes: Dict[int, Dict[str, Any]] = {}
        self._lineage: Dict[int, Tuple[Optional[int], Optional[int]]] = {}

    def scan(self, wanted_inodes: Optional[Collection[int]] = None) -> ProcScan:
        for name in os.listdir(self.proc):
            if not name.isdigit():
                continue
            pid = int(name)
            base = "%s/%s" % (self.proc, name)
            try:
                ns = os.stat(base + "/ns/net").st_ino
                self.netns_pids.setdefault(ns, []).append(pid)
            except PermissionError:
                self.denied += 1
                continue
            except OSError:
                continue  # the process ended meanwhile
            try:
                fds = os.listdir(base + "/fd")
            except PermissionError:
                self.denied += 1
                continue
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink("%s/fd/%s" % (base, fd))
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inode = int(target[8:-1])
                    if wanted_inodes is None or inode in wanted_inodes:
                        owners = self.owners.setdefault(inode, [])
                        if pid not in owners:
                            owners.append(pid)
        return self

    def process(self, pid: int) -> Dict[str, Any]:
        """{pid, process, user} of PID (read once); fields it cannot read are None."""
        if pid not in self._processes:
            self._processes[pid] = self._read_process(pid)
        return dict(self._processes[pid])

    def lineage(self, pid: int) -> Tuple[Optional[int], Optional[int]]:
        """(parent pid, start time in clock ticks since boot) of PID from ``/proc/PID/stat``; None for what cannot be read."""
        if pid not in self._lineage:
            self._lineage[pid] = parse_stat(self.proc, pid)
        return self._lineage[pid]

    def _read_process(self, pid: int) -> Dict[str, Any]:
        base = "%s/%d" % (self.proc, pid)
        info: Dict[str, Any] = {"pid": pid, "process": None, "user": None}
        try:
            info["process"] = read_bytes(base + "/comm", _SMALL).rstrip(b"\n").decode("utf-8", "backslashreplace")
            for line in read_bytes(base + "/status", _SMALL).splitlines():
                if line.startswith(b"Uid:"):
                    fields = line.split()
                    if len(fields) > 1 and fields[1].isdigit():
                        info["user"] = self.user_name(int(fields[1]))
                    break
        except OSError:
            pass
        return info

    def user_name(self, uid: int) -> str:
        if uid not in self._users:
            try:
                import pwd
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except (ImportError, KeyError, OverflowError):
                self._users[uid] = str(uid)
        return self._users[uid]


def parse_stat(proc: str, pid: int) -> Tuple[Optional[int], Optional[int]]:
    """(ppid, starttime) of ``/proc/PID/stat`` (fields 4 and 22, after the parenthesised name, which
    may hold spaces and parentheses itself); (None, None) when it cannot be read."""
    try:
        text = read_bytes("%s/%d/stat" % (proc, pid), _SMALL)
        fields = text[text.rindex(b")") + 2:].split()
        return int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None, None


def own_netns(proc: str = "/proc") -> int:
    return os.stat(proc + "/self/ns/net").st_ino


def named_netns(run_dir: str = "/run/netns") -> Dict[int, str]:
    """{netns inode: name} for the namespaces named with ``ip netns``."""
    names: Dict[int, str] = {}
    try:
        entries = os.listdir(run_dir)
    except OSError:
        return names
    for name in entries:
        try:
            names[os.stat(os.path.join(run_dir, name)).st_ino] = name
        except OSError:
            continue
    return names


def containerenv(pid: int, proc: str = "/proc") -> Optional[Dict[str, Optional[str]]]:
    """{engine, id, name} that ``/run/.containerenv`` inside PID's root claims, or None.

    Whoever is root in that mount namespace writes it: it is read beneath ``/proc/PID/root``
    without following links, without blocking and bounded, and what it says is a claim.
    """
    try:
        text = read_beneath("%s/%d/root" % (proc, pid), "run/.containerenv", _SMALL).decode("utf-8", "replace")
    except OSError:
        return None
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    name = fields.get("name", "").strip('"') or None
    cid = fields.get("id", "").strip('"') or None
    return {"engine": "podman", "id": cid, "name": name} if name or cid else None


def container_of(pid: int, proc: str = "/proc", docker_root: str = "/var/lib/docker", files: bool = True) -> Optional[Dict[str, Optional[str]]]:
    """The container PID runs in, as {engine, id, name} (name when known), or None.

    The kernel's view first: a Docker or Podman id in PID's cgroup (Docker's name from its
    ``config.v2.json`` on the host). With FILES, ``/run/.containerenv`` inside the process's root
    is consulted too (names a Podman container whose cgroup does not, or gives the name of the
    id the cgroup gives); callers pass FILES=False whenever an engine can answer instead.
    """
    base = "%s/%d" % (proc, pid)
    try:
        cgroup = read_bytes(base + "/cgroup", _SMALL).decode("utf-8", "replace")
    except OSError:
        cgroup = ""
    match = _DOCKER_ID.search(cgroup)
    if match:
        cid = match.group(1)
        name = None
        try:
            config = json.loads(read_bytes("%s/containers/%s/config.v2.json" % (docker_root, cid), _DOCKER_CONFIG))
            name = config.get("Name") if isinstance(config, dict) else None
            name = (name.lstrip("/") or None) if isinstance(name, str) else None
        except (OSError, ValueError):
            pass
        return {"engine": "docker", "id": cid, "name": name}
    claimed = containerenv(pid, proc) if files else None
    match = _LIBPOD_ID.search(cgroup)
    if match:
        name = claimed["name"] if claimed and claimed["id"] == match.group(1) else None
        return {"engine": "podman", "id": match.group(1), "name": name}
    return claimed


def netns_of_pids(pids: Iterable[int], proc: str = "/proc") -> Dict[int, int]:
    """{pid: network namespace inode} of the PIDS that still run (and may be read)."""
    found: Dict[int, int] = {}
    for pid in pids:
        try:
            found[pid] = os.stat("%s/%d/ns/net" % (proc, pid)).st_ino
        except (OSError, OverflowError, ValueError):
            continue
    return found
