# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# HTTP checks of port_probe: the request on the wire, status/body/JSON verdicts against a real
# HTTP server on loopback, JMESPath on the target or deferred to the controller.

from __future__ import annotations

import base64
import html
import json
import time
import urllib.parse

import jmespath
import pytest

from ansible_collections.portproof.validate.plugins.module_utils._probe import _http
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe._http import (
    build_request,
    evaluate_deferred,
    jmespath_truthy,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import Target


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers


@pytest.fixture(scope='module')
def web():
    server = servers.HttpServer()
    yield server
    server.close()


def probe(*targets):
    return run({'targets': list(targets)})['probes']


def checks(result):
    return dict((entry['name'], entry) for entry in result['response'])


@pytest.mark.parametrize('http, host, port, tls, expected', [
    ({}, 'web.test', 80, None, b'GET / HTTP/1.1\r\nHost: web.test\r\nUser-Agent: portproof.validate-port_probe/0.1\r\n'
                               b'Accept: */*\r\nConnection: close\r\n\r\n'),
    ({'method': 'HEAD', 'path': '/health?x=1'}, 'web.test', 8080, None,
     b'HEAD /health?x=1 HTTP/1.1\r\nHost: web.test:8080\r\nUser-Agent: portproof.validate-port_probe/0.1\r\n'
     b'Accept: */*\r\nConnection: close\r\n\r\n'),
    ({'headers': {'Accept': 'application/json', 'X-Token': 's3cr3t'}}, '::1', 443, {},
     b'GET / HTTP/1.1\r\nHost: [::1]\r\nUser-Agent: portproof.validate-port_probe/0.1\r\nConnection: close\r\n'
     b'Accept: application/json\r\nX-Token: s3cr3t\r\n\r\n'),
    ({'user': 'probe', 'password': 'pw', 'method': 'POST', 'data': '{"a": 1}', 'host_header': 'vhost.test'}, '10.0.0.1', 80, None,
     b'POST / HTTP/1.1\r\nHost: vhost.test\r\nUser-Agent: portproof.validate-port_probe/0.1\r\nAccept: */*\r\n'
     b'Connection: close\r\nAuthorization: Basic ' + base64.b64encode(b'probe:pw') + b'\r\nContent-Length: 8\r\n\r\n{"a": 1}'),
])
def test_request_bytes(http, host, port, tls, expected):
    target = Target(0, {'host': host, 'port': port, 'http': http, 'tls': tls})
    assert build_request(target) == expected


@pytest.mark.parametrize('value, truthy', [
    (True, True), (False, False), (None, False), (0, True), (1, True), ('', False), ('x', True),
    ([], False), ([0], True), ({}, False), ({'a': None}, True),
])
def test_jmespath_truth(value, truthy):
    assert jmespath_truthy(value) is truthy
    # The same verdict as jmespath's own: `value` && `true`
    assert (jmespath.search('@ && `true`', value) is True) is truthy


def test_json_check_passing_and_failing(web):
    good, bad, degraded = probe(
        {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': "status == 'ok' && checks.db == 'up'"}},
        {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': "version == '2.0.0'"}},
        {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/degraded', 'status': [200, 204], 'json_query': "status == 'ok'"}},
    )
    assert good['ok'] and good['state'] == 'open'
    assert checks(good)['http_status'] == {'name': 'http_status', 'status': 'pass', 'expected': [200], 'actual': 200,
                                           'message': 'GET /health answered 200 OK'}
    assert checks(good)['http_json'] == {'name': 'http_json', 'status': 'pass', 'expected': "status == 'ok' && checks.db == 'up'",
                                         'actual': 'true', 'message': 'expression is true (evaluated on the probing host)',
                                         'evaluated_on': 'target'}
    assert 'json' not in good['http']
    assert good['http']['headers']['content-type'] == 'application/json'
    assert not bad['ok']
    assert checks(bad)['http_json']['status'] == 'fail' and checks(bad)['http_json']['actual'] == 'false'
    assert checks(degraded)['http_status']['status'] == 'fail'
    assert checks(degraded)['http_status']['actual'] == 503
    assert checks(degraded)['http_json']['status'] == 'fail'


def test_body_regex_and_not_json(web):
    text, notjson = probe(
        {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/text', 'body': '^hello, plain'}},
        {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/text', 'json_query': 'a'}},
    )
    assert checks(text)['http_body']['status'] == 'pass'
    assert text['http']['body_excerpt'] == 'hello, plain text\n'
    assert checks(notjson)['http_json']['status'] == 'fail'
    assert checks(notjson)['http_json']['message'].startswith('body is not JSON: ')


def test_truncated_body(web):
    (result,) = probe({'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/big', 'max_body': 1000, 'json_query': 'a'}})
    assert result['http']['body_bytes'] == 1000 and result['http']['body_truncated'] is True
    assert checks(result)['http_json']['status'] == 'error'


def test_secrets_reach_the_server_but_not_the_result(web):
    (result,) = probe({'host': '127.0.0.1', 'port': web.port,
                       'http': {'path': '/health', 'headers': {'X-Api-Key': 'k-SECRET-1'}, 'user': 'u', 'password': 'p-SECRET-2'}})
    assert result['ok']
    seen = web.seen[-1]['headers']
    assert seen['X-Api-Key'] == 'k-SECRET-1'
    assert base64.b64decode(seen['Authorization'].split()[1]) == b'u:p-SECRET-2'
    dumped = json.dumps(result)
    assert 'SECRET' not in dumped
    assert base64.b64encode(b'u:p-SECRET-2').decode() not in dumped


def test_jmespath_missing_on_the_target_defers_to_the_controller(web, monkeypatch):
    monkeypatch.setattr(_http, 'HAS_JMESPATH', False)
    monkeypatch.setattr(_http, 'jmespath', None)
    result = run({'targets': [
        {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': "status == 'ok'"}},
        {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': "status == 'down'"}},
    ]})
    first, second = result['probes']
    assert checks(first)['http_json'] == {
        'name': 'http_json', 'status': 'skip', 'expected': "status == 'ok'", 'actual': None, 'evaluated_on': 'controller',
        'message': 'jmespath is not importable on this host; the controller evaluates the body returned in http.json'}
    assert first['http']['json'] == {'status': 'ok', 'checks': {'db': 'up'}, 'version': '1.4.2'}
    # Pending on the target: not counted against ok until the controller has evaluated it.
    assert first['ok'] and second['ok'] and result['ok']

    assert evaluate_deferred(result, jmespath.search) == 2
    assert checks(first)['http_json']['status'] == 'pass' and checks(first)['http_json']['evaluated_on'] == 'controller'
    assert checks(second)['http_json']['status'] == 'fail'
    assert (first['ok'], second['ok'], result['ok']) == (True, False, False)
    # Evaluating again changes nothing.
    assert evaluate_deferred(result, jmespath.search) == 0


def test_jmespath_missing_everywhere_is_unavailable(web, monkeypatch):
    monkeypatch.setattr(_http, 'HAS_JMESPATH', False)
    result = run({'targets': [{'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': 'status'}}]})
    assert evaluate_deferred(result, None) == 1
    assert checks(result['probes'][0])['http_json']['status'] == 'unavailable'
    assert result['probes'][0]['ok'] is False and result['ok'] is False


def test_invalid_expression_is_an_error(web):
    (result,) = probe({'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': 'status ==='}})
    assert checks(result)['http_json']['status'] == 'error'
    assert checks(result)['http_json']['message'].startswith('JMESPath expression failed: ')


def test_hanging_http_service_is_a_response_timeout(web):
    began = time.monotonic()
    (result,) = probe({'host': '127.0.0.1', 'port': web.port, 'timeout': 0.5, 'http': {'path': '/hang'}})
    assert time.monotonic() - began < 1.2
    assert (result['state'], result['connected']) == ('timeout', True)
    assert checks(result)['http_status'] == {'name': 'http_status', 'status': 'fail', 'expected': None, 'actual': 'timeout',
                                             'message': 'accepted, but no complete answer within 0.5 s'}


def test_not_an_http_server():
    server = servers.TcpServer(servers.banner(b'SSH-2.0-OpenSSH_9.2\r\n'))
    try:
        (result,) = probe({'host': '127.0.0.1', 'port': server.port, 'timeout': 2, 'http': {'json_query': 'a'}})
    finally:
        server.close()
    assert result['state'] == 'open'
    assert checks(result)['http_status']['status'] == 'error'
    assert checks(result)['http_status']['message'].startswith('no valid HTTP response: BadStatusLine')
    assert checks(result)['http_json']['message'] == 'not run: no valid HTTP response'


ECHO_HEADERS = {'X-Api-Key': 'k-SECRET-1', 'Cookie': 'theme=dark; session=c-SECRET-3-abcdef', 'Authorization': 'Bearer b-SECRET-4-xyz'}


def _derived_forms():
    token = base64.b64encode(b'u:p-SECRET-2').decode()
    return ['SECRET', token, token[:12], 'u:p-SECRET', 'Basic ' + token[:4]]


@pytest.mark.parametrize('path, extra', [
    ('/echo', {'body': 'Authorization'}),                  # body excerpt and http_body actual
    ('/echo/json', {'json_query': 'headers'}),             # JMESPath result shown in actual
    ('/echo?cut=150', {'body': 'no-such-text'}),           # the echo cut inside the Authorization header
])
def test_an_echoing_service_returns_no_derived_secret(web, path, extra):
    # The service sends the request headers back: base64(user:password), the cookie and the bearer
    # token come back too, in other forms than the values given (which is all no-log masks).
    http = dict({'path': path, 'headers': dict(ECHO_HEADERS), 'user': 'u', 'password': 'p-SECRET-2'}, **extra)
    (result,) = probe({'host': '127.0.0.1', 'port': web.port, 'http': http})
    assert result['state'] == 'open'
    assert checks(result)['http_status']['status'] == 'pass'
    dumped = json.dumps(result)
    assert '********' in dumped
    leaked = [form for form in _derived_forms() if form in dumped]
    assert leaked == []


# Secrets with characters that an echo re-encodes: a JSON encoder (PHP's writes "\\/"), an HTML
# page (phpinfo() lists the request headers HTML-escaped), a URL (percent-encoding).
ODD_HEADERS = {'X-Api-Key': 'k/SECRET&5<"x">'}
ODD_PASSWORD = "p'SECRET/6&"


def _odd_echo(web, path):
    """The body excerpt of PATH with ODD_HEADERS and ODD_PASSWORD sent, and the request as the service saw it."""
    http = {'path': path, 'headers': dict(ODD_HEADERS), 'user': 'u', 'password': ODD_PASSWORD, 'max_body': 4096}
    (result,) = probe({'host': '127.0.0.1', 'port': web.port, 'http': http})
    assert checks(result)['http_status']['status'] == 'pass'
    return result['http']['body_excerpt'], web.seen[-1]['headers']


def test_an_echo_in_html_returns_no_secret(web):
    shown, sent = _odd_echo(web, '/echo/html')
    # the page as the service wrote it, the two secret values masked in it
    shown_values = dict((name, html.escape(value)) for name, value in sent.items())
    shown_values.update({'X-Api-Key': '********', 'Authorization': '********'})
    expected = ''.join('<dt>%s<dd>%s' % (name, shown_values[name]) for name in sent)
    assert shown == expected[:256] + ('...' if len(expected) > 256 else '')
    assert 'SECRET' not in shown


def test_an_echo_in_php_json_returns_no_secret(web):
    shown, sent = _odd_echo(web, '/echo/php')
    assert '"X-Api-Key": "********"' in shown and '"Authorization": "********"' in shown
    assert 'SECRET' not in shown and base64.b64encode(b"u:p'SECRET/6&").decode()[:8] not in shown


def test_an_echo_percent_encoded_returns_no_secret(web):
    shown, sent = _odd_echo(web, '/echo/url')
    token = base64.b64encode(b"u:p'SECRET/6&").decode()
    assert 'X-Api-Key=********' in shown and 'Authorization=********' in shown
    assert 'SECRET' not in shown and urllib.parse.quote(token, safe='')[:8] not in shown


@pytest.mark.parametrize('path', ['/echo', '/echo/raw'])
def test_an_echo_of_a_header_value_outside_latin1_returns_no_secret(web, path):
    # header lines go out as Latin-1 ('?' for what it lacks): the echo is neither the value given
    # nor its UTF-8 (/echo: the service decoded the line as Latin-1; /echo/raw: the bytes back as sent)
    (result,) = probe({'host': '127.0.0.1', 'port': web.port, 'http': {'path': path, 'headers': {'X-Api-Key': 't\u00f6k\u20acn-SECRET-7'}}})
    shown = result['http']['body_excerpt']
    assert 'X-Api-Key: ********\r\n' in shown
    assert 'SECRET' not in shown


def test_an_echoing_service_deferred_to_the_controller_returns_no_secret(web, monkeypatch):
    monkeypatch.setattr(_http, 'HAS_JMESPATH', False)
    monkeypatch.setattr(_http, 'jmespath', None)
    (result,) = probe({'host': '127.0.0.1', 'port': web.port,
                       'http': {'path': '/echo/json', 'json_query': 'headers', 'headers': dict(ECHO_HEADERS), 'user': 'u',
                                'password': 'p-SECRET-2'}})
    assert result['http']['json']['headers']['Authorization'] == '********'
    assert [form for form in _derived_forms() if form in json.dumps(result)] == []
