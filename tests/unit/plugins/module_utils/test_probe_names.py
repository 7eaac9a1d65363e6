# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# port_probe's resolve option: every answer and error kind of getaddrinfo, the bound on a lookup that never
# returns, and the module's run with names only or beside targets. The lookups are stand-ins for getaddrinfo that
# return what glibc returns (address infos; gaierror with the errno and strerror glibc gives for NXDOMAIN,
# SERVFAIL/no answer and a name without addresses), except the two that use the real resolver on localhost.

from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.portproof.validate.plugins.module_utils._probe._argspec import ARGUMENT_SPEC
from ansible_collections.portproof.validate.plugins.module_utils._probe._names import NameLookups, addresses_of, classify
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import ProbeConfigError

# What glibc 2.36 getaddrinfo raises (socket.gaierror(errno, strerror)) in each case.
GLIBC = {
    'missing.internal': socket.gaierror(socket.EAI_NONAME, 'Name or service not known'),         # NXDOMAIN
    'broken.internal': socket.gaierror(socket.EAI_AGAIN, 'Temporary failure in name resolution'),  # SERVFAIL, no answer
    'empty.internal': socket.gaierror(getattr(socket, 'EAI_NODATA', -5), 'No address associated with hostname'),
}
ANSWERS = {
    'db.internal': [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('10.0.0.11', 0)),
                    (socket.AF_INET6, socket.SOCK_STREAM, 6, '', ('fd00::11', 0, 0, 0)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('10.0.0.11', 0))],
    'scoped.internal': [(socket.AF_INET6, socket.SOCK_STREAM, 6, '', ('fe80::1%eth0', 0, 0, 2))],
}


def fake_lookup(name):
    if name in GLIBC:
        raise GLIBC[name]
    return ANSWERS[name]


def params(**given):
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(given)
    assert not result.error_messages
    return result.validated_parameters


def test_each_answer_and_error_kind():
    found = NameLookups(['db.internal', 'missing.internal', 'broken.internal', 'empty.internal', 'scoped.internal', 'db.internal'],
                        2.0, fake_lookup).results()
    assert [dict(item, ms=None) for item in found] == [
        {'name': 'db.internal', 'addresses': ['10.0.0.11', 'fd00::11'], 'error': None, 'reason': None, 'ms': None},
        {'name': 'missing.internal', 'addresses': None, 'error': 'nxdomain', 'reason': 'Name or service not known (EAI_NONAME)', 'ms': None},
        {'name': 'broken.internal', 'addresses': None, 'error': 'servfail', 'reason': 'Temporary failure in name resolution (EAI_AGAIN)',
         'ms': None},
        {'name': 'empty.internal', 'addresses': None, 'error': 'no_address', 'reason': 'No address associated with hostname (EAI_NODATA)',
         'ms': None},
        {'name': 'scoped.internal', 'addresses': ['fe80::1'], 'error': None, 'reason': None, 'ms': None},
    ]
    assert all(isinstance(item['ms'], float) for item in found)


def test_a_lookup_that_never_returns_is_a_timeout_within_the_bound():
    release = threading.Event()

    def stuck(name):
        if name == 'hung.internal':
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, 'Temporary failure in name resolution')
        return fake_lookup(name)

    began = time.monotonic()
    try:
        found = NameLookups(['hung.internal', 'db.internal'], 0.3, stuck).results()
    finally:
        release.set()
    took = time.monotonic() - began
    assert found[0] == {'name': 'hung.internal', 'addresses': None, 'error': 'timeout', 'reason': 'no answer within 0.3 s', 'ms': None}
    assert (found[1]['name'], found[1]['addresses']) == ('db.internal', ['10.0.0.11', 'fd00::11'])
    assert 0.25 < took < 1.0


def test_other_errors_keep_their_words():
    assert classify(socket.gaierror(socket.EAI_FAIL, 'Non-recoverable failure in name resolution')) == (
        'other', 'Non-recoverable failure in name resolution (EAI_FAIL)')
    assert classify(UnicodeError('label too long')) == ('other', 'label too long')
    assert addresses_of([]) == []


def test_run_with_names_only_resolves_with_the_real_resolver():
    result = run(params(targets=[], resolve={'names': ['localhost', 'name.invalid'], 'timeout': 5}))
    assert (result['probes'], result['ok']) == ([], True)
    localhost, invalid = result['resolved']
    assert localhost['name'] == 'localhost' and localhost['error'] is None and '127.0.0.1' in localhost['addresses']
    # RFC 6761: .invalid never exists; a resolver without network says it cannot ask (servfail)
    assert (invalid['name'], invalid['addresses'], invalid['error'] in ('nxdomain', 'servfail')) == ('name.invalid', None, True)


def test_run_resolves_beside_the_targets():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        result = run(params(targets=[{'host': '127.0.0.1', 'port': port, 'timeout': 2}], resolve={'names': ['db.internal']}),
                     lookup=fake_lookup)
    assert [probe['state'] for probe in result['probes']] == ['open']
    assert [(item['name'], item['addresses']) for item in result['resolved']] == [('db.internal', ['10.0.0.11', 'fd00::11'])]
    assert result['ok'] is True


def test_run_without_resolve_has_no_resolved_key_and_needs_targets():
    with pytest.raises(ProbeConfigError, match='at least one target'):
        run(params(targets=[]))
    with pytest.raises(ProbeConfigError, match="resolve.names: at least one name is required, each a non-empty string, got \\[' '\\]"):
        run(params(targets=[], resolve={'names': [' ']}))
