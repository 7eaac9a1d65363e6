# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Read the firewall the host loads at boot (its saved configuration) into the normalized model.

Only files are read (``_files.read_text``: bounded, no FIFO, no symlink); nothing is loaded into
any kernel. ``gather_saved_firewall(root)`` returns the ``saved_firewall`` fact:

- ``sources``: the saved files that were read and are in the model, each {path, format, loader, family};
- ``unsupported``: saved configuration that exists but is not evaluated, each {path, loader, reason}
  (a check that meets one gives an error, never a verdict);
- ``tables``: the tables of the sources, in the model of docs/firewall-model.md (``source`` is the
  loader, each table also names its ``path``);
- ``incomplete``: why the model is incomplete (a file that could not be read or parsed).

Covered: iptables-persistent (``/etc/iptables/rules.v4``, ``rules.v6``) and iptables-services
(``/etc/sysconfig/iptables``, ``ip6tables``), both iptables-save text, and an enabled ufw
(``/etc/ufw/ufw.conf`` ENABLED=yes: its rules files and defaults replayed as ufw-init loads them,
_ufw_boot.py), and nftables scripts (``/etc/nftables.conf``, ``/etc/sysconfig/nftables.conf``, with their
includes: _nft_script.py; a script outside its subset is named, with file and line, never half read).
And firewalld's permanent configuration (_firewalld_saved.py): when ``/etc/firewalld`` holds zones,
policies, services, ipsets or ``direct.xml``, its tables are the saved firewall (source ``/etc/firewalld``,
loader ``firewalld``); with the package's defaults only, they are kept apart as ``firewalld`` (tables and
sources, or ``error``) and the check uses them when firewalld runs now.
Recognised but not evaluated: ufw, an nftables script or firewalld's own files next to other saved
rules (all load at boot, in an order that is not known), and what _firewalld_saved.py does not cover
(named with its file).
"""

from __future__ import annotations

import errno
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._files import read_text
from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import IptablesParseError, parse_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft import NftParseError, parse_nft_json
from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_script import NftScriptError, parse_nft_script
from ansible_collections.portproof.validate.plugins.module_utils._firewall._ufw_boot import UfwBootError, implicit_matches, ufw_boot_rules, ufw_enabled

SUBSET = "saved_firewall"
Json = Dict[str, Any]
# A saved rule set is at most this large (a large Kubernetes node saves a few MiB).
LIMIT = 16 * 1024 * 1024

# (path, loader, model family, IP family of the packets) of the iptables-save files loaded at boot
IPTABLES_FILES = (
    ("/etc/iptables/rules.v4", "iptables-persistent", "ip", "ipv4"),
    ("/etc/iptables/rules.v6", "iptables-persistent", "ip6", "ipv6"),
    ("/etc/sysconfig/iptables", "iptables-services", "ip", "ipv4"),
    ("/etc/sysconfig/ip6tables", "iptables-services", "ip6", "ipv6"),
)
NFT_FILES = ("/etc/nftables.conf", "/etc/sysconfig/nftables.conf")
NFT_REASON = "cannot evaluate this nftables script: %s"
NFT_BOTH_REASON = ("%s and %s are both saved and both load at boot, in an order that is not known, so the firewall after a "
                   "reboot is not evaluated")
BOTH_REASON = ("ufw is enabled and %s is saved: both load at boot, in an order that is not known, so the firewall "
               "after a reboot is not evaluated")
FIREWALLD_REASON = "cannot evaluate firewalld's permanent configuration: %s"
FIREWALLD_BOTH_REASON = ("firewalld's permanent configuration and %s are both saved and both load at boot, in an order "
                         "that is not known, so the firewall after a reboot is not evaluated")
FIREWALLD_DIRS = ("/etc/firewalld/zones", "/etc/firewalld/policies", "/etc/firewalld/services", "/etc/firewalld/ipsets")
# iptables-save -c writes packet and byte counters before each rule: "[12:720] -A INPUT ..."
_COUNTERS = re.compile(r"^\[\d+:\d+\]\s+")
# an nft script that only flushes (Debian's default /etc/nftables.conf has an empty filter table)
_NFT_RULE_WORDS = re.compile(r"\b(accept|drop|reject|jump|goto|dnat|snat|masquerade|redirect|policy\s+drop|include)\b")


class _Files(object):
    """Reads the files below ROOT, collecting what could not be read."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.incomplete: List[str] = []

    def text(self, path: str) -> Optional[str]:
        """The text of PATH; None when it does not exist; a file that exists but cannot be read is incomplete."""
        full = os.path.join(self.root, path.lstrip("/"))
        try:
            return read_text(full, LIMIT)
        except (IOError, OSError) as exc:
            if getattr(exc, "errno", None) == errno.ENOENT:
                return None
            self.incomplete.append("%s could not be read: %s" % (path, exc.strerror or exc))
            return None

    def executable(self, path: str) -> bool:
        full = os.path.join(self.root, path.lstrip("/"))
        return os.path.isfile(full) and os.access(full, os.X_OK)

    def exists(self, path: str) -> bool:
        return os.path.lexists(os.path.join(self.root, path.lstrip("/")))

    def listdir(self, path: str) -> List[str]:
        try:
            return sorted(os.listdir(os.path.join(self.root, path.lstrip("/"))))
        except OSError:
            return []


def strip_counters(text: str) -> str:
    """iptables-save text without the ``[packets:bytes]`` prefixes of ``iptables-save -c``, and with the match
    modules that ``-p`` loads implicitly named (a file written by hand: ``-p tcp --dport 22``)."""
    return "\n".join(implicit_matches(_COUNTERS.sub("", line.lstrip())) for line in text.splitlines())


def _nft_script_filters(text: str) -> bool:
    """Whether an nft script does more than flush (Debian ships one with an empty, accepting filter table)."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return bool(_NFT_RULE_WORDS.search(code))


class _NftReader(object):
    """Reads an nft script and its includes below ROOT for _nft_script (all of them at most LIMIT bytes in all)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.total = 0

    def __call__(self, path: str) -> Optional[str]:
        try:
            text = read_text(os.path.join(self.root, path.lstrip("/")), LIMIT - self.total)
        except (IOError, OSError) as exc:
            if getattr(exc, "errno", None) == errno.ENOENT:
                return None
            raise
        self.total += len(text)
        return text

    def listdir(self, folder: str) -> List[str]:
        try:
            return sorted(os.listdir(os.path.join(self.root, folder.lstrip("/"))))
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # nft: a glob that matches nothing includes nothing
                return []
            raise


def _nft_script(root: str, path: str) -> Tuple[List[Json], List[str]]:
    """(tables an nft script loads, files read): its rules name their file and carry their text as written."""
    items, meta, read = parse_nft_script(path, _NftReader(root))
    tables = parse_nft_json(items)
    rules = [rule for table in tables for chain in table["chains"] for rule in chain["rules"]]
    for rule, where in zip(rules, meta):
        rule.update(text=where["text"], path=where["path"])
    for table in tables:
        table.update(source="nftables", path=path, handle=None)
        for chain in table["chains"]:
            chain["handle"] = None
    return tables, read


def _ufw(files: _Files, sources: List[Json], tables: List[Json], unavailable: List[Dict[str, str]]) -> None:
    """The tables ufw loads at boot (_ufw_boot.py), each rule naming the file it comes from."""
    try:
        for family, text, paths, origins in ufw_boot_rules(files.text, files.executable):
            parsed, dummy = parse_save(text, family, "ufw")
            for table in parsed:
                table.update(path=paths[-2] if len(paths) > 1 else paths[0], handle=None)
                for chain in table["chains"]:
                    chain["handle"] = None
                    for rule, origin in zip(chain["rules"], origins.get(table["name"], {}).get(chain["name"], [])):
                        rule["path"] = origin
            tables.extend(parsed)
            sources.append({"path": paths[-2] if len(paths) > 1 else paths[0], "format": "ufw", "loader": "ufw",
                            "family": "ipv4" if family == "ip" else "ipv6", "files": paths})
    except (UfwBootError, IptablesParseError) as exc:
        reason = "ufw at boot: %s" % exc
        files.incomplete.append(reason)
        unavailable.append({"subset": SUBSET, "tool": "ufw", "reason": reason})


def gather_saved_firewall(root: str = "/") -> Tuple[Json, List[Dict[str, str]]]:
    """(saved_firewall fact, unavailable entries): the configuration below ROOT that the host loads at boot."""
    files = _Files(root)
    sources: List[Json] = []
    unsupported: List[Json] = []
    tables: List[Json] = []
    unavailable: List[Dict[str, str]] = []
    for path, loader, family, ipfamily in IPTABLES_FILES:
        text = files.text(path)
        if text is None:
            continue
        try:
            parsed, dummy = parse_save(strip_counters(text), family, loader)
        except IptablesParseError as exc:
            reason = "%s: %s" % (path, exc)
            files.incomplete.append(reason)
            unavailable.append({"subset": SUBSET, "tool": path, "reason": reason})
            continue
        for table in parsed:
            table["path"] = path
            table["handle"] = None
            for chain in table["chains"]:
                chain["handle"] = None
        tables.extend(parsed)
        sources.append({"path": path, "format": "iptables-save", "loader": loader, "family": ipfamily})
    for path in NFT_FILES:
        text = files.text(path)
        if text is None or not _nft_script_filters(text):
            continue
        if sources:
            unsupported.append({"path": path, "loader": "nftables",
                                "reason": NFT_BOTH_REASON % (path, ", ".join(dict.fromkeys(s["path"] for s in sources)))})
            continue
        try:
            loaded, read = _nft_script(root, path)
        except (NftScriptError, NftParseError) as exc:
            unsupported.append({"path": path, "loader": "nftables", "reason": NFT_REASON % exc})
            continue
        tables.extend(loaded)
        sources.extend({"path": path, "format": "nft", "loader": "nftables", "family": family, "files": read}
                       for family in ("ipv4", "ipv6"))
    if ufw_enabled(files.text):
        if sources:
            unsupported.append({"path": "/etc/ufw", "loader": "ufw",
                                "reason": BOTH_REASON % ", ".join(dict.fromkeys(s["path"] for s in sources))})
        else:
            _ufw(files, sources, tables, unavailable)
    # firewalld's own configuration: the .xml files an administrator (or --permanent) wrote below /etc/firewalld
    custom = [name for folder in FIREWALLD_DIRS for name in files.listdir(folder) if name.endswith(".xml")]
    custom_fwd = bool(custom or files.exists("/etc/firewalld/direct.xml"))
    firewalld = _firewalld(files) if custom_fwd or files.exists("/etc/firewalld/firewalld.conf") else None
    if custom_fwd and (sources or unsupported):
        others = dict.fromkeys(s["path"] for s in sources + unsupported)
        unsupported.append({"path": "/etc/firewalld", "loader": "firewalld", "reason": FIREWALLD_BOTH_REASON % ", ".join(others)})
    elif custom_fwd and firewalld is not None:
        if firewalld.get("error"):
            unsupported.append({"path": "/etc/firewalld", "loader": "firewalld", "reason": firewalld["error"]})
        else:
            tables.extend(firewalld["tables"])
            sources.extend(firewalld["sources"])
        firewalld = None
    for reason in files.incomplete:
        if not any(entry["reason"] == reason for entry in unavailable):
            unavailable.append({"subset": SUBSET, "tool": reason.split(" ", 1)[0], "reason": reason})
    fact = {"sources": sources, "unsupported": unsupported, "tables": tables, "incomplete": files.incomplete}
    if firewalld is not None:
        fact["firewalld"] = firewalld  # the packaged defaults: what a firewalld that runs now loads at boot
    return fact, unavailable


def _firewalld(files: _Files) -> Json:
    """firewalld's permanent configuration as tables (_firewalld_saved.py), or {"error": why not}."""
    # imported where used: only a host with firewalld needs it, and a module run compiles each file it imports
    from ansible_collections.portproof.validate.plugins.module_utils._firewall._firewalld_saved import (  # pylint: disable=import-outside-toplevel
        FirewalldSavedError, firewalld_boot)
    try:
        boot = firewalld_boot(files.text, files.listdir)
    except FirewalldSavedError as exc:
        return {"error": FIREWALLD_REASON % exc}
    return {"tables": boot["tables"], "notes": boot["notes"],
            "sources": [{"path": "/etc/firewalld", "format": "firewalld", "loader": "firewalld", "family": family,
                         "files": boot["files"], "notes": boot["notes"]} for family in ("ipv4", "ipv6")]}
