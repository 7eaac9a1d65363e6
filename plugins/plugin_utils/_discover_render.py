# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The files of a discovered contract: YAML a person wants to commit, written by hand (stable order, a comment for
each inference), and the README that says what was inferred and what needs a human decision.

Strings are written plain when YAML reads them back as the same string, else double-quoted by json.dumps (JSON
strings are YAML double-quoted scalars). Comments never hold a line break or a control character.
"""

from __future__ import annotations

import json
import re

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

# The variables discover writes: in host_vars and group_vars they add to the user's contract (the merge convention)
# instead of replacing a portproof_services of the user's own.
HOST_VARIABLE = "portproof_services__discovered"
GROUP_PREFIX = "portproof_services__discovered_"
MARKER = ".portproof-discovered"
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
# Words YAML 1.1 (Ansible's loader) reads as something else than a string.
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
KEY_ORDER = ("name", "port", "proto", "bind", "process", "user", "publish", "names", "allow_from", "deny_from", "check")
PUBLISH_ORDER = ("container", "container_port", "host_ip", "image")


def scalar(value: Any) -> str:
    """VALUE as a YAML scalar that loads back as VALUE."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED and not text.endswith(("-", ".")):
        return text
    return json.dumps(text)


def flow(value: Any) -> str:
    """VALUE (a mapping of mappings and scalars) as a YAML flow mapping that loads back as VALUE."""
    if isinstance(value, Mapping):
        return "{%s}" % ", ".join("%s: %s" % (scalar(key), flow(item)) for key, item in value.items())
    return scalar(value)


def comment(text: str) -> str:
    """TEXT on one line, fit for a YAML comment."""
    return _CONTROL.sub(" ", str(text)).strip()


def variable_name(group: str) -> str:
    return GROUP_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", group)


def _service_lines(entry: Mapping[str, Any], indent: str = "  ") -> List[str]:
    service, why = entry["service"], entry["why"]
    lines = ["%s# %s" % (indent, comment(text)) for text in entry["comments"]]
    first = True
    for key in KEY_ORDER:
        if key not in service:
            continue
        value = service[key]
        lead = indent + ("- " if first else "  ")
        first = False
        if key == "bind":
            lines.append("%s%s: %s" % (lead, key, scalar(value[0]) if len(value) == 1 else "[%s]" % ", ".join(scalar(v) for v in value)))
        elif key == "publish":
            lines.append("%spublish:" % lead)
            lines.extend("%s    %s: %s" % (indent, k, scalar(value[k])) for k in PUBLISH_ORDER if k in value)
        elif key == "names":
            lines.append("%s%s: [%s]" % (lead, key, ", ".join(scalar(v) for v in value)))
        elif key in ("allow_from", "deny_from"):
            if not value:
                lines.append("%s%s: []" % (lead, key))
                continue
            lines.append("%s%s:" % (lead, key))
            for name in value:
                reason = why.get(key, {}).get(name)
                lines.append("%s    - %s%s" % (indent, scalar(name), "  # " + comment(reason) if reason else ""))
        elif key == "check":
            lines.append("%s%s: %s" % (lead, key, flow(value)))
        else:
            lines.append("%s%s: %s" % (lead, key, scalar(value)))
    if entry.get("protocol"):
        lines.append("%s  # check: {protocol: %s}  # a guess from the process name or port, not probed: uncomment once it holds"
                     % (indent, entry["protocol"]))
    return lines


def host_file(host: str, services: Sequence[Mapping[str, Any]], ignore: Sequence[Tuple[str, str]], left_out: Sequence[str]) -> str:
    """The host_vars file of HOST; the same text for the same state (no time stamp: the README has it)."""
    lines = ["---",
             "# %s: discovered by portproof.validate.discover from the running host, read-only (when: see README.md)."
             % comment(host),
             "# Every listener that other hosts can reach is declared; strict mode then fails anything new.",
             "portproof_strict: true"]
    for text in left_out:
        lines.append("# left out: %s" % comment(text))
    if ignore:
        lines.append("portproof_ignore:")
        lines.extend("  - %s  # %s" % (scalar(spec), comment(why)) for spec, why in ignore)
    if services:
        lines.append("%s:" % HOST_VARIABLE)
        for entry in services:
            lines.extend(_service_lines(entry))
    return "\n".join(lines) + "\n"


def group_file(group: str, members: Sequence[str], services: Sequence[Mapping[str, Any]]) -> str:
    lines = ["---",
             "# group %s: discovered by portproof.validate.discover from its running members, read-only." % comment(group),
             "# Every member (%s) serves these alike; a member's own host_vars file has the rest." % comment(", ".join(members)),
             "%s:" % variable_name(group)]
    for entry in services:
        lines.extend(_service_lines(entry))
    return "\n".join(lines) + "\n"


def inventory_file() -> str:
    return ("---\n# portproof.validate.discover: no hosts here, only their variables (host_vars/, group_vars/) for the hosts of\n"
            "# your inventory: ansible-playbook portproof.validate.post_deploy -i YOUR_INVENTORY -i THIS_DIRECTORY\nall: {}\n")


def intended(services: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The data a rendered service list must load back as."""
    return [dict(entry["service"], bind=entry["service"]["bind"][0] if len(entry["service"]["bind"]) == 1 else entry["service"]["bind"])
            for entry in services]


def readme(directory: str, stamp: str, hosts: Mapping[str, Any], groups: Mapping[str, Sequence[str]],
           moved: Mapping[str, Sequence[Mapping[str, Any]]], files: Sequence[str], not_gathered: Sequence[Tuple[str, str]],
           verification: Mapping[str, Sequence[str]], existing: bool, identify: bool = False) -> str:
    lines = ["# A contract discovered from the running stack", "",
             "Written by `ansible-playbook portproof.validate.discover` (%s) from what each host serves now, read-only." % stamp,
             "It is a proposal: review it, then check the stack against it with", "",
             "```bash", "ansible-playbook portproof.validate.post_deploy -i YOUR_INVENTORY -i %s" % directory, "```", ""]
    if existing:
        lines += ["Your inventory already declares services: these files hold only what your contract lacks (listeners no",
                  "service declares, as `%s`); they never replace your files. What your services lack is listed" % HOST_VARIABLE,
                  "under *Needs a decision*.", ""]
    lines += ["## Files", ""] + ["- `%s`" % name for name in files] + [""]
    lines += ["## What was inferred", "",
              "| host | services | ignored | left out |", "|---|---|---|---|"]
    for host in sorted(hosts):
        found = hosts[host]
        names = [e["service"]["name"] for e in found.services]
        names += ["%s (group %s)" % (e["service"]["name"], g) for g, entries in sorted(moved.items()) if host in groups.get(g, [])
                  for e in entries]
        lines.append("| %s | %s | %s | %d |" % (host, ", ".join(names) or "none", ", ".join(s for s, _w in found.ignore) or "none",
                                                len(found.left_out)))
    lines += ["", "- name: the container of a published port; else the systemd service unit that started the process (without "
              "`.service`), else the process (`/proc/PID/comm`); made unique per host.",
              "- bind: the narrowest class that holds every bound address (`loopback`, `internal`, `public`; a wildcard is `public`).",
              "- allow_from / deny_from: each inventory group, `controller` and `public`, evaluated against the firewall as it is "
              "now; an entry is proposed only when every member of the source gets the same verdict, and its comment names "
              "the rule that decided it.",
              "- Loopback-only listeners and ephemeral ports are left out (comments in each host's file); SSH on 22/tcp is in "
              "`portproof_ignore` unless `portproof_discover_ssh: declare`.", ""]
    lines += ["## Needs a decision", ""]
    unavailable: Dict[str, List[str]] = {}
    for host in sorted(hosts):
        for text in hosts[host].unavailable:
            unavailable.setdefault(text, []).append(host)
    decisions = ["%s: %s" % (", ".join(names), text) for text, names in sorted(unavailable.items())]
    decisions += [text for host in sorted(hosts) for text in hosts[host].decisions + hosts[host].existing]
    decisions += ["%s: not gathered (%s), nothing proposed" % (host, why) for host, why in sorted(not_gathered)]
    decisions += ["names (DNS names clients use) are not inferred: add `names` where clients use one",
                  "check: proposed where the host's own probe identified the protocol (`{http: {path: /, status: N}}` for HTTP, "
                  "`{protocol: NAME}` otherwise); review it: the probe came from the host itself, the check runs from each "
                  "allowed source" if identify else "check: only commented suggestions (`# check: {protocol: ...}`), from the "
                  "process name or port; nothing was probed (portproof_discover_identify: false)"]
    lines += ["- %s" % comment(text) for text in decisions] + [""]
    lines += ["## Checked before writing", ""]
    failing = [(host, text) for host in sorted(verification) for text in verification[host]]
    if failing:
        lines.append("The static checks over the facts just gathered do not all pass with this contract:")
        lines += ["- %s: %s" % (host, comment(text)) for host, text in failing]
    else:
        lines.append("The static checks (listen, bind, process, mapping, firewall_allow, firewall_deny, and undeclared in strict "
                     "mode) pass on every host over the facts just gathered.")
    return "\n".join(lines) + "\n"


def marker_text(files: Sequence[str]) -> str:
    return "# portproof.validate.discover wrote this directory; it rewrites only the files listed here.\n" + \
        "".join("%s\n" % name for name in files)


def marker_files(text: Optional[str]) -> List[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip() and not line.startswith("#")]
