# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""discover names a socket-activated listener after its socket unit, over the starters of a real systemd host
(module_utils/fixtures/starters, written by its capture.py: echo.socket listens on [::]:7777, Accept=yes, so
systemd itself, PID 1, holds the listening socket)."""

from __future__ import annotations

import os

import yaml

from ansible_collections.portproof.validate.plugins.module_utils._starters import parse_list_sockets, parse_show
from ansible_collections.portproof.validate.plugins.plugin_utils._discover import activating_socket, discover_host
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_files import build_files

STARTERS = os.path.join(os.path.dirname(__file__), os.pardir, "module_utils", "fixtures", "starters")
STAMP = "2026-12-06T19:00:00Z"


def _text(name):
    with open(os.path.join(STARTERS, name)) as handle:
        return handle.read()


def _starters(**changes):
    starters = {"init": "systemd", "processes": {"1": {"cgroup": "/init.scope", "unit": "init.scope"}},
                "sockets": parse_list_sockets(_text("list-sockets.txt")), "units": parse_show(_text("show.txt")),
                "default_target": None, "reached": None}
    starters.update(changes)
    return starters


# what ss says of echo.socket's listener on the captured host: systemd, PID 1, as root, on [::]:7777
ECHO = {"proto": "tcp", "family": "ipv6", "address": "::", "port": 7777, "pid": 1, "process": "systemd", "user": "root",
        "netns": "host"}


def _facts(listeners, starters):
    return {"listeners": listeners, "mappings": [], "firewall": {}, "unavailable": [], "starters": starters}


def test_a_socket_activated_listener_is_named_after_its_socket_unit():
    found = discover_host("sd1", _facts([ECHO], _starters()), {"all": ["sd1"]}, {}, "10.1.0.5")
    assert [(e["service"], e["comments"][:2]) for e in found.services] == [
        ({"name": "echo", "port": 7777, "proto": "tcp", "bind": ["public"], "process": "systemd", "user": "root",
          "allow_from": [], "deny_from": []},
         ["[::]:7777 (IPv6 only) (systemd)", "socket-activated by echo.socket: systemd (PID 1) holds the listening socket, also once a "
                                 "connection has started the service, so process systemd stays true"])]
    files, _verification = build_files({"sd1": _facts([ECHO], _starters())}, {"all": ["sd1"]}, {"sd1": {"ansible_host": "10.1.0.5"}},
                                       {"sd1": "10.1.0.5"}, STAMP, "portproof-discovered")
    text = files["host_vars/sd1.yml"]
    assert "  # socket-activated by echo.socket: systemd (PID 1)" in text
    assert [s["name"] for s in yaml.safe_load(text)["portproof_services__discovered"]] == ["echo"]


def test_a_socket_activated_service_started_since_shares_the_socket_and_keeps_the_socket_unit_name():
    # Accept=no: once started, the service holds the listening socket too; ss names either as the owner
    started = dict(ECHO, pid=2301, process="python3", user="nobody", shared_with=[{"pid": 1, "process": "systemd", "user": "root"}])
    assert activating_socket([started], 7777, _starters()) == "echo"


def test_no_socket_unit_names_a_listener_systemd_does_not_hold_or_that_no_single_unit_listens_on():
    assert activating_socket([dict(ECHO, pid=812, process="python3")], 7777, _starters()) is None  # not PID 1
    assert activating_socket([ECHO], 7777, _starters(init="process_api")) is None  # PID 1 is not systemd
    assert activating_socket([ECHO], 7778, _starters()) is None  # no socket unit on that port
    two = _starters(sockets=parse_list_sockets(_text("list-sockets.txt")) + [{"listen": "0.0.0.0:7777", "unit": "other.socket",
                                                                             "activates": []}])
    assert activating_socket([ECHO], 7777, two) is None  # two socket units on the port: neither names it
    found = discover_host("sd1", _facts([ECHO], _starters(sockets=[])), {"all": ["sd1"]}, {}, "10.1.0.5")
    assert [e["service"]["name"] for e in found.services] == ["systemd"]
