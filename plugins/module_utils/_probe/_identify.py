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
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import safe_excerpt
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


# -- "what answers?" (no protocol expected) ------------------------------------------------------
#
# The engine names a protocol by a handshake of its own, so asking "what answers on this port?"
# means offering the port every handshake at once, one connection each, in one port_probe run
# (the connections run side by side: the whole identification is bounded by one timeout). The
# first TCP handshake sends nothing and reads what the server says first (ssh, mysql, smtp, ftp,
# imap, pop3: the greeting names them; NOOP after a 220 that names neither); the others send
# their credential-free request (the same ones as the protocol check). Over UDP only the
# protocols with a request are tried (dns, ntp). Pure functions: the caller runs the probes.

IDENTIFY_TCP = ('smtp', 'http', 'tls', 'postgres', 'redis', 'memcached', 'mongodb', 'amqp', 'dns', 'ldap', 'kafka')
IDENTIFY_UDP = ('dns', 'ntp')


def identify_protocols(proto: str) -> Tuple[str, ...]:
    """The handshakes offered to a listener of transport PROTO (tcp or udp) to learn what answers."""
    return IDENTIFY_UDP if proto == 'udp' else IDENTIFY_TCP


def identify_targets(name: str, host: str, port: int, proto: str, timeout: float) -> List[Dict[str, Any]]:
    """port_probe targets that ask HOST:PORT/PROTO what answers, named NAME/<protocol>."""
    return [dict(name='%s/%s' % (name, protocol), host=host, port=port, proto=proto, protocol=protocol, timeout=timeout)
            for protocol in identify_protocols(proto)]


def what_answers(port: int, proto: str, probes: Sequence[Mapping[str, Any]], timeout: float) -> Dict[str, Any]:
    """What answers on PORT/PROTO, from the port_probe results of its identify_targets (PROBES).

    ``{answered: [protocols], label, excerpt}``. The protocols recognised by their own handshake
    come first (in the order tried); when none was, those that the replies to other handshakes
    name (a server that greets first, an error line), by how many replies name them. The label:
    ``answers as redis`` (several: ``answers as http and tls``); bytes that name nothing:
    ``answers as nothing recognisable: '<excerpt>'``; no byte from any handshake: ``answers
    nothing within T s`` (TCP: every connection was accepted, or closed, without a byte; UDP: no
    reply); a listener that could not be reached from its own host: ``could not be identified:
    <why>``.
    """
    own: List[str] = []
    named: Dict[str, int] = {}
    received = None
    reasons: List[str] = []
    connected = False
    for probe in probes:
        evidence = probe.get('protocol')
        if probe.get('connected'):
            connected = True
        elif probe.get('reason'):
            reasons.append(str(probe.get('reason')))
        if not isinstance(evidence, Mapping):
            continue
        name = evidence.get('answered')
        if name and name == evidence.get('expected'):
            if name not in own:
                own.append(str(name))
        elif name:
            named[str(name)] = named.get(str(name), 0) + 1
        if received is None and evidence.get('bytes') and not name:
            received = evidence.get('excerpt')
    if own:
        answered = own
    else:
        answered = [name for _count, _at, name in sorted((-count, at, name) for at, (name, count) in enumerate(named.items()))]
    where = '%d/%s' % (port, proto)
    if answered:
        label = 'answers as %s' % ' and '.join(answered)
    elif received is not None:
        label = 'answers as nothing recognisable: %s' % safe_excerpt(received, 60)
    elif connected or proto == 'udp':
        label = 'answers nothing within %g s' % timeout
    else:
        label = 'could not be identified: %s' % (reasons[0] if reasons else 'no connection')
    return {'port': where, 'answered': answered, 'label': label, 'excerpt': None if answered else received}
