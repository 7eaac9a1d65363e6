# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The port_probe module: argument_spec, DOCUMENTATION and the layer's defaults agree; main()
# returns what the layer found; secrets never come back; and a real ansible run where the
# probing Python has neither jmespath nor paramiko (the controller evaluates the JSON check).

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from ansible_collections.portproof.validate.tests.unit.module_args import patch_module_args

from ansible_collections.portproof.validate.plugins.module_utils._probe import _argspec as _probe_argspec, _target as _probe_target
from ansible_collections.portproof.validate.plugins.doc_fragments import probe_guard
from ansible_collections.portproof.validate.plugins.modules import port_probe

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
SYSTEM_PYTHON = '/usr/bin/python3'


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import probe_servers as servers


def _compare(spec, doc, where):
    assert sorted(spec) == sorted(doc), where
    for name, option in spec.items():
        documented = doc[name]
        here = '%s.%s' % (where, name)
        assert documented.get('type', 'str') == option.get('type', 'str'), here
        assert documented.get('default') == option.get('default'), here
        assert documented.get('choices') == option.get('choices'), here
        assert documented.get('elements') == option.get('elements'), here
        assert bool(documented.get('required')) == bool(option.get('required')), here
        if 'options' in option:
            _compare(option['options'], documented['suboptions'], here)


def test_argument_spec_matches_documentation():
    doc = yaml.safe_load(port_probe.DOCUMENTATION)
    # the options of the documentation fragments the module extends are its options too
    options = dict(doc['options'])
    assert doc['extends_documentation_fragment'][1:] == ['portproof.validate.probe_guard']
    options.update(yaml.safe_load(probe_guard.ModuleDocFragment.DOCUMENTATION)['options'])
    _compare(port_probe.ARGUMENT_SPEC, options, 'options')
    assert doc['version_added'] == '0.1.0'
    assert doc['attributes']['check_mode']['support'] == 'full'
    yaml.safe_load(port_probe.EXAMPLES)
    yaml.safe_load(port_probe.RETURN)


@pytest.mark.parametrize('spec, defaults', [
    (port_probe.ARGUMENT_SPEC['targets']['options'], _probe_target.TARGET_DEFAULTS),
    (port_probe.ARGUMENT_SPEC['targets']['options']['http']['options'], _probe_target.HTTP_DEFAULTS),
    (port_probe.ARGUMENT_SPEC['targets']['options']['tls']['options'], _probe_target.TLS_DEFAULTS),
    (port_probe.ARGUMENT_SPEC['targets']['options']['ssh']['options'], _probe_target.SSH_DEFAULTS),
    (port_probe.ARGUMENT_SPEC['load']['options'], _probe_target.LOAD_DEFAULTS),
    (port_probe.ARGUMENT_SPEC['wait']['options'], _probe_target.WAIT_DEFAULTS),
])
def test_layer_defaults_match_the_argument_spec(spec, defaults):
    assert {name: option.get('default') for name, option in spec.items() if not option.get('required')} == defaults
    assert port_probe.ARGUMENT_SPEC['targets']['options']['tls']['options']['min_version']['choices'] == list(_probe_target.TLS_VERSIONS)
    # one spec: the module validates with the one the action plugin and the live checks use
    assert port_probe.ARGUMENT_SPEC is _probe_argspec.ARGUMENT_SPEC


def _main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            port_probe.main()
    return json.loads(capsys.readouterr().out)


def test_main_probes_and_changes_nothing(capsys):
    web = servers.HttpServer()
    try:
        result = _main({'targets': [
            {'name': 'web', 'host': '127.0.0.1', 'port': web.port,
             'http': {'path': '/health', 'headers': {'X-Token': 'hdr-SECRET'}, 'user': 'u', 'password': 'pw-SECRET'}},
            {'host': '127.0.0.1', 'port': servers.free_port()},
        ], '_ansible_check_mode': True}, capsys)
    finally:
        web.close()
    assert result['changed'] is False
    assert [(p['name'], p['state'], p['ok']) for p in result['probes']] == [('web', 'open', True), (None, 'refused', False)]
    assert result['ok'] is False
    assert 'SECRET' not in json.dumps(result)


@pytest.mark.parametrize('args, message', [
    ({'targets': [{'host': 'h', 'port': 1, 'send': 'a', 'send_hex': '00'}]}, 'parameters are mutually exclusive: send|send_hex'),
    ({'targets': [{'host': 'h', 'port': 1, 'http': {}, 'ssh': {}}]}, 'parameters are mutually exclusive: ssh|http'),
    ({'targets': [{'host': 'h', 'port': 1, 'proto': 'sctp'}]}, 'value of proto must be one of: tcp, udp, got: sctp'),
    ({'targets': [{'host': 'h'}]}, 'missing required arguments: port'),
    ({'targets': [{'host': 'h', 'port': 1}, {'host': 'h', 'port': 2}], 'load': {}},
     'load: runs against exactly one target, 2 were given'),
    ({'targets': [{'host': 'h', 'port': 1, 'expect': '('}]}, 'targets[0] (h:1/tcp): expect is not a valid regular expression'),
])
def test_main_rejects_bad_input(args, message, capsys):
    result = _main(args, capsys)
    assert result['failed'] is True
    assert message in result['msg']


def _ansible_env(tmpdir):
    collections = os.path.join(tmpdir, 'collections')
    os.makedirs(os.path.join(collections, 'ansible_collections', 'portproof'))
    os.symlink(REPO, os.path.join(collections, 'ansible_collections', 'portproof', 'validate'))
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING='false',
                ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_HOME=os.path.join(tmpdir, 'home'), ANSIBLE_NOCOLOR='1')


@pytest.mark.parametrize('args, message', [
    ({'targets': [{'host': 'h', 'port': 1, 'send': 'a', 'send_hex': '00'}]},
     'parameters are mutually exclusive: send|send_hex found in targets'),
    ({'targets': [{'host': 'h'}]}, 'missing required arguments: port found in targets'),
    ({'targets': [{'host': 'h', 'port': 1, 'http': {'headers': 'Bearer pp-SECRET', 'password': 'pw-SECRET'}}]},
     "argument 'headers' is of type str found in 'targets -> http'. and we were unable to convert to dict: "
     "dictionary requested, could not parse JSON or key=value"),
])
def test_the_action_refuses_bad_input_in_the_modules_words_without_connecting(args, message, tmp_path):
    """The host's connection is ssh through a program that does not exist: any attempt to reach it would make the
    host unreachable. The action checks the arguments with the module's spec on the controller first."""
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    proc = subprocess.run([ansible, 'all', '-i', 'nohost,', '-e', 'ansible_ssh_executable=/nonexistent/ssh',
                           '-m', 'portproof.validate.port_probe', '-a', json.dumps(args)],
                          capture_output=True, text=True, env=_ansible_env(str(tmp_path)), timeout=120, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'nohost | FAILED! => ' in proc.stdout and 'UNREACHABLE' not in proc.stdout, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.split('nohost | FAILED! => ', 1)[1])
    # ansible-core before 2.19 names a type as <class 'str'> in this message, 2.19 as str
    result['msg'] = re.sub(r"<class '(\w+)'>", r'\1', result.get('msg', ''))
    assert result == {'changed': False, 'msg': message}  # (the ad-hoc output leaves out failed: it says FAILED)
    assert 'SECRET' not in proc.stdout + proc.stderr


def _ansible(tmpdir, args, python):
    """Run the module through ansible (the action plugin included) against localhost."""
    collections = os.path.join(tmpdir, 'collections')
    os.makedirs(os.path.join(collections, 'ansible_collections', 'portproof'))
    os.symlink(REPO, os.path.join(collections, 'ansible_collections', 'portproof', 'validate'))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_HOME=os.path.join(tmpdir, 'home'), ANSIBLE_NOCOLOR='1')
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    proc = subprocess.run([ansible, 'localhost', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % python,
                           '-m', 'portproof.validate.port_probe', '-a', json.dumps(args)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ad-hoc output (minimal callback): "localhost | SUCCESS => {...}"
    return json.loads(proc.stdout.split(' => ', 1)[1])


def _system_python_lacks(*names):
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    code = 'import importlib.util, sys; sys.exit(any(importlib.util.find_spec(n) for n in sys.argv[1:]))'
    return subprocess.run([SYSTEM_PYTHON, '-c', code] + list(names), check=False).returncode == 0


@pytest.mark.skipif(not _system_python_lacks('jmespath', 'paramiko') or not servers.sshd_usable(),
                    reason='needs a system python3 without jmespath and paramiko, and root for sshd')
def test_ansible_run_on_a_stdlib_only_python():
    web = servers.HttpServer()
    sshd = servers.Sshd(password=True)
    tmpdir = tempfile.mkdtemp(prefix='ppprb-ansible-')
    try:
        result = _ansible(tmpdir, {'targets': [
            {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': "checks.db == 'up'"}},
            {'host': '127.0.0.1', 'port': web.port, 'http': {'path': '/health', 'json_query': "checks.db == 'down'"}},
            {'host': '127.0.0.1', 'port': sshd.port, 'ssh': {'auth_methods': ['publickey']}},
        ]}, SYSTEM_PYTHON)
    finally:
        web.close()
        sshd.close()
        shutil.rmtree(tmpdir)
    passing, failing, ssh = result['probes']
    assert passing['response'][1] == {'name': 'http_json', 'status': 'pass', 'expected': "checks.db == 'up'", 'actual': 'true',
                                      'message': 'expression is true (evaluated on the controller)', 'evaluated_on': 'controller'}
    assert passing['ok'] is True
    assert failing['response'][1]['status'] == 'fail' and failing['ok'] is False
    assert [entry['status'] for entry in ssh['response']] == ['unavailable', 'unavailable']
    assert '(%s on ' % SYSTEM_PYTHON in ssh['response'][0]['message']
    assert ssh['ssh']['banner'].startswith('SSH-2.0-OpenSSH')
    assert result['changed'] is False and result['ok'] is False
