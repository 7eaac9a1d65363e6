# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The argument spec of port_probe, built once (community.crypto's module_utils/_argspec.py pattern): the module
# validates with it, its action plugin and the live checks validate with it on the controller before anything is
# sent to a host, and the layer (_probe_target) takes its defaults from it. ansible-test sanity (validate-modules)
# holds it together with the module's DOCUMENTATION.

from __future__ import annotations

import typing as t

from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import PROTOCOLS

Spec = t.Dict[str, t.Dict[str, t.Any]]

TLS_VERSIONS = ('TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3')
FAMILIES = ('any', 'ipv4', 'ipv6')
PROTOS = ('tcp', 'udp')

HTTP_SPEC: Spec = dict(
    method=dict(type='str', default='GET'),
    path=dict(type='str', default='/'),
    headers=dict(type='dict', no_log=True),
    status=dict(type='list', elements='int', default=[200]),
    body=dict(type='str'),
    json_query=dict(type='str'),
    user=dict(type='str'),
    password=dict(type='str', no_log=True),
    data=dict(type='str'),
    host_header=dict(type='str'),
    max_body=dict(type='int', default=1048576),
)

TLS_SPEC: Spec = dict(
    verify=dict(type='bool', default=True),
    ca=dict(type='path'),
    hostname=dict(type='str'),
    check_hostname=dict(type='bool', default=True),
    min_days=dict(type='int'),
    min_version=dict(type='str', choices=list(TLS_VERSIONS)),
    client_cert=dict(type='path'),
    client_key=dict(type='path', no_log=True),
)

SSH_SPEC: Spec = dict(
    user=dict(type='str', default='portproof'),
    host_key=dict(type='list', elements='str', no_log=False),
    auth_methods=dict(type='list', elements='str'),
)

TARGET_SPEC: Spec = dict(
    name=dict(type='str'),
    host=dict(type='str', required=True),
    port=dict(type='int', required=True),
    proto=dict(type='str', default='tcp', choices=list(PROTOS)),
    family=dict(type='str', default='any', choices=list(FAMILIES)),
    timeout=dict(type='float', default=5.0),
    send=dict(type='str'),
    send_hex=dict(type='str'),
    expect=dict(type='str'),
    expect_reply=dict(type='bool'),
    max_ms=dict(type='float'),
    http=dict(type='dict', options=HTTP_SPEC),
    tls=dict(type='dict', options=TLS_SPEC),
    ssh=dict(type='dict', options=SSH_SPEC),
    protocol=dict(type='str', choices=list(PROTOCOLS)),
)

TARGET_MUTUALLY_EXCLUSIVE = [['send', 'send_hex'], ['ssh', 'http'], ['ssh', 'tls'], ['ssh', 'send'], ['ssh', 'send_hex'],
                             ['ssh', 'expect'], ['http', 'send'], ['http', 'send_hex'], ['http', 'expect']]

LOAD_SPEC: Spec = dict(
    requests=dict(type='int', default=100),
    concurrency=dict(type='int', default=10),
    p95_ms=dict(type='float'),
    max_errors=dict(type='int', default=0),
    max_requests=dict(type='int', default=10000),
    max_concurrency=dict(type='int', default=100),
    deadline=dict(type='float', default=60.0),
)

WAIT_SPEC: Spec = dict(
    timeout=dict(type='float', default=60.0),
    interval=dict(type='float', default=1.0),
)

RESOLVE_SPEC: Spec = dict(
    names=dict(type='list', elements='str', required=True),
    timeout=dict(type='float', default=5.0),
)

ARGUMENT_SPEC: Spec = dict(
    targets=dict(type='list', elements='dict', required=True, options=TARGET_SPEC, mutually_exclusive=TARGET_MUTUALLY_EXCLUSIVE),
    resolve=dict(type='dict', options=RESOLVE_SPEC),
    load=dict(type='dict', options=LOAD_SPEC),
    allow_link_local=dict(type='bool', default=False),
    wait=dict(type='dict', options=WAIT_SPEC),
    first_answer=dict(type='bool', default=False),
)


def defaults(spec: Spec) -> t.Dict[str, t.Any]:
    """The default of every option of SPEC that is not required (None when it has none)."""
    return dict((name, option.get('default')) for name, option in spec.items() if not option.get('required'))


def argument_error(args: t.Mapping[str, t.Any]) -> t.Optional[str]:
    """What the module would refuse in ARGS, as AnsibleModule says it (its first error, with the values of no_log
    options masked), or None: for checking the arguments on the controller before they are sent to a host.
    Imported here, not at the top: the probe layer that imports this file runs with the standard library alone."""
    # pylint: disable-next=import-outside-toplevel
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.module_utils.common.parameters import remove_values  # pylint: disable=import-outside-toplevel
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(args))
    if result.error_messages:
        return t.cast(str, remove_values(result.errors.msg, result._no_log_values))
    return None
