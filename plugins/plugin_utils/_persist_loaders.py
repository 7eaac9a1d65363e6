# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""What of the saved firewall is really loaded at boot: the part of ``persist`` that reads the loaders.

A saved file whose loader unit is not enabled (disabled, masked, not installed) loads nothing at boot:
the host boots without it, so it is taken out of the firewall after a reboot (with none left, that is no
rules at all: the kernel's default, accept) and named in a ``fail``. A loader whose state cannot be
decided makes every verdict an ``error`` naming it. See docs/reboot.md.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._firewall._loaders import unit_for

Json = Dict[str, Any]
_WHY = {"disabled": "is disabled", "masked": "is masked", "missing": "is not installed (no unit file)"}


def split_loaders(saved: Json) -> Tuple[Json, List[str], List[str]]:
    """(the saved firewall that loads at boot, what is saved but not loaded, what cannot be decided).

    Facts without ``loaders`` (gathered by an older port_facts) are taken as loaded, as they were."""
    loaders = saved.get("loaders")
    if loaders is None:
        return saved, [], []
    unloaded: Dict[str, str] = {}
    undecided: Dict[str, str] = {}
    families: Dict[str, List[str]] = {}
    for item in list(saved.get("sources") or []) + list(saved.get("unsupported") or []):
        path = item.get("path") or ""
        unit = unit_for(path, item.get("loader") or "")
        state = loaders.get(unit) if unit else None
        if state is None or state.get("state") == "enabled":
            continue
        if state.get("state") in _WHY:
            unloaded[path] = "nothing loads %s: %s %s" % (path, unit, _WHY[state["state"]])
            families.setdefault(path, []).append(item.get("family") or "any")
        else:
            undecided[path] = "whether anything loads %s at boot cannot be decided: %s: %s" % (path, unit, state.get("detail"))
    if not unloaded:
        return saved, [], list(undecided.values())
    effective = dict(saved,
                     sources=[s for s in saved.get("sources") or [] if s.get("path") not in unloaded],
                     unsupported=[u for u in saved.get("unsupported") or [] if u.get("path") not in unloaded],
                     tables=[t for t in saved.get("tables") or [] if t.get("path") not in unloaded],
                     unloaded=[{"family": family, "note": unloaded[path]} for path in unloaded for family in families[path]])
    return effective, ["after a reboot " + note for note in unloaded.values()], list(undecided.values())


def unloaded_note(saved: Json, version: int) -> str:
    """For a message: why the firewall after a reboot has no rules for IP version VERSION ('' when nothing is unloaded)."""
    notes = [entry["note"] for entry in saved.get("unloaded") or [] if entry["family"] in ("ipv%d" % version, "any")]
    return "the rules loaded at boot (none: %s)" % "; ".join(dict.fromkeys(notes)) if notes else ""
