# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The load check of port_probe: ``requests`` probes of one target (TCP connects, or the
# target's full check: TLS, HTTP, send/expect) with ``concurrency`` of them in flight, each
# bounded by the target's timeout, then count, errors and p50/p95/max latency.

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Set, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import (
    check,
    classify_oserror,
    ms,
    percentile,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Aborted, Session
from ansible_collections.portproof.validate.plugins.module_utils._probe._stream import exchange

GUARD_TICK = 0.02  # seconds between deadline sweeps of the requests in flight
DEADLINE_GRACE = 1.0  # seconds the requests in flight get to end once the run's deadline passed
ERROR_SAMPLES = 5

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._probe._target import Target


def _new_session(target: Target, addrinfo: Tuple[Any, ...]) -> Session:
    session = Session(target)
    session.load_request = True
    session.addrinfo = addrinfo
    session.start()
    return session


def _drive(session: Session) -> None:
    """One request over a blocking socket, bounded by the guard in run_load()."""
    target = session.target
    family, socktype, proto, _canon, sockaddr = session.addrinfo or ()
    try:
        session.begin_connect()
        sock = socket.socket(family, socktype, proto)
        session.track(sock)
        session.arm(sock)
        sock.connect(sockaddr)
        session.mark_connected()
        if target.has_response:
            exchange(session, sock)
        session.finish('open')
    except Aborted:
        pass
    except socket.timeout:
        session.expire()
    except OSError as exc:
        session.finish(*classify_oserror(exc))
    finally:
        session.close_sockets()


def _error_kind(result: Dict[str, Any]) -> str:
    if result['state'] != 'open':
        return result['state']
    for entry in result['response']:
        if entry['status'] in ('fail', 'error', 'unavailable'):
            return entry['name']
    return 'unknown'


def run_load(target: Target, opts: Dict[str, Any], probe: Session) -> Dict[str, Any]:
    """Run the load against ``target``; ``probe`` is its finished probe session (its resolved
    address is reused so that every request goes to the same place)."""
    base: Dict[str, Any] = {'host': target.host, 'port': target.port, 'requests': opts['requests'], 'concurrency': opts['concurrency']}
    if probe.addrinfo is None or probe.blocked:
        why = probe.reason if probe.blocked else 'the target did not resolve (%s)' % probe.state
        base.update({'ok': False, 'completed': 0, 'errors': opts['requests'], 'checks': [
            check('load', 'skip', message='not run: %s' % why)]})
        return base
    addrinfo = probe.addrinfo
    lock = threading.Lock()
    counter = [0]
    stop = threading.Event()  # the deadline passed: start nothing more
    in_flight: Set[Session] = set()
    latencies: List[float] = []
    errors: Dict[str, int] = {}
    samples: List[str] = []

    def worker() -> None:
        while True:
            with lock:
                if stop.is_set() or counter[0] >= opts['requests']:
                    return
                counter[0] += 1
            session = _new_session(target, addrinfo)
            with lock:
                in_flight.add(session)
            _drive(session)
            result = session.result()
            with lock:
                in_flight.discard(session)
                if stop.is_set() and not result['ok']:
                    continue  # ended by the run's deadline, not the service's failure: counted as cut short
                if result['ok']:
                    latencies.append(result['total_ms'])
                else:
                    kind = _error_kind(result)
                    errors[kind] = errors.get(kind, 0) + 1
                    if len(samples) < ERROR_SAMPLES:
                        samples.append('%s: %s' % (kind, result['reason'] or next(
                            (entry['message'] for entry in result['response'] if entry['name'] == kind), '')))

    began = time.monotonic()
    deadline = began + opts['deadline']
    threads: List[threading.Thread] = []
    for _index in range(opts['concurrency']):
        thread = threading.Thread(target=worker, name='port_probe-load', daemon=True)
        thread.start()
        threads.append(thread)
    while any(thread.is_alive() for thread in threads):
        now = time.monotonic()
        if now >= deadline and not stop.is_set():
            stop.set()
        if now >= deadline + DEADLINE_GRACE:
            break  # a request that ignores its shut-down socket: left to its daemon thread
        with lock:
            overdue = [session for session in in_flight if session.deadline <= now or stop.is_set()]
        for session in overdue:
            session.expire()
        time.sleep(GUARD_TICK)
    duration = time.monotonic() - began
    with lock:
        result = summarize(base, opts, list(latencies), dict(errors), list(samples), duration)
        started = counter[0]
    if stop.is_set():
        result['deadline_reached'] = True
        result['cut'] = started - result['completed']
        result['checks'].append(check('load_deadline', 'fail', expected='<= %g s' % opts['deadline'], actual=result['completed'],
                                      message='the load run reached its deadline of %g s after %d of %d requests (%d succeeded, %d failed, '
                                              '%d cut short by the deadline); raise load.deadline (role variable '
                                              'portproof_load_deadline) or run fewer requests'
                                              % (opts['deadline'], result['completed'], opts['requests'], len(latencies),
                                                 result['errors'], started - result['completed'])))
        result['ok'] = False
    return result


def summarize(base: Dict[str, Any], opts: Dict[str, Any], latencies: List[float], errors: Dict[str, int], samples: List[str],
              duration: float) -> Dict[str, Any]:
    """The load result from per-request latencies (ms, successful requests) and error counts."""
    count = len(latencies) + sum(errors.values())
    error_count = sum(errors.values())
    p95 = percentile(latencies, 95)
    result = dict(base)
    result.update({
        'completed': count,
        'errors': error_count,
        'error_kinds': dict(sorted(errors.items())),
        'error_samples': samples,
        'p50_ms': percentile(latencies, 50),
        'p95_ms': p95,
        'max_ms': max(latencies) if latencies else None,
        'min_ms': min(latencies) if latencies else None,
        'mean_ms': round(sum(latencies) / len(latencies), 3) if latencies else None,
        'duration_ms': ms(duration),
        'rate_per_s': round(count / duration, 1) if duration > 0 else None,
    })
    checks = [check('load_errors', 'pass' if error_count <= opts['max_errors'] else 'fail', expected='<= %d' % opts['max_errors'],
                    actual=error_count, message='%d of %d requests failed%s' % (
                        error_count, count, (': ' + ', '.join('%s %d' % item for item in sorted(errors.items()))) if errors else ''))]
    if opts['p95_ms'] is not None:
        if p95 is None:
            checks.append(check('load_p95', 'fail', expected=opts['p95_ms'], message='no request succeeded, no latency to compare'))
        else:
            checks.append(check('load_p95', 'pass' if p95 <= opts['p95_ms'] else 'fail', expected=opts['p95_ms'], actual=p95,
                                message='p95 %.3f ms over %d successful requests (limit %s ms)' % (p95, len(latencies), opts['p95_ms'])))
    result['checks'] = checks
    result['ok'] = all(entry['status'] == 'pass' for entry in checks)
    return result
