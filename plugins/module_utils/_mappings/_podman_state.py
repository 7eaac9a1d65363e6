# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Whether running ``podman`` would change the host, from Podman's own files, read without running it.

Any ``podman`` command initialises storage that was never used (it creates the database, lock
files, an event log and the network lock: a system refresh), keeps rewriting the lock files of a
store that holds no layer, and refreshes the database when the runtime has not run since boot.
Running containers exist only in a store with containers (``<driver>-containers/containers.json``)
whose runtime ran since boot (``<tmp_dir>/alive``): anywhere else there is nothing to list, and
podman is not run. Applies to root's Podman (a module run as another user reads its own rootless
store, whose paths this does not resolve).
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Dict, Mapping, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._files import read_bytes, read_text

GRAPHROOT = "/var/lib/containers/storage"
TMP_DIR = "/run/libpod"
_STORE_LIMIT = 64 * 1024 * 1024
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z_]+)\s*=\s*[\"']([^\"']*)[\"']\s*(?:#.*)?$")


def toml_values(text: Optional[str], section: str) -> Dict[str, str]:
    """{key: string value} of the simple ``key = "value"`` lines in [SECTION] of a TOML file."""
    values, current = {}, None
    for line in (text or "").splitlines():
        match = _SECTION.match(line)
        if match:
            current = match.group(1).strip()
            continue
        match = _KEY.match(line)
        if match and current == section:
            values[match.group(1)] = match.group(2)
    return values


def _read(path: str) -> Optional[str]:
    try:
        return read_text(path)
    except OSError:
        return None


def storage_root(environ: Optional[Mapping[str, str]] = None, root: str = "/") -> Tuple[str, Optional[str]]:
    """Root's Podman graphroot and driver (driver None: chosen by Podman), from storage.conf as Podman finds it."""
    environ = os.environ if environ is None else environ
    candidates = [environ["CONTAINERS_STORAGE_CONF"]] if environ.get("CONTAINERS_STORAGE_CONF") else \
        ["/etc/containers/storage.conf", "/usr/share/containers/storage.conf"]
    for path in candidates:
        text = _read(os.path.join(root, path.lstrip("/")))
        if text is not None:
            values = toml_values(text, "storage")
            return values.get("graphroot") or GRAPHROOT, values.get("driver") or None
    return GRAPHROOT, None


def runtime_tmp_dir(environ: Optional[Mapping[str, str]] = None, root: str = "/") -> str:
    """Root's Podman ``tmp_dir`` (where ``alive`` marks a runtime that ran since boot), from containers.conf."""
    environ = os.environ if environ is None else environ
    if environ.get("CONTAINERS_CONF"):
        files = [os.path.join(root, environ["CONTAINERS_CONF"].lstrip("/"))]
    else:
        files = [os.path.join(root, "usr/share/containers/containers.conf"), os.path.join(root, "etc/containers/containers.conf")] + \
            sorted(glob.glob(os.path.join(root, "etc/containers/containers.conf.d/*.conf")))
    tmp_dir = TMP_DIR
    for path in files:
        tmp_dir = toml_values(_read(path), "engine").get("tmp_dir") or tmp_dir
    return tmp_dir


def stored_containers(graphroot: str, driver: Optional[str] = None, root: str = "/") -> Optional[int]:
    """How many containers Podman's store at GRAPHROOT holds (0 when it has none or was never used)."""
    pattern = "%s-containers/containers.json" % (driver or "*")
    count = 0
    for path in glob.glob(os.path.join(root, graphroot.lstrip("/"), pattern)):
        try:
            items = json.loads(read_bytes(path, _STORE_LIMIT))
        except (OSError, ValueError):
            return None  # unreadable: let podman itself say
        count += len(items) if isinstance(items, list) else 0
    return count


def nothing_to_read(environ: Optional[Mapping[str, str]] = None, root: str = "/") -> Optional[str]:
    """Why running podman would change the host and there is no running container to list, or None
    (run it). Only for root (see the module's docstring)."""
    if os.geteuid() != 0:
        return None
    graphroot, driver = storage_root(environ, root)
    count = stored_containers(graphroot, driver, root)
    if count == 0:
        return "Podman's store %s holds no container" % graphroot
    tmp_dir = runtime_tmp_dir(environ, root)
    if count and not os.path.exists(os.path.join(root, tmp_dir.lstrip("/"), "alive")):
        return "Podman's runtime has not run since boot (%s/alive is missing): no container runs" % tmp_dir
    return None
