# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the unit that loads a saved firewall at boot is enabled (_loaders.py): from the real systemctl output of
the lab's systemd host (fixtures/firewall/loaders, see PROVENANCE), and from unit files where PID 1 is not systemd."""

from __future__ import annotations

import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._command import Limits
from ansible_collections.portproof.validate.plugins.module_utils._firewall._loaders import (
    gather_loaders, loader_units, state_from_files, state_from_show, unit_for)
from ansible_collections.portproof.validate.plugins.module_utils._starters import parse_show

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "firewall", "loaders")


def _read(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


@pytest.mark.parametrize("name, expected", [
    ("show-disabled.txt", {"firewalld.service": "masked", "iptables.service": "missing", "netfilter-persistent.service": "disabled",
                           "nftables.service": "disabled", "ufw.service": "masked"}),
    ("show-enabled.txt", {"firewalld.service": "masked", "iptables.service": "missing", "netfilter-persistent.service": "enabled",
                          "nftables.service": "disabled", "ufw.service": "masked"}),
])
def test_states_from_the_real_systemctl(name, expected):
    shown = parse_show(_read(name))
    assert dict((unit, state_from_show(unit, shown.get(unit))["state"]) for unit in expected) == expected
    assert state_from_show("iptables.service", shown["iptables.service"]) == {
        "state": "missing", "detail": "not installed (no unit file)", "how": "systemctl"}


@pytest.mark.parametrize("file_state, state", [
    ("static", "undecided"), ("indirect", "undecided"), ("generated", "undecided"), ("", "undecided"),
    ("enabled-runtime", "disabled"), ("linked", "disabled"),
])
def test_states_that_do_not_say_or_do_not_survive_a_reboot(file_state, state):
    assert state_from_show("nftables.service", {"Id": "nftables.service", "LoadState": "loaded",
                                                "UnitFileState": file_state})["state"] == state
    assert state_from_show("nftables.service", None)["state"] == "undecided"


def _tree(tmp_path, files, links=()):
    for path, text in files.items():
        full = tmp_path / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
    for path, target in links:
        full = tmp_path / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, str(full))
    return str(tmp_path)


UNIT = "/lib/systemd/system/netfilter-persistent.service"


def test_states_from_unit_files(tmp_path):
    """PID 1 is not systemd: the package's unit file and systemctl enable's link, as they lie on a Debian host."""
    text = _read("netfilter-persistent.service")
    wants = "/etc/systemd/system/multi-user.target.wants/netfilter-persistent.service"
    root = _tree(tmp_path / "enabled", {UNIT: text}, [(wants, UNIT)])
    assert state_from_files("netfilter-persistent.service", root) == {
        "state": "enabled", "detail": "linked in /etc/systemd/system/multi-user.target.wants", "how": "unit files"}
    root = _tree(tmp_path / "disabled", {UNIT: text})
    assert state_from_files("netfilter-persistent.service", root)["state"] == "disabled"
    root = _tree(tmp_path / "masked", {UNIT: text}, [("/etc/systemd/system/netfilter-persistent.service", "/dev/null")])
    assert state_from_files("netfilter-persistent.service", root)["state"] == "masked"
    root = _tree(tmp_path / "missing", {"/etc/iptables/rules.v4": "*filter\nCOMMIT\n"})
    assert state_from_files("netfilter-persistent.service", root) == {
        "state": "missing", "detail": "not installed (no unit file)", "how": "unit files"}
    root = _tree(tmp_path / "sysv", {"/etc/init.d/netfilter-persistent": "#!/bin/sh\n"})
    assert state_from_files("netfilter-persistent.service", root) == {
        "state": "undecided", "detail": "no unit file; the SysV script /etc/init.d/netfilter-persistent is not read",
        "how": "unit files"}
    root = _tree(tmp_path / "static", {UNIT: text.split("[Install]")[0]})
    assert state_from_files("netfilter-persistent.service", root)["state"] == "undecided"


def test_the_units_of_the_saved_configuration():
    saved = {"sources": [{"path": "/etc/iptables/rules.v4", "loader": "iptables-persistent"},
                         {"path": "/etc/sysconfig/ip6tables", "loader": "iptables-services"}],
             "unsupported": [{"path": "/etc/firewalld", "loader": "firewalld"}]}
    assert loader_units(saved) == ["firewalld.service", "ip6tables.service", "netfilter-persistent.service"]
    assert unit_for("/etc/nftables.conf", "nftables") == "nftables.service"
    assert loader_units({"sources": [], "unsupported": []}) == []


def test_where_pid_1_is_not_systemd_the_unit_files_decide(tmp_path):
    """/proc/1/comm names another init (a container's): nothing is asked, the files below the root are read."""
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "comm").write_text("process_api\n")
    root = _tree(tmp_path / "root", {UNIT: _read("netfilter-persistent.service")})
    loaders, unavailable = gather_loaders(None, ["netfilter-persistent.service", "nftables.service"], Limits(),
                                          root=root, proc=str(proc))
    assert (loaders, unavailable) == ({
        "netfilter-persistent.service": {"state": "disabled", "detail": "disabled", "how": "unit files"},
        "nftables.service": {"state": "missing", "detail": "not installed (no unit file)", "how": "unit files"}}, [])
    assert gather_loaders(None, [], Limits(), root=root, proc=str(proc)) == ({}, [])
