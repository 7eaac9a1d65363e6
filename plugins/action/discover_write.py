# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.discover_write (private to the roles of this collection): writes the contract discovered from
# the port facts of the play's hosts to portproof_discover_dir on the controller (run once for the play). Nothing
# on any host changes. It refuses a directory that holds anything but an earlier discover output (its marker file
# lists what it wrote), and in one that does it replaces only those files.

from __future__ import annotations

import datetime
import os

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.action.report_write import ReportWriteError, write_report
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import ContractError, contract_variables, load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._discover import DiscoverError
from ansible_collections.portproof.validate.plugins.module_utils._probe._names import NameLookups
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_files import build_files
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_names import Answer, Naming, candidates
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_identify import asked_for, merge_identified, source_runs
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_render import HOST_VARIABLE, MARKER, marker_files
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import host_address
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction, module_data
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import need_netaddr

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEFAULT_DIR = "portproof-discovered"
# The variable the role registers the result of discover_gather in, per host (identified, resolved).
IDENTIFIED = "portproof_discover_gathered"
RESOLVED = "portproof_discover_gathered"
DEFAULT_TIMEOUT = 5.0


class DiscoverDirError(Exception):
    pass


def earlier_output(root: str) -> List[str]:
    """The files an earlier discover wrote in ROOT ([] when ROOT is missing or empty); DiscoverDirError when ROOT
    holds anything else: discover never writes over files it did not write."""
    if not os.path.lexists(root):
        return []
    if not os.path.isdir(root) or os.path.islink(root):
        raise DiscoverDirError("%s is not a directory" % root)
    entries = os.listdir(root)
    if not entries:
        return []
    marker = os.path.join(root, MARKER)
    if not os.path.isfile(marker):
        raise DiscoverDirError("%s is not empty and is not the output of an earlier discover (it has no %s): give an empty or "
                               "new directory in portproof_discover_dir; discover never writes over files it did not write"
                               % (root, MARKER))
    with open(marker, "rb") as handle:
        return marker_files(handle.read(65536).decode("utf-8", "replace"))


class ActionModule(StepAction):

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        need_netaddr("discover")
        hostvars = task_vars["hostvars"]
        groups = dict((str(k), [str(h) for h in v]) for k, v in (self.var(task_vars, "groups", {}) or {}).items())
        hosts_all = [str(h) for h in self.var(task_vars, "ansible_play_hosts_all", [])]
        play_hosts = set(str(h) for h in self.var(task_vars, "ansible_play_hosts", []))
        ssh = str(self.var(task_vars, "portproof_discover_ssh", "ignore"))  # the role's argument spec checks it
        identify = self.flag(task_vars, "portproof_discover_identify")
        identified: Optional[Dict[str, Any]] = {} if identify else None
        resolve = self.flag(task_vars, "portproof_discover_names")
        resolved: Dict[str, Optional[Dict[str, Answer]]] = {}
        index = self.addresses(task_vars)
        facts: Dict[str, Any] = {}
        existing: Dict[str, Any] = {}
        not_gathered: List[Tuple[str, str]] = []
        problems: List[str] = []
        names = set(groups.get("all", [])) | set(groups.get("ungrouped", []))
        # each host's variables read once (every read of hostvars[HOST] computes all of HOST's variables), and what the
        # play's modules gave it read as it is: templating a result only copies it, at the cost of the whole run
        own = dict((host, module_data(hostvars, host)) for host in hosts_all)
        runs = source_runs(own, sorted(play_hosts)) if identified is not None else []
        for host in hosts_all:
            hvars = own[host]
            gathered = (hvars.get("ansible_facts") or {}).get("portproof") if host in play_hosts else None
            if not isinstance(gathered, dict):
                not_gathered.append((host, "unreachable or failed" if host not in play_hosts else "port facts missing"))
                continue
            facts[host] = gathered
            asked = hvars.get(IDENTIFIED) if identified is not None else None
            if identified is not None and isinstance(asked, dict) and isinstance(asked.get("identified"), dict):
                identified[host] = merge_identified(asked["identified"], asked_for(runs, host))
            answered = hvars.get(RESOLVED) if resolve else None
            if isinstance(answered, dict) and "resolved" in answered:
                resolved[host] = answered["resolved"] if isinstance(answered["resolved"], dict) else None
            # the user's contract variables, templated as hostvars[HOST] gives them (read only when HOST has some)
            variables = [(name, self._templar.template(value)) for name, value in contract_variables(hostvars[host])
                         if not name.startswith(HOST_VARIABLE)] if contract_variables(dict.fromkeys(hvars)) else []
            if variables:
                try:
                    existing[host] = load_contract(host, variables, set(groups), names)
                except ContractError as exc:
                    problems.append(str(exc))
        if problems:
            result.update(failed=True, msg="discover: the existing contract is invalid, fix it first:\n" + "\n".join(problems))
            return result
        configured = self.var(task_vars, "portproof_discover_dir") or DEFAULT_DIR
        root = os.path.realpath(os.path.abspath(os.path.expanduser(str(configured))))
        addresses = dict((host, host_address(index, host)) for host in facts)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime(STAMP_FORMAT)
        naming = None
        if resolve:
            timeout = self.var(task_vars, "portproof_probe_timeout", DEFAULT_TIMEOUT)

            def controller_lookup(names: Sequence[str]) -> Dict[str, Answer]:
                """The names as the controller's clients resolve them (port_probe's own resolver call), bounded."""
                return {str(a["name"]): a for a in NameLookups(list(names), float(timeout or DEFAULT_TIMEOUT)).results()}

            naming = Naming({host: candidates(host, (index.get(host) or {}).get("ansible_host")) for host in facts},
                            resolved, controller_lookup)
        try:
            files, verification = build_files(facts, groups, index, addresses, stamp, str(configured), ssh=ssh,
                                              existing=existing, not_gathered=not_gathered,
                                              identified=identified, naming=naming)
        except DiscoverError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        check_mode = bool(self._task.check_mode)
        try:
            earlier = earlier_output(root)
            theirs = sorted(name for name in files if name != MARKER and name not in earlier
                            and os.path.lexists(os.path.join(root, name)))
            if theirs:
                raise DiscoverDirError("%s holds %s, which an earlier discover did not write: discover never writes over files "
                                       "it did not write" % (root, ", ".join(theirs)))
            changed, _paths = write_report(root, sorted(files.items()), check_mode)
        except DiscoverDirError as exc:
            result.update(failed=True, path=root, msg="discover: %s" % exc)
            return result
        except ReportWriteError as err:
            result.update(failed=True, path=err.path, msg="discover: cannot write %s: %s" % (err.path, err))
            return result
        removed = []
        for name in earlier:
            path = os.path.normpath(os.path.join(root, name))
            if name in files or os.path.commonpath([root, path]) != root or not os.path.isfile(path):
                continue
            if not check_mode:
                os.unlink(path)
            removed.append(name)
        result.update(changed=False, written=changed or bool(removed), path=root, files=sorted(files), removed=removed,
                      hosts=sorted(facts), not_gathered=[host for host, _why in not_gathered], verification=verification)
        if verification:
            result["warnings"] = ["discover: the static checks would not all pass with the discovered contract of %s; see %s"
                                  % (", ".join(sorted(verification)), os.path.join(root, "README.md"))]
        return self.quiet(result)
