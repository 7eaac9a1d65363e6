# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# HTTP checks of port_probe over an already connected (and maybe TLS wrapped) socket: one
# request, then status, body regex and a JMESPath expression over a JSON body. JMESPath runs on
# the host that probes when the jmespath library imports there; otherwise the parsed body goes
# back (size-capped) and the action plugin evaluates it on the controller (evaluate_deferred).

from __future__ import annotations

import base64
import http.client
import json
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import (
    check,
    excerpt,
    pattern_problem,
    regex_search,
    safe_excerpt,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._regex import PatternTimeout, PatternUnavailable, match_limit

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session
    from ansible_collections.portproof.validate.plugins.module_utils._probe._target import Target

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    jmespath = None
    HAS_JMESPATH = False

USER_AGENT = 'portproof.validate-port_probe/0.1'
DEFERRED_JSON_CAP = 65536  # bytes of JSON body returned for evaluation on the controller
_EVIDENCE_HEADERS = ('content-type', 'content-length', 'location', 'server')
# evaluated_on values in words: 'target' is the host that probed (the controller itself when it probed)
WHERE_TEXT = {'target': 'probing host', 'controller': 'controller'}


def build_request(target: Target) -> bytes:
    """The request bytes. Credentials and header values go on the wire, never into results."""
    opts: Dict[str, Any] = target.http or {}
    host = opts['host_header']
    if host is None:
        # An IPv6 literal in brackets, without the zone of a scoped address (fe80::1%eth0): the
        # zone only means something on the probing host, and '%' is not valid in a Host header.
        host = '[%s]' % target.host.split('%', 1)[0] if ':' in target.host else target.host
        default_port = 443 if target.tls is not None else 80
        if target.port != default_port:
            host = '%s:%d' % (host, target.port)
    lines = ['%s %s HTTP/1.1' % (opts['method'], opts['path']), 'Host: %s' % host]
    names = set(name.lower() for name, _value in opts['headers'])
    if 'user-agent' not in names:
        lines.append('User-Agent: %s' % USER_AGENT)
    if 'accept' not in names:
        lines.append('Accept: */*')
    lines.append('Connection: close')
    if opts['user'] is not None:
        token = base64.b64encode(('%s:%s' % (opts['user'], opts['password'] or '')).encode('utf-8')).decode('ascii')
        lines.append('Authorization: Basic %s' % token)
    lines.extend('%s: %s' % (name, value) for name, value in opts['headers'])
    body = b''
    if opts['data'] is not None:
        body = opts['data'].encode('utf-8')
        lines.append('Content-Length: %d' % len(body))
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1', 'replace') + body


def http_session(session: Session, stream: Any) -> None:
    """Send the request over ``stream`` and record http_status, http_body and http_json."""
    target = session.target
    opts: Dict[str, Any] = target.http or {}
    session.begin('http_status')
    session.arm(stream)
    stream.sendall(build_request(target))
    response = http.client.HTTPResponse(stream, method=opts['method'])
    try:
        session.arm(stream)
        response.begin()
        body, truncated = _read_body_from(session, stream, response, opts['max_body'])
    except http.client.HTTPException as exc:
        session.record('http_status', 'error', expected=opts['status'],
                       message='no valid HTTP response: %s: %s' % (type(exc).__name__, exc))
        session.skip_note = 'not run: no valid HTTP response'
        return
    finally:
        response.close()
    headers = dict((key.lower(), value) for key, value in response.getheaders() if key.lower() in _EVIDENCE_HEADERS)
    evidence = {
        'method': opts['method'], 'path': opts['path'], 'status': response.status, 'reason': response.reason,
        'version': 'HTTP/1.1' if response.version == 11 else 'HTTP/1.0', 'headers': headers,
        'body_bytes': len(body), 'body_truncated': truncated, 'body_excerpt': excerpt(body, secrets=target.secrets),
    }
    session.evidence['http'] = evidence
    ok = response.status in opts['status']
    session.record('http_status', 'pass' if ok else 'fail', expected=opts['status'], actual=response.status,
                   message='%s %s answered %d %s' % (opts['method'], opts['path'], response.status, response.reason))
    found: Optional[bool] = ok
    if opts['body'] is not None:
        try:
            found = regex_search(opts['body'], body, match_limit(session.remaining()))
        except (PatternTimeout, PatternUnavailable) as exc:
            session.record(**pattern_problem('http_body', exc, opts['body'], body, target.secrets))
            found = None
    if opts['body'] is not None and found is not None:
        session.record('http_body', 'pass' if found else 'fail', expected=opts['body'].pattern, actual=excerpt(body, 120, target.secrets),
                       message='body %s /%s/%s%s' % ('matches' if found else 'does not match', opts['body'].pattern,
                                                     ' (read %d bytes, truncated)' % len(body) if truncated else '',
                                                     '' if found else ': %s' % safe_excerpt(body, 120, target.secrets)))
    if opts['json_query'] is not None:
        entry, document = json_check(opts['json_query'], body, truncated, target.secrets)
        if entry.get('evaluated_on') == 'controller':
            evidence['json'] = document
        session.record(**entry)


def _read_body_from(session: Session, stream: Any, response: http.client.HTTPResponse, cap: int) -> Tuple[bytes, bool]:
    chunks: List[bytes] = []
    size = 0
    while size <= cap:
        session.arm(stream)
        chunk = response.read(min(65536, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    body = b''.join(chunks)
    return body[:cap], len(body) > cap


def jmespath_truthy(value: Any) -> bool:
    """JMESPath truth: false, null, and empty strings, lists and objects are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)) and not value:
        return False
    return True


def evaluate_json_query(expression: str, document: Any, search: Callable[[str, Any], Any], where: str,
                        secrets: Sequence[str] = ()) -> Dict[str, Any]:
    """The http_json check entry for ``search(expression, document)``; passes when truthy."""
    try:
        value = search(expression, document)
    except Exception as exc:  # pylint: disable=broad-except
        # jmespath raises its own ParseError/JMESPathError family; it is the user's expression.
        return check('http_json', 'error', expected=expression, message='JMESPath expression failed: %s' % exc, evaluated_on=where)
    shown = excerpt(json.dumps(value, sort_keys=True, default=str), 200, secrets)
    ok = jmespath_truthy(value)
    return check('http_json', 'pass' if ok else 'fail', expected=expression, actual=shown,
                 message='expression is %s (evaluated on the %s)' % ('true' if ok else 'false', WHERE_TEXT[where]), evaluated_on=where)


def json_check(expression: str, body: bytes, truncated: bool, secrets: Sequence[str] = ()) -> Tuple[Dict[str, Any], Any]:
    """(check entry fields, document to return or None) for the json_query of a body."""
    if truncated:
        return check('http_json', 'error', expected=expression, message='body exceeds http.max_body, not parsed as JSON'), None
    try:
        document = json.loads(body.decode('utf-8'))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the interpreter's stack
        return check('http_json', 'fail', expected=expression, actual=excerpt(body, 120, secrets),
                     message='body is not JSON: %s' % exc), None
    if HAS_JMESPATH:
        return evaluate_json_query(expression, document, jmespath.search, 'target', secrets), None
    if len(body) > DEFERRED_JSON_CAP:
        return check('http_json', 'error', expected=expression,
                     message='jmespath is not importable on this host and the body (%d bytes) is over the %d bytes returned '
                             'for evaluation on the controller' % (len(body), DEFERRED_JSON_CAP)), None
    return check('http_json', 'skip', expected=expression, evaluated_on='controller',
                 message='jmespath is not importable on this host; the controller evaluates the body returned in http.json'), document


def evaluate_deferred(result: Dict[str, Any], search: Optional[Callable[[str, Any], Any]]) -> int:
    """On the controller: evaluate http_json entries the host deferred, update ok flags.

    ``search`` is jmespath.search, or None when the controller lacks jmespath too (the entries
    then become ``unavailable``). Returns the number of entries evaluated.
    """
    count = 0
    for probe in result.get('probes') or []:
        evaluated = 0
        for index, entry in enumerate(probe.get('response') or []):
            if entry.get('name') != 'http_json' or entry.get('evaluated_on') != 'controller' or entry.get('status') != 'skip':
                continue
            if search is None:
                probe['response'][index] = check('http_json', 'unavailable', expected=entry['expected'], evaluated_on='controller',
                                                 message='jmespath is importable neither on the probing host nor on the controller')
            else:
                document = (probe.get('http') or {}).get('json')
                probe['response'][index] = evaluate_json_query(entry['expected'], document, search, 'controller')
            evaluated += 1
        count += evaluated
        if evaluated:
            probe['ok'] = probe.get('state') == 'open' and not any(
                entry['status'] in ('fail', 'error', 'unavailable') for entry in probe.get('response') or [])
    if count and 'ok' in result:
        result['ok'] = all(probe.get('ok') for probe in result.get('probes') or []) and (
            (result.get('load') or {}).get('ok', True))
    return count
