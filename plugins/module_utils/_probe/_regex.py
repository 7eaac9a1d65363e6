# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Regular expressions of a contract over what a remote peer sent, with a bound on the input and on
# the matching time. Python's re cannot be interrupted and holds the GIL while it backtracks
# (``^(a|aa)+$`` against 41 bytes takes seconds, against 60 bytes hours), so the match runs in a
# helper process of this host's own Python (standard library only), started once per module run
# and killed when a match outlives its limit; then the pattern, not the service, is blamed.

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Pattern, Tuple, Type

MATCH_INPUT_CAP = 1048576   # characters of received text a pattern is matched against at most
MATCH_LIMIT = 1.0           # seconds one match may take at most (less when the probe has less left)
MATCH_FLOOR = 0.1           # seconds a match is given even when its probe's deadline is closer
# re keeps state per character for groups inside a repetition: ((a)|b)*c takes about 200 MB over 1 MiB
MATCH_MEMORY = 134217728    # bytes of address space the helper may use
START_LIMIT = 5.0           # seconds the helper may take to start (not charged to any pattern)

# The helper says R when it is ready, then answers each request with 1 (found), 0 (not found),
# M (out of memory) or E (any other failure).
_HELPER = r"""
import json, re, sys
try:
    import resource
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
except (ImportError, ValueError, OSError):
    pass  # not Linux, or a lower limit already holds
cache = {}
read, write = sys.stdin.buffer.readline, sys.stdout.buffer
write.write(b'R\n')
write.flush()
while True:
    line = read()
    if not line:
        break
    try:
        request = json.loads(line.decode('utf-8'))
        key = (request['p'], request['f'])
        if key not in cache:
            cache[key] = re.compile(request['p'], request['f'])
        answer = b'1\n' if cache[key].search(request['t']) is not None else b'0\n'
    except MemoryError:
        answer = b'M\n'
    except Exception:
        answer = b'E\n'
    write.write(answer)
    write.flush()
"""


class PatternTimeout(Exception):
    """Matching PATTERN against SIZE characters did not finish within LIMIT seconds."""

    def __init__(self, pattern: str, size: int, limit: float) -> None:
        super(PatternTimeout, self).__init__(pattern, size, limit)
        self.pattern = pattern
        self.size = size
        self.limit = limit

    def __str__(self) -> str:
        return ('matching /%s/ against the %d characters received did not finish within %g s: the pattern is too slow '
                '(nested or overlapping repetition such as (a|aa)+ backtracks exponentially), not the service'
                % (self.pattern, self.size, self.limit))


class PatternTooCostly(PatternTimeout):
    """Matching PATTERN against SIZE characters needed more than LIMIT bytes of memory."""

    def __str__(self) -> str:
        return ('matching /%s/ against the %d characters received needed more than %d MiB of memory: the pattern is too costly '
                '(groups inside a repetition keep state for each character), not the service'
                % (self.pattern, self.size, self.limit // 1048576))


class PatternUnavailable(Exception):
    """The helper process that bounds matching time could not run."""


class Matcher(object):
    """One helper process, one match at a time; a pattern that timed out (or ran out of memory) once is
    not tried again, nor is a helper that could not start."""

    def __init__(self, argv: Optional[List[str]] = None, start_limit: float = START_LIMIT) -> None:
        self.argv = argv or [sys.executable, '-I', '-S', '-c', _HELPER, str(MATCH_MEMORY)]
        self.start_limit = start_limit
        self.proc: Any = None  # the helper's subprocess.Popen, with stdin and stdout pipes
        self.lock = threading.Lock()
        self.slow: Dict[Tuple[str, int], Tuple[Type[PatternTimeout], float]] = {}
        self.broken: Optional[str] = None  # why the helper could not start: not tried again in this run

    def prepare(self) -> None:
        """Start the helper now, before any probe is timed: a start during the probes (a Python
        start-up, 0.1 s to 0.3 s) would hold the probing loop and add to every probe in flight. A
        helper that cannot start is remembered and reported by each search()."""
        with self.lock:
            if self.proc is None and self.broken is None:
                try:
                    self._start()
                except PatternUnavailable:
                    pass  # self.broken says why; every regular expression check reports it

    def _start(self) -> None:
        if self.broken is not None:
            raise PatternUnavailable(self.broken)
        if not self.argv[0]:
            self.broken = 'no Python interpreter path (sys.executable) to run the matching helper'
            raise PatternUnavailable(self.broken)
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         close_fds=True)
        except OSError as exc:
            self.broken = 'cannot start the matching helper %s: %s' % (self.argv[0], exc)
            raise PatternUnavailable(self.broken)
        # its start-up is waited for on its own bound, never charged to the first pattern matched
        try:
            ready = self._answer(time.monotonic() + self.start_limit)
        except OSError:
            ready = b''
        if ready != b'R':
            self._kill()
            if ready is None:
                why = 'did not start within %g s' % self.start_limit
            else:
                why = 'exited as it started' if not ready else 'answered %r as it started' % ready
            self.broken = 'the matching helper %s %s' % (self.argv[0], why)
            raise PatternUnavailable(self.broken)

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.kill()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass  # a zombie until this process exits; never wait without a bound
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def search(self, pattern: Pattern[str], text: str, limit: float) -> bool:
        """Whether compiled PATTERN is found in TEXT (cut at MATCH_INPUT_CAP); raises PatternTimeout
        when matching takes longer than LIMIT seconds, PatternUnavailable when it cannot be bounded."""
        text = text[:MATCH_INPUT_CAP]
        key = (pattern.pattern, pattern.flags)
        with self.lock:
            if key in self.slow:
                kind, bound = self.slow[key]
                raise kind(pattern.pattern, len(text), bound)
            if self.proc is None or self.proc.poll() is not None:
                self._kill()
                self._start()
            request = (json.dumps({'p': pattern.pattern, 'f': pattern.flags, 't': text}) + '\n').encode('utf-8')
            try:
                self.proc.stdin.write(request)
                self.proc.stdin.flush()
                answer = self._answer(time.monotonic() + limit)
            except (OSError, ValueError) as exc:
                self._kill()
                raise PatternUnavailable('the matching helper failed: %s' % exc)
            if answer is None:
                self._kill()
                self.slow[key] = (PatternTimeout, limit)
                raise PatternTimeout(pattern.pattern, len(text), limit)
            if answer == b'M':
                self._kill()  # its memory back to the host at once
                self.slow[key] = (PatternTooCostly, MATCH_MEMORY)
                raise PatternTooCostly(pattern.pattern, len(text), MATCH_MEMORY)
            if answer not in (b'0', b'1'):
                self._kill()
                raise PatternUnavailable('the matching helper answered %r' % answer)
            return answer == b'1'

    def _answer(self, deadline: float) -> Optional[bytes]:
        fd = self.proc.stdout.fileno()
        data = b''
        while not data.endswith(b'\n'):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _w, _x = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 16)
            if not chunk:
                raise OSError('the matching helper exited')
            data += chunk
        return data.strip()


MATCHER = Matcher()


def match_limit(remaining: Optional[float]) -> float:
    """Seconds a match may take when its probe has REMAINING seconds left (None: no probe deadline)."""
    if remaining is None:
        return MATCH_LIMIT
    return max(MATCH_FLOOR, min(MATCH_LIMIT, remaining))
