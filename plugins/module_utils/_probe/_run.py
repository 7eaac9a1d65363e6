# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Entry point of port_probe: from the module's parameters to its result. One round of probes,
# or rounds until every probe holds (wait), then the load run.

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._engine import ResolveFunction, run_probes
from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import ms
from ansible_collections.portproof.validate.plugins.module_utils._probe._load import run_load
from ansible_collections.portproof.validate.plugins.module_utils._probe._names import Lookup, NameLookups, system_lookup
from ansible_collections.portproof.validate.plugins.module_utils._probe._regex import MATCHER
from ansible_collections.portproof.validate.plugins.module_utils._probe._secrets import scrub_data
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import (
    ProbeConfigError,
    Target,
    normalize_load,
    normalize_targets,
    normalize_wait,
)


def probe_until(targets: List[Target], wait: Dict[str, Any], resolver: Optional[ResolveFunction] = None,
                sleep: Callable[[float], None] = time.sleep, allow_link_local: bool = False,
                first_answer: bool = False) -> Tuple[List[Session], Dict[str, Any]]:
    """Retry the probes that do not hold until all hold or wait.timeout has passed."""
    began = time.monotonic()
    end = began + wait['timeout']
    final: List[Optional[Session]] = [None] * len(targets)
    todo = list(range(len(targets)))
    rounds = 0
    while True:
        rounds += 1
        left = max(0.05, end - time.monotonic())
        sessions = run_probes([targets[i] for i in todo], resolver=resolver, limits=[left] * len(todo), allow_link_local=allow_link_local,
                              first_answer=first_answer)
        still = []
        for index, session in zip(todo, sessions):
            previous = final[index]
            session.attempts = previous.attempts + 1 if previous is not None else 1
            final[index] = session
            if not session.result()['ok'] and not session.blocked:
                still.append(index)
        todo = still
        if not todo or time.monotonic() + wait['interval'] >= end:
            break
        sleep(wait['interval'])
    done = [session for session in final if session is not None]  # every target was probed in the first round
    info = {'held': not todo and not any(session.blocked for session in done), 'rounds': rounds, 'timeout': wait['timeout'], 'interval': wait['interval'],
            'elapsed_ms': ms(time.monotonic() - began)}
    return done, info


def run(params: Dict[str, Any], resolver: Optional[ResolveFunction] = None, lookup: Lookup = system_lookup) -> Dict[str, Any]:
    """Everything the module does, from its validated parameters to its result (without
    ``changed``). Raises ProbeConfigError for input no argument_spec can reject."""
    names = normalize_resolve(params.get('resolve'))
    if names is not None and not params.get('targets'):
        return resolve_only(names, lookup)
    targets = normalize_targets(params.get('targets'))
    load = normalize_load(params['load'], targets) if params.get('load') is not None else None
    wait = normalize_wait(params['wait']) if params.get('wait') is not None else None
    allow = bool(params.get('allow_link_local'))
    first = bool(params.get('first_answer'))
    if any(target.expect is not None or (target.http is not None and target.http['body'] is not None) for target in targets):
        MATCHER.prepare()  # before the clock starts: its start-up is no probe's latency
    began = time.monotonic()
    # the names resolve while the targets are probed: the run lasts about the larger of the two timeouts
    lookups = NameLookups(names[0], names[1], lookup) if names is not None else None
    wait_info: Optional[Dict[str, Any]] = None
    if wait is not None:
        sessions, wait_info = probe_until(targets, wait, resolver=resolver, allow_link_local=allow, first_answer=first)
    else:
        sessions = run_probes(targets, resolver=resolver, allow_link_local=allow, first_answer=first)
    probes = [session.result() for session in sessions]
    result: Dict[str, Any] = {'probes': probes}
    if lookups is not None:
        result['resolved'] = lookups.results()
    if wait_info is not None:
        result['wait'] = wait_info
    if load is not None:
        result['load'] = run_load(targets[0], load, sessions[0])
    result['ok'] = all(probe['ok'] for probe in probes) and (load is None or result['load']['ok'])
    result['elapsed_ms'] = ms(time.monotonic() - began)
    # The last guard before the result leaves this host: every form of every secret sent, anywhere.
    return scrub_data(result, sent_secrets(targets))


def normalize_resolve(raw: Optional[Dict[str, Any]]) -> Optional[Tuple[List[str], float]]:
    """(names, timeout) of the resolve option, or None without it; ProbeConfigError for what it cannot take."""
    if raw is None:
        return None
    names = raw.get('names') or []
    timeout = raw.get('timeout', 5.0)
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        raise ProbeConfigError('resolve.names: at least one name is required, each a non-empty string, got %r' % (names,))
    if timeout is None or not 0 < float(timeout) < float('inf'):
        raise ProbeConfigError('resolve.timeout must be a number of seconds above 0, got %r' % (timeout,))
    return [name.strip() for name in names], float(timeout)


def resolve_only(names: Tuple[List[str], float], lookup: Lookup) -> Dict[str, Any]:
    """The result of a run that resolves names and probes no target."""
    began = time.monotonic()
    resolved = NameLookups(names[0], names[1], lookup).results()
    return {'probes': [], 'resolved': resolved, 'ok': True, 'elapsed_ms': ms(time.monotonic() - began)}


def sent_secrets(targets: Sequence[Target]) -> List[str]:
    """Every form of the secrets the targets send (normalised targets), longest first."""
    forms = set(form for target in targets for form in target.secrets)
    return sorted(forms, key=lambda form: (-len(form), form))


def secrets_of(params: Dict[str, Any]) -> List[str]:
    """The secret forms of the module's parameters, for Ansible's no-log masking."""
    if not params.get('targets') and params.get('resolve') is not None:
        return []  # names only: nothing is sent
    return sent_secrets(normalize_targets(params.get('targets')))
