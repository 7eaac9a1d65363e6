# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Verdict vocabulary of port_probe: outcome states, socket error classification, check entries,
# latency arithmetic. Pure functions, no I/O.

from __future__ import annotations

import errno
import math
import os
import re
from typing import Any, Dict, List, Optional, Pattern, Sequence, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._probe._regex import MATCH_LIMIT, MATCHER
from ansible_collections.portproof.validate.plugins.module_utils._probe._secrets import scrub, scrub_tail

STATES = ('open', 'refused', 'timeout', 'unreachable', 'dns_error', 'open_filtered', 'error')
CHECK_STATUSES = ('pass', 'fail', 'error', 'unavailable', 'skip')

# errno -> state for a TCP connect or a connected UDP socket.
# ECONNREFUSED: TCP RST, or ICMP port unreachable (also what a firewall "reject" sends by default).
# ENETUNREACH/EHOSTUNREACH/EHOSTDOWN: no route, ICMP net/host unreachable, or ICMP admin prohibited
# (Linux maps "communication administratively prohibited" to EHOSTUNREACH).
_REFUSED = frozenset([errno.ECONNREFUSED])
_UNREACHABLE = frozenset(code for code in (
    errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, getattr(errno, 'ENONET', None)) if code is not None)
_TIMEOUT = frozenset([errno.ETIMEDOUT])


def describe_errno(code: int) -> str:
    """'Connection refused (ECONNREFUSED)' for an errno value."""
    return '%s (%s)' % (os.strerror(code), errno.errorcode.get(code, 'errno %d' % code))


def classify_errno(code: int) -> Tuple[str, Optional[str]]:
    """Map the errno of a connect (SO_ERROR) or of a UDP receive to (state, reason)."""
    if code == 0:
        return 'open', None
    reason = describe_errno(code)
    if code in _REFUSED:
        return 'refused', reason
    if code in _UNREACHABLE:
        return 'unreachable', reason
    if code in _TIMEOUT:
        return 'timeout', reason
    return 'error', reason


def classify_oserror(exc: OSError) -> Tuple[str, Optional[str]]:
    """(state, reason) for an OSError raised by socket(), connect(), send() or recv()."""
    if exc.errno:
        return classify_errno(exc.errno)
    return 'error', str(exc) or type(exc).__name__


def check(name: str, status: str, expected: Any = None, actual: Any = None, message: str = '', **extra: Any) -> Dict[str, Any]:
    """One response check entry as returned in ``probes[].response``."""
    if status not in CHECK_STATUSES:
        raise ValueError('unknown check status %r' % (status,))
    entry = {'name': name, 'status': status, 'expected': expected, 'actual': actual, 'message': message}
    entry.update(extra)
    return entry


def ms(seconds: Optional[float]) -> Optional[float]:
    """Seconds (float) to milliseconds rounded to microseconds; None stays None."""
    if seconds is None:
        return None
    return round(seconds * 1000.0, 3)


def excerpt(data: Union[bytes, str], limit: int = 256, secrets: Sequence[str] = ()) -> str:
    """Text of received bytes for evidence, capped at ``limit`` characters, with every form of a
    secret the probe sent (``secrets``, see _secrets.py) masked before it is cut, and a secret
    cut short at the end of what was received masked too."""
    text = data.decode('utf-8', 'replace') if isinstance(data, bytes) else data
    if secrets:
        text = scrub(text, secrets)
    if len(text) > limit:
        return text[:limit] + '...'
    if secrets:
        text = scrub_tail(text, secrets)
    return text


_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f]')


def escape_controls(text: str) -> str:
    """TEXT with C0 and C1 control characters (and DEL) written as Python escapes (\\r, \\x1b)."""
    return _CONTROL.sub(lambda match: match.group(0).encode('unicode_escape').decode('ascii'), text)


def safe_excerpt(data: Union[bytes, str], limit: int = 120, secrets: Sequence[str] = ()) -> str:
    """A bounded excerpt of what a peer sent, for a message: secrets masked, controls escaped, quoted."""
    return "'%s'" % escape_controls(excerpt(data, limit, secrets))


def regex_search(pattern: Pattern[str], data: bytes, limit: float = MATCH_LIMIT) -> bool:
    """Search a compiled text regex in received bytes (decoded as UTF-8, bad bytes replaced), in
    bounded time: raises PatternTimeout past LIMIT seconds (see _regex.py)."""
    return MATCHER.search(pattern, data.decode('utf-8', 'replace'), limit)


def pattern_problem(name: str, exc: Exception, pattern: Pattern[str], data: bytes, secrets: Sequence[str] = ()) -> Dict[str, Any]:
    """The check entry of NAME when matching its PATTERN could not finish (PatternTimeout, or
    PatternTooCostly for memory) or
    could not be bounded (PatternUnavailable); DATA is what the peer sent."""
    return check(name, 'error', expected=pattern.pattern, actual=excerpt(data, 120, secrets),
                 message='%s; received: %s' % (exc, safe_excerpt(data, 120, secrets)))


def percentile(values: List[float], pct: float) -> Optional[float]:
    """Nearest-rank percentile of a list of numbers (``pct`` in (0, 100]); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = int(math.ceil(pct / 100.0 * len(ordered)))
    return ordered[max(rank, 1) - 1]


def max_ms_check(max_ms: Optional[float], measured_ms: Optional[float], what: str) -> Dict[str, Any]:
    """The ``max_ms`` check: ``measured_ms`` (connect or full response time) against the limit."""
    if measured_ms is None:
        return check('max_ms', 'skip', expected=max_ms, message='no %s time was measured' % what)
    status = 'pass' if max_ms is None or measured_ms <= max_ms else 'fail'
    return check('max_ms', status, expected=max_ms, actual=measured_ms,
                 message='%s took %.3f ms (limit %s ms)' % (what, measured_ms, max_ms))


def probe_ok(state: Optional[str], checks: List[Dict[str, Any]]) -> bool:
    """A probe holds when the port is open and no check failed, errored or was unavailable.

    A ``skip`` entry deferred to the controller (``evaluated_on: controller``) does not count
    against it here; the controller re-computes ``ok`` once it has evaluated the entry.
    """
    if state != 'open':
        return False
    for entry in checks:
        if entry['status'] in ('fail', 'error', 'unavailable'):
            return False
    return True
