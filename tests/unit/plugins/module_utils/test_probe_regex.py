# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Regular expressions over what a peer sent: a pattern that backtracks catastrophically
# (^(a|aa)+$ against 39 a's and a '!': about 6 s in Python's re) must not hold the probe past its
# deadline, and the verdict blames the pattern, not the service, which answered at once.

from __future__ import annotations

import os
import re
import sys
import time

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._regex import (
    MATCHER,
    Matcher,
    _HELPER,
    PatternTimeout,
    PatternTooCostly,
    PatternUnavailable,
    match_limit,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers

EVIL = '^(a|aa)+$'
ANSWER = b'a' * 39 + b'!'
BLAME = ("matching /^(a|aa)+$/ against the 40 characters received did not finish within 1 s: the pattern is too slow (nested or "
         "overlapping repetition such as (a|aa)+ backtracks exponentially), not the service; received: '%s'" % ANSWER.decode())


@pytest.fixture(autouse=True)
def fresh_matcher():
    # the module's helper remembers patterns that timed out: each test starts without that memory
    MATCHER.slow.clear()
    yield
    MATCHER.slow.clear()


def checks(result):
    return dict((entry['name'], entry) for entry in result['response'])


def timed(params):
    began = time.monotonic()
    result = run(params)
    return result, time.monotonic() - began


def test_a_slow_pattern_over_a_banner_is_blamed_within_the_timeout():
    server = servers.TcpServer(servers.banner(ANSWER))
    try:
        result, elapsed = timed({'targets': [{'host': '127.0.0.1', 'port': server.port, 'expect': EVIL, 'timeout': 2}]})
    finally:
        server.close()
    (probe,) = result['probes']
    assert elapsed < 1.9
    assert (probe['state'], probe['connected'], probe['reason']) == ('open', True, None)
    assert checks(probe)['expect'] == {'name': 'expect', 'status': 'error', 'expected': EVIL, 'actual': ANSWER.decode(), 'message': BLAME}


def test_a_slow_pattern_over_an_http_body_and_a_udp_reply():
    web = servers.HttpServer()
    udp = servers.UdpServer(reply=lambda data: ANSWER)
    try:
        result, elapsed = timed({'targets': [
            {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/aaa', 'body': EVIL}, 'timeout': 3},
            {'host': '127.0.0.1', 'port': udp.port, 'proto': 'udp', 'send': 'x', 'expect': EVIL, 'timeout': 3},
        ]})
    finally:
        web.close()
        udp.close()
    http, reply = result['probes']
    # one match ran into its 1 s limit; the other was not tried again with the same pattern
    assert elapsed < 2.5
    assert checks(http)['http_status']['status'] == 'pass'
    assert checks(http)['http_body'] == {'name': 'http_body', 'status': 'error', 'expected': EVIL, 'actual': ANSWER.decode(),
                                         'message': BLAME}
    assert (reply['state'], checks(reply)['reply']['status'], checks(reply)['reply']['message']) == ('open', 'error', BLAME)


def test_a_sound_pattern_still_matches_and_mismatches():
    matcher = Matcher()
    assert matcher.search(re.compile(r'^\+PONG'), '+PONG\r\n', 1.0) is True
    assert matcher.search(re.compile('(?i)pong'), 'PONG', 1.0) is True
    assert matcher.search(re.compile(r'^\d+$'), 'x' * 100000, 1.0) is False


def test_the_helper_is_replaced_after_a_timeout():
    matcher = Matcher()
    with pytest.raises(PatternTimeout):
        matcher.search(re.compile(EVIL), ANSWER.decode(), 0.2)
    assert matcher.proc is None
    assert matcher.search(re.compile('a!'), ANSWER.decode(), 1.0) is True


def test_no_helper_is_unavailable_not_unbounded():
    with pytest.raises(PatternUnavailable, match='cannot start the matching helper /nonexistent/python'):
        Matcher(['/nonexistent/python', '-c', 'pass']).search(re.compile('a'), 'a', 1.0)


def test_the_helper_start_is_not_charged_to_the_pattern():
    # a host where starting Python takes 0.3 s (loaded, slow disk): a trivial pattern with 0.1 s left
    # is matched, not blamed for the interpreter's start-up
    matcher = Matcher([sys.executable, '-c', 'import time; time.sleep(0.3)\n' + _HELPER, '134217728'])
    try:
        assert matcher.search(re.compile('a'), 'a', 0.1) is True
    finally:
        matcher._kill()


def test_the_helper_start_adds_to_no_probe_latency(monkeypatch):
    # a host where starting Python takes 0.3 s: a service that answers in 50 ms is measured so,
    # not held behind the helper's start-up while another probe's banner waits to be matched
    MATCHER._kill()
    monkeypatch.setattr(MATCHER, 'argv', [sys.executable, '-c', 'import time; time.sleep(0.3)\n' + _HELPER, '134217728'])

    def late(conn):
        time.sleep(0.05)
        conn.sendall(b'ready\r\n')
        time.sleep(0.5)

    first, second = servers.TcpServer(servers.banner(b'hello\r\n')), servers.TcpServer(late)
    try:
        result = run({'targets': [{'host': '127.0.0.1', 'port': first.port, 'expect': 'hello'},
                                  {'host': '127.0.0.1', 'port': second.port, 'expect': 'ready', 'max_ms': 250}]})
    finally:
        first.close()
        second.close()
        MATCHER._kill()
    late_probe = result['probes'][1]
    assert [(entry['name'], entry['status']) for entry in late_probe['response']] == [('expect', 'pass'), ('max_ms', 'pass')]
    assert 50 <= late_probe['total_ms'] < 250


def test_a_helper_that_never_starts_is_unavailable_within_its_bound_and_not_tried_again():
    matcher = Matcher([sys.executable, '-c', 'import time; time.sleep(60)'], start_limit=0.5)
    began = time.monotonic()
    with pytest.raises(PatternUnavailable) as first:
        matcher.search(re.compile('a'), 'a', 0.1)
    assert str(first.value) == 'the matching helper %s did not start within 0.5 s' % sys.executable
    assert matcher.proc is None  # killed and reaped
    with pytest.raises(PatternUnavailable) as second:
        matcher.search(re.compile('b'), 'b', 0.1)
    assert str(second.value) == str(first.value)
    assert time.monotonic() - began < 1.5


def test_a_helper_that_exits_at_start_is_unavailable():
    with pytest.raises(PatternUnavailable) as info:
        Matcher([sys.executable, '-c', 'raise SystemExit(3)']).search(re.compile('a'), 'a', 1.0)
    assert str(info.value) == 'the matching helper %s exited as it started' % sys.executable


def test_a_pattern_that_needs_too_much_memory_is_blamed():
    # groups inside a repetition keep state per character: about 200 MB over 1 MiB of 'a'
    matcher = Matcher()
    pid = None
    try:
        with pytest.raises(PatternTooCostly) as info:
            matcher.search(re.compile('^((a)|b)*c'), 'a' * 1048576, 5.0)
        assert str(info.value) == ('matching /^((a)|b)*c/ against the 1048576 characters received needed more than 128 MiB of '
                                   'memory: the pattern is too costly (groups inside a repetition keep state for each '
                                   'character), not the service')
        assert matcher.proc is None
        # not tried again; other patterns still match in a new helper
        with pytest.raises(PatternTooCostly):
            matcher.search(re.compile('^((a)|b)*c'), 'ab', 5.0)
        assert matcher.search(re.compile('^a+$'), 'a' * 1048576, 5.0) is True
        pid = matcher.proc.pid
    finally:
        matcher._kill()
    assert not os.path.exists('/proc/%d' % pid)  # reaped, no zombie left


@pytest.mark.parametrize('remaining, limit', [(None, 1.0), (5.0, 1.0), (0.4, 0.4), (0.0, 0.1)])
def test_match_limit(remaining, limit):
    assert match_limit(remaining) == limit
