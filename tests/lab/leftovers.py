# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the lab leaves on this machine: network namespaces, lab links, lab processes, containers, daemon directories;
and what a test run installs into ~/.ansible (collections and roles, each with the time it was written: a copy of this
collection there shadows the checkout for every later ansible run).

``leftovers.py snapshot FILE`` records what is there now; ``leftovers.py check FILE`` fails
(exit 1, naming each item) when anything of the lab's kind appeared since the snapshot.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys


def _lines(argv):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        return []
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def _lab_processes():
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        try:
            # The lab's daemons start in their directory; some (Redis, nginx's workers) rewrite their command line.
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            cwd = ""
        if state != "Z" and ("lab_service.py" in cmdline or "pplab-" in cmdline or "/lab/hosts/" in cmdline
                             or cwd.startswith("/tmp/pplab-")):
            found.append(cmdline.strip())
    return found


def _ansible_installs():
    home = os.path.expanduser("~/.ansible")
    found = []
    for path in glob.glob(os.path.join(home, "collections", "ansible_collections", "*", "*")) + glob.glob(os.path.join(home, "roles", "*")):
        manifest = os.path.join(path, "MANIFEST.json")
        try:
            written = os.stat(manifest if os.path.exists(manifest) else path).st_mtime
        except OSError:
            continue
        found.append("%s (written %d)" % (path, written))
    return found


def snapshot():
    return {
        "netns": sorted(line.split()[0] for line in _lines(["ip", "netns", "list"])),
        "links": sorted(line.split(":")[1].strip().split("@")[0] for line in _lines(["ip", "-o", "link", "show"])),
        "processes": sorted(_lab_processes()),
        "containers": sorted(_lines(["podman", "ps", "-a", "--format", "{{.Names}}"])),
        "directories": sorted(glob.glob("/tmp/pplab-*-daemons-*")),
        "installs": sorted(_ansible_installs()),
    }


def main(argv):
    action, path = argv[1], argv[2]
    if action == "snapshot":
        with open(path, "w") as handle:
            json.dump(snapshot(), handle)
        return 0
    with open(path) as handle:
        before = json.load(handle)
    now = snapshot()
    left = ["%s %s" % ({"processes": "process", "directories": "directory"}.get(kind, kind[:-1]), item)
            for kind, items in now.items() for item in items if item not in before.get(kind, [])]
    for item in left:
        print("left behind: %s" % item)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
