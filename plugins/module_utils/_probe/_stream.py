# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The response phase of a connected TCP probe that needs a protocol (TLS, HTTP, SSH, or
# send/expect over TLS), run in a worker thread over a blocking socket whose timeout is what is
# left of the probe's deadline. Also the banner/send/expect verdict shared with the selector loop.

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Pattern, cast

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import (
    describe_errno,
    excerpt,
    pattern_problem,
    regex_search,
    safe_excerpt,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._regex import PatternTimeout, PatternUnavailable, match_limit
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Aborted

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session

RECEIVE_CAP = 65536  # bytes read while waiting for a banner or reply to match


def expect_step(session: Session, buf: bytes, closed: bool) -> bool:
    """After receiving into BUF: True when the ``expect`` check is recorded (the regex matched, the
    peer closed, the cap is reached, or matching itself was too slow), False to receive more."""
    target = session.target
    expect = cast(Pattern[str], target.expect)  # only a target with expect gets here
    session.received = buf  # shown if the deadline comes first
    try:
        matched = regex_search(expect, buf, match_limit(session.remaining()))
    except (PatternTimeout, PatternUnavailable) as exc:
        session.evidence['reply'] = {'bytes': len(buf), 'excerpt': excerpt(buf, secrets=target.secrets)}
        session.record(**pattern_problem('expect', exc, expect, buf, target.secrets))
        return True
    if not (matched or closed or len(buf) >= RECEIVE_CAP):
        return False
    record_expect(session, buf, closed, matched)
    return True


def record_expect(session: Session, buf: bytes, closed: bool, matched: bool) -> None:
    """The ``expect`` check (TCP banner or reply) over what was received."""
    target = session.target
    expect = cast(Pattern[str], target.expect)  # only a target with expect gets here
    session.evidence['reply'] = {'bytes': len(buf), 'excerpt': excerpt(buf, secrets=target.secrets)}
    if matched:
        message = 'received %d bytes matching /%s/' % (len(buf), expect.pattern)
    elif closed:
        message = 'the peer closed the connection after %d bytes without a match' % len(buf)
    else:
        message = 'no match in the first %d bytes' % len(buf)
    if not matched and buf:
        message += ': %s' % safe_excerpt(buf, 120, target.secrets)
    session.record('expect', 'pass' if matched else 'fail', expected=expect.pattern,
                   actual=excerpt(buf, 120, target.secrets), message=message)


def record_sent(session: Session, count: int) -> None:
    session.record('send', 'pass', expected=count, actual=count, message='sent %d bytes, no reply expected' % count)


def send_expect(session: Session, stream: Any) -> None:
    """Blocking send/expect (after a TLS handshake)."""
    target = session.target
    session.begin('expect' if target.expect is not None else 'send')
    if target.payload:
        session.arm(stream)
        stream.sendall(target.payload)
    if target.expect is None:
        record_sent(session, len(target.payload or b''))
        return
    buf = b''
    closed = False
    while not expect_step(session, buf, closed):
        session.arm(stream)
        chunk = stream.recv(RECEIVE_CAP)
        closed = not chunk
        buf += chunk


def exchange(session: Session, sock: socket.socket) -> None:
    """Run the protocol checks of a connected target; the caller finishes the session as open."""
    target = session.target
    stream: Any = sock  # the TLS-wrapped socket once the handshake is done
    # imported where used: a module run compiles each file it imports (AnsiballZ has no bytecode cache), and most runs
    # (port facts, identification, plain connects) need no TLS, HTTP or SSH check
    # pylint: disable=import-outside-toplevel
    try:
        if target.tls is not None:
            from ansible_collections.portproof.validate.plugins.module_utils._probe._tls import tls_session
            stream = tls_session(session, sock)
            if stream is None:
                return
        if target.ssh is not None:
            from ansible_collections.portproof.validate.plugins.module_utils._probe._ssh import ssh_session
            ssh_session(session, stream)
        elif target.http is not None:
            from ansible_collections.portproof.validate.plugins.module_utils._probe._http import http_session
            http_session(session, stream)
        elif target.payload is not None or target.expect is not None:
            send_expect(session, stream)
    except Aborted:
        return
    except socket.timeout:
        session.expire()
    except OSError as exc:
        reason = describe_errno(exc.errno) if exc.errno else (str(exc) or type(exc).__name__)
        session.fail_step('error', 'connection failed during the check: %s' % reason)
    except Exception as exc:  # pylint: disable=broad-except
        # A bug or an unexpected library error must show in the result, not end the whole run.
        session.fail_step('error', 'internal error during the check: %s: %s' % (type(exc).__name__, exc))
    finally:
        session.close_sockets()
