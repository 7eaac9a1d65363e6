# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The ``protocol`` check of a probe session (targets[].protocol): one handshake of _protocols per
# connection, driven by the selector loop (TCP: send the request, read, maybe send a follow-up;
# UDP: one datagram each way), recorded as the ``protocol`` response check and the
# ``protocol`` evidence (expected, answered, verdict, excerpt).

from __future__ import annotations

import os
from typing import Any

from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import (
    NONCE_SIZE,
    Handshake,
    identify,
)


def new_handshake(session: Any) -> Handshake:
    """A fresh handshake (random ids) for the session's target, kept on the session."""
    target = session.target
    session.handshake = Handshake(target.protocol, target.proto, os.urandom(NONCE_SIZE))
    return session.handshake


def identification(session: Any, buf: bytes, ending: str) -> dict:
    """The ``protocol`` check entry (keyword arguments of Session.record / check) of what was received."""
    target = session.target
    result = identify(session.handshake, target.port, buf, ending, session.limit)
    session.evidence['protocol'] = result
    return dict(name='protocol', status=result['verdict'], expected=target.protocol, actual=result['answered'],
                message=result['message'])


def record_identification(session: Any, buf: bytes, ending: str) -> None:
    """Record the ``protocol`` check (raises Aborted when the deadline came first)."""
    session.record(**identification(session, buf, ending))
