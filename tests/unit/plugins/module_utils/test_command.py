# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_command.run through a real AnsibleModule.run_command, on real processes that hang."""

from __future__ import annotations

import time

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.portproof.validate.tests.unit.module_args import patch_module_args

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run


@pytest.fixture
def module():
    with patch_module_args({}):
        yield AnsibleModule(argument_spec={})


def test_a_command_within_its_limit(module):
    assert run(module, ["/bin/sh", "-c", "echo $LC_ALL"], Limits(5)) == (0, "C\n", "")


def test_a_hung_command_is_killed_at_its_timeout(module):
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        run(module, ["/bin/sleep", "60"], Limits(0.5))
    assert time.monotonic() - start < 5
    assert str(caught.value) == "sleep 60 did not answer within 0.5 s (port_facts' command_timeout) and was killed"


def test_the_deadline_kills_a_command_then_keeps_the_next_from_starting(module):
    limits = Limits(60, deadline=0.5)
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        run(module, ["/bin/sleep", "60"], limits)
    assert time.monotonic() - start < 5
    assert str(caught.value) == "sleep 60 was killed: port_facts' deadline of 0.5 s for the whole gather was reached"
    with pytest.raises(CommandTimeout) as caught:
        run(module, ["/bin/true"], limits)
    assert str(caught.value) == "true not run: port_facts' deadline of 0.5 s for the whole gather had passed"
