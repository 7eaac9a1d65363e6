# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Parse ``ipset save`` output: the sets that iptables rules match with ``-m set``."""

from __future__ import annotations

from typing import Any, Dict, Union

# Set types with one dimension that the model can hold as plain address or port lists.
_DIMENSIONS = {
    "hash:ip": ["ip"], "hash:net": ["net"], "bitmap:ip": ["ip"], "bitmap:port": ["port"],
}


def _element(value: str, dim: str) -> Union[int, str]:
    if dim == "port":
        # bitmap:port elements are "80" or "1000-2000" (optionally "tcp:80" on some versions).
        value = value.split(":", 1)[-1]
        return int(value) if value.isdigit() else value
    return value


def parse_ipset_save(text: str) -> Dict[str, Dict[str, Any]]:
    """{name: {"type", "family", "dimensions", "elements": [[value], ...]} | {"unsupported": reason}}."""
    sets: Dict[str, Dict[str, Any]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        if parts[0] == "create":
            name, kind = parts[1], parts[2]
            opts = parts[3:]
            family = opts[opts.index("family") + 1] if "family" in opts[:-1] else None
            entry: Dict[str, Any] = {"type": kind, "family": family, "elements": []}
            if kind in _DIMENSIONS:
                entry["dimensions"] = _DIMENSIONS[kind]
            else:
                entry["unsupported"] = "set type %s is not evaluated" % kind
            sets[name] = entry
        elif parts[0] == "add" and parts[1] in sets:
            entry = sets[parts[1]]
            if "dimensions" in entry:
                if "nomatch" in parts[3:]:
                    entry["unsupported"] = "set %s has nomatch entries" % parts[1]
                entry["elements"].append([_element(parts[2], entry["dimensions"][0])])
    return sets
