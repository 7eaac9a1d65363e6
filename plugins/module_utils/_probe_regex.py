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

MATCH_INPUT_CAP = 1048576   # characters of received text a pattern is matched against at most
MATCH_LIMIT = 1.0           # seconds one match may take at most (less when the probe has less left)
MATCH_FLOOR = 0.1           # seconds a match is given even when its probe's deadline is closer

_HELPER = r"""
import json, re, sys
cache = {}
read, write = sys.stdin.buffer.readline, sys.stdout.buffer
while True:
    line = read()
    if not line:
        break
    try:
        request = json.loads(line.decode('utf-8'))
        key = (request['p'], request['f'])
        if key not in cache:
            cache[key] = re.compile(request['p'], request['f'])
        write.write(b'1\n' if cache[key].search(request['t']) is not None else b'0\n')
    except Exception:
        write.write(b'E\n')
    write.flush()
"""


class PatternTimeout(Exception):
    """Matching PATTERN against SIZE characters did not finish within LIMIT seconds."""

    def __init__(self, pattern, size, limit):
        super(PatternTimeout, self).__init__(pattern, size, limit)
        self.pattern = pattern
        self.size = size
        self.limit = limit

    def __str__(self):
        return ('matching /%s/ against the %d characters received did not finish within %g s: the pattern is too slow '
                '(nested or overlapping repetition such as (a|aa)+ backtracks exponentially), not the service'
                % (self.pattern, self.size, self.limit))


class PatternUnavailable(Exception):
    """The helper process that bounds matching time could not run."""


class Matcher(object):
    """One helper process, one match at a time; a pattern that timed out once is not tried again."""

    def __init__(self, argv=None):
        self.argv = argv or [sys.executable, '-I', '-S', '-c', _HELPER]
        self.proc = None
        self.lock = threading.Lock()
        self.slow = {}

    def _start(self):
        if not self.argv[0]:
            raise PatternUnavailable('no Python interpreter path (sys.executable) to run the matching helper')
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         close_fds=True)
        except OSError as exc:
            raise PatternUnavailable('cannot start the matching helper %s: %s' % (self.argv[0], exc))

    def _kill(self):
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

    def search(self, pattern, text, limit):
        """Whether compiled PATTERN is found in TEXT (cut at MATCH_INPUT_CAP); raises PatternTimeout
        when matching takes longer than LIMIT seconds, PatternUnavailable when it cannot be bounded."""
        text = text[:MATCH_INPUT_CAP]
        key = (pattern.pattern, pattern.flags)
        with self.lock:
            if key in self.slow:
                raise PatternTimeout(pattern.pattern, len(text), self.slow[key])
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
                self.slow[key] = limit
                raise PatternTimeout(pattern.pattern, len(text), limit)
            if answer not in (b'0', b'1'):
                self._kill()
                raise PatternUnavailable('the matching helper answered %r' % answer)
            return answer == b'1'

    def _answer(self, deadline):
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


def match_limit(remaining):
    """Seconds a match may take when its probe has REMAINING seconds left (None: no probe deadline)."""
    if remaining is None:
        return MATCH_LIMIT
    return max(MATCH_FLOOR, min(MATCH_LIMIT, remaining))
