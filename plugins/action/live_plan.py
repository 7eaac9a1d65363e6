# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.live_plan (private to the roles of this collection): the first task of a live step, run once
# for the play on the controller. Decides whether the step probes or reuses the probe run of an earlier step of
# the same play, plans the probes of the whole play when it probes (plugin_utils/_probe_plan.py), and returns
# the plan, the summary line and the delegated work of the step. Registered as portproof_live_step.

from __future__ import annotations

import datetime
import time
import typing as t


from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import (
    LiveStepError, check_kinds, delegated_work, make_plan, must_probe, probing_hosts, step_key, summary,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import (
    SliceError, cached_facts_state, check_name, check_seconds, lost_marker, missing_message, stale_message,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction

# How often a slice reads the fact cache again while it waits for the facts of the other slices.
POLL_SECONDS = 1.0


class FactCache(object):
    """The configured fact cache, read fresh in each round of reads (a new instance of the cache plugin for each round:
    Ansible's own, and each instance, keep what they read once); AnsibleActionFail when no persistent fact cache is
    configured. LOADERS: the action's shared plugin loaders; the cache plugin's name is read with the lookup
    ansible.builtin.config."""

    def __init__(self, loaders: t.Any, loader: t.Any, templar: t.Any) -> None:
        self.loaders = loaders
        self._plugin: t.Any = None
        config = loaders.lookup_loader.get("ansible.builtin.config", loader=loader, templar=templar)
        if config is None:
            raise AnsibleActionFail("sliced run: the fact cache setting cannot be read (the lookup ansible.builtin.config is not available)")
        self.name = str((config.run(["CACHE_PLUGIN"]) or ["memory"])[0] or "memory")
        if self.name.rsplit(".", maxsplit=1)[-1] == "memory":
            raise AnsibleActionFail("sliced run: the fact cache is Ansible's in-memory one, which the other slices cannot read; set "
                                    "fact_caching (ansible.cfg [defaults] or ANSIBLE_CACHE_PLUGIN) to a shared cache such as jsonfile on "
                                    "shared storage or community.general.redis, see docs/execution-environment.md")

    def plugin(self) -> t.Any:
        try:
            found = self.loaders.cache_loader.get(self.name)
        except AnsibleError as exc:
            raise AnsibleActionFail("sliced run: the fact cache plugin %s cannot be used: %s" % (self.name, exc))
        if found is None:
            raise AnsibleActionFail("sliced run: the fact cache plugin %s is not installed (fact_caching)" % self.name)
        return found

    def refresh(self) -> None:
        """Read anew from the next read on (one connection, one instance a round)."""
        self._plugin = None

    def read(self, host: str) -> t.Any:
        """The port facts of HOST in the cache, None when it has none."""
        if self._plugin is None:
            self._plugin = self.plugin()
        try:
            return (self._plugin.get(host) or {}).get("portproof")
        except KeyError:
            return None

    def mark_lost(self, host: str, marker: t.Dict[str, t.Any]) -> None:
        """Put MARKER as the port facts of HOST, keeping the host's other cached facts."""
        plugin = self.plugin()
        try:
            found = dict(plugin.get(host) or {})
        except KeyError:
            found = {}
        found["portproof"] = marker
        plugin.set(host, found)


def cached_facts(run_id: str, hosts: t.Sequence[str], read: t.Callable[[str], t.Any], max_age: float, wait: float,
                 clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep,
                 refresh: t.Callable[[], None] = lambda: None) -> t.Dict[str, t.Any]:
    """{host: port facts} of HOSTS as this run (RUN_ID) cached them, waiting up to WAIT seconds for the slices that have not
    gathered yet; SliceError when some are stale (never used) or still missing at the end of the wait."""
    found: t.Dict[str, t.Any] = {}
    lost: t.Set[str] = set()  # gathered by no slice: targets whose facts were not gathered, as in one unsliced run
    deadline = clock() + wait
    while True:
        refresh()
        waiting, stale = [], []
        now = datetime.datetime.now(datetime.timezone.utc)
        for host in hosts:
            if host in found or host in lost:
                continue
            facts = read(host)
            state, why = cached_facts_state(host, facts, run_id, now, max_age)
            if state == "ok":
                found[host] = facts
            elif state == "lost":
                lost.add(host)
            elif state == "stale":
                stale.append(why)
            else:
                waiting.append(why)
        if stale:
            raise SliceError(stale_message(run_id, stale))
        if not waiting:
            return found
        if clock() >= deadline:
            raise SliceError(missing_message(run_id, waiting, wait))
        sleep(min(POLL_SECONDS, max(0.0, deadline - clock())))


class ActionModule(StepAction):

    ARGUMENT_SPEC = {
        "kinds": {"type": "list", "elements": "str", "required": True},
        "sample": {"type": "raw"},
        "timeout": {"type": "raw"},
        # the hosts the run's --limit (ansible_limit) selects, as the inventory_hostnames lookup gives them
        "limit_hosts": {"type": "list", "elements": "str"},
        # a sliced run: its id, every host of the run (portproof_hosts), the age limit of cached facts and the bounded wait
        "run_id": {"type": "str", "default": ""},
        "targets": {"type": "list", "elements": "str"},
        "max_age": {"type": "raw", "default": 3600},
        "wait": {"type": "raw", "default": 300},
    }

    def step(self, result: t.Dict[str, t.Any], task_vars: t.Dict[str, t.Any], args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        hosts_all = [str(host) for host in task_vars["ansible_play_hosts_all"]]
        key = step_key(str(task_vars.get("ansible_play_name") or ""), hosts_all)
        try:
            kinds = check_kinds(args["kinds"])
            previous = task_vars.get("portproof_live_step")
            fresh = must_probe(kinds, key, previous, (task_vars.get("portproof_live_record") or {}).get("state"))
            if fresh:
                limit = task_vars.get("ansible_limit")
                slice_of, cached = None, None
                if args["run_id"]:
                    run_id = check_name("portproof_run_id", args["run_id"])
                    slice_of = [str(host) for host in args["targets"] or []]
                    others = [host for host in slice_of if host not in hosts_all]
                    cache = FactCache(self._shared_loader_obj, self._loader, self._templar)
                    # this slice's hosts that left the play before they were gathered: the other slices must not wait for them
                    in_play = set(str(host) for host in task_vars["ansible_play_hosts"])
                    for host in hosts_all:
                        if host not in in_play:
                            cache.mark_lost(host, lost_marker(run_id))
                    cached = cached_facts(run_id, others, cache.read, check_seconds("portproof_facts_max_age", args["max_age"]),
                                          check_seconds("portproof_slice_wait", args["wait"]), refresh=cache.refresh) if others else {}
                plan = make_plan(task_vars["hostvars"], task_vars["groups"], hosts_all, [str(host) for host in task_vars["ansible_play_hosts"]],
                                 sample=args["sample"], timeout=args["timeout"], limit_hosts=args["limit_hosts"] if limit else None,
                                 limit=limit or None, slice_of=slice_of, cached=cached)
            else:
                plan = t.cast(t.Dict[str, t.Any], previous)["plan"]
        except (LiveStepError, SliceError) as exc:
            raise AnsibleActionFail("live checks: %s" % exc)
        result.update(changed=False, fresh=fresh, key=key, kinds=kinds, plan=plan, probing=probing_hosts(plan, fresh, kinds),
                      delegated=delegated_work(plan, fresh, kinds),
                      summary=summary(plan) if fresh else None)
        return self.quiet(result)
