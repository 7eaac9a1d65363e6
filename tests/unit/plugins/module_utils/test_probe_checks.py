# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Verdict vocabulary of port_probe: errno classification, check entries, latency arithmetic.

from __future__ import annotations

import errno

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import (
    check,
    classify_errno,
    classify_oserror,
    excerpt,
    max_ms_check,
    percentile,
    probe_ok,
)


@pytest.mark.parametrize('code, state, reason', [
    (0, 'open', None),
    (errno.ECONNREFUSED, 'refused', 'Connection refused (ECONNREFUSED)'),
    (errno.ENETUNREACH, 'unreachable', 'Network is unreachable (ENETUNREACH)'),
    (errno.EHOSTUNREACH, 'unreachable', 'No route to host (EHOSTUNREACH)'),
    (errno.EHOSTDOWN, 'unreachable', 'Host is down (EHOSTDOWN)'),
    (errno.ETIMEDOUT, 'timeout', 'Connection timed out (ETIMEDOUT)'),
    (errno.EPERM, 'error', 'Operation not permitted (EPERM)'),  # a local OUTPUT firewall rule
    (errno.EADDRNOTAVAIL, 'error', 'Cannot assign requested address (EADDRNOTAVAIL)'),
    (errno.EMFILE, 'error', 'Too many open files (EMFILE)'),
])
def test_classify_errno(code, state, reason):
    assert classify_errno(code) == (state, reason)


def test_classify_oserror_without_errno():
    assert classify_oserror(OSError('weird')) == ('error', 'weird')
    assert classify_oserror(OSError(errno.ECONNREFUSED, 'x')) == ('refused', 'Connection refused (ECONNREFUSED)')


def test_check_entry():
    assert check('expect', 'pass', expected='^a', actual='ab', message='m') == {
        'name': 'expect', 'status': 'pass', 'expected': '^a', 'actual': 'ab', 'message': 'm'}
    assert check('http_json', 'skip', evaluated_on='controller')['evaluated_on'] == 'controller'
    with pytest.raises(ValueError):
        check('expect', 'ok')


@pytest.mark.parametrize('values, pct, expected', [
    ([], 95, None),
    ([7.0], 50, 7.0),
    ([7.0], 95, 7.0),
    ([1, 2, 3, 4], 50, 2),
    ([4, 3, 2, 1], 95, 4),
    (list(range(1, 101)), 95, 95),
    (list(range(1, 101)), 50, 50),
    (list(range(1, 21)), 95, 19),
    (list(range(1, 11)), 100, 10),
])
def test_percentile_nearest_rank(values, pct, expected):
    assert percentile(values, pct) == expected


@pytest.mark.parametrize('limit, measured, status', [(10, 9.999, 'pass'), (10, 10, 'pass'), (10, 10.001, 'fail'), (10, None, 'skip')])
def test_max_ms(limit, measured, status):
    entry = max_ms_check(limit, measured, 'the TCP connect')
    assert (entry['name'], entry['status'], entry['expected'], entry['actual']) == ('max_ms', status, limit, measured)


@pytest.mark.parametrize('state, statuses, ok', [
    ('open', [], True),
    ('open', ['pass', 'skip'], True),
    ('open', ['pass', 'fail'], False),
    ('open', ['error'], False),
    ('open', ['unavailable'], False),
    ('open_filtered', [], False),
    ('refused', [], False),
    ('timeout', ['pass'], False),
])
def test_probe_ok(state, statuses, ok):
    assert probe_ok(state, [check('c%d' % i, status) for i, status in enumerate(statuses)]) is ok


def test_excerpt():
    assert excerpt(b'abc') == 'abc'
    assert excerpt(b'\xff\xfeA') == '\ufffd\ufffdA'
    assert excerpt(b'x' * 300, 10) == 'xxxxxxxxxx...'
