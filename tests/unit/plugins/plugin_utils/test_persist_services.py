# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The starters parsers and the persist check of services, over what a real systemd host answered.

The fixtures (module_utils/fixtures/starters, made by its capture.py) come from the lab host sd1
of tests/labtest/test_persist_services.py: systemd 252 as PID 1, cgroup v1 hybrid, api.service
enabled, batch.service started but disabled, echo.socket enabled (socket activation), nginx.service
masked, hand started over SSH (a login's session scope).
"""

from __future__ import annotations

import os

from ansible_collections.portproof.validate.plugins.module_utils._starters import (
    cgroup_path, listen_port, parse_dependencies, parse_list_sockets, parse_show, unit_of,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_services import check_persist
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "module_utils", "fixtures", "starters")


def _read(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


HAND_CGROUP = cgroup_path(_read("cgroup-hand.txt"))


def _starters(**changes):
    processes = {}
    for pid, name in ((47, "api"), (66, "batch"), (830, "hand")):
        path = cgroup_path(_read("cgroup-%s.txt" % name))
        processes[str(pid)] = {"cgroup": path, "unit": unit_of(path)}
    starters = {"init": "systemd", "processes": processes, "sockets": parse_list_sockets(_read("list-sockets.txt")),
                "units": parse_show(_read("show.txt")), "default_target": _read("get-default.txt").strip(),
                "reached": parse_dependencies(_read("list-dependencies.txt"))}
    starters.update(changes)
    return starters


def _listener(port, pid, process):
    return {"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": port, "pid": pid, "process": process,
            "user": "root", "netns": "host"}


LISTENERS = [_listener(8080, 47, "api"), _listener(8081, 66, "batch"), _listener(8082, 830, "hand"),
             dict(_listener(7777, 1, "systemd"), family="ipv6", address="::", dual_stack=True)]
CONTRACT = load_contract("sd1", [("portproof_services", [{"name": "api", "port": 8080}, {"name": "batch", "port": 8081},
                                                         {"name": "hand", "port": 8082}, {"name": "echo", "port": 7777}])],
                         set(), {"sd1"})


def _check(starters, listeners=None, unavailable=()):
    facts = Facts({"listeners": LISTENERS if listeners is None else listeners, "starters": starters,
                   "unavailable": list(unavailable)})
    return {r["service"]: (r["status"], r["message"]) for r in (check_persist("sd1", s, facts) for s in CONTRACT)}


def test_parsers_read_what_systemd_answered():
    assert HAND_CGROUP.endswith("/user.slice/user-0.slice/session-43.scope")
    assert unit_of(HAND_CGROUP) == "session-43.scope"
    assert unit_of(cgroup_path(_read("cgroup-api.txt"))) == "api.service"
    assert unit_of("/system.slice/web.service/libpod-payload-0123abcd") == "web.service"  # a quadlet's payload group
    assert unit_of("/libpod_parent/libpod-0123abcd") is None
    assert cgroup_path("0::/system.slice/redis-server.service\n") == "/system.slice/redis-server.service"
    units = parse_show(_read("show.txt"))
    assert sorted(units) == ["api.service", "batch.service", "echo.socket", "nginx.service", "nosuch.service"]
    assert units["api.service"]["WantedBy"] == ["multi-user.target"] and units["api.service"]["Restart"] == "on-failure"
    assert units["nosuch.service"]["LoadState"] == "not-found"
    sockets = parse_list_sockets(_read("list-sockets.txt"))
    assert [s["unit"] for s in sockets if listen_port(s["listen"]) is not None] == ["echo.socket"]
    assert listen_port("[::]:7777") == 7777 and listen_port("/run/initctl") is None and listen_port("7777") == 7777
    reached = parse_dependencies(_read("list-dependencies.txt"))
    assert "api.service" in reached and "echo.socket" in reached and "batch.service" not in reached


def test_persist_names_the_unit_or_why_nothing_starts_the_service():
    assert _check(_starters()) == {
        "api": ("pass", "api is started by api.service (enabled, WantedBy multi-user.target, Restart=on-failure)"),
        "batch": ("fail", "after a reboot nothing starts batch: batch.service (disabled, Restart=no) is not pulled in by "
                          "the default target multi-user.target"),
        "hand": ("fail", "after a reboot nothing starts hand: hand (pid 830), started from a shell: cgroup %s" % HAND_CGROUP),
        "echo": ("pass", "echo is started by socket activation: echo.socket (enabled, WantedBy sockets.target)"),
    }


def test_a_masked_unit_or_one_enabled_for_this_boot_only_does_not_start_after_a_reboot():
    starters = _starters()
    starters["processes"]["47"] = {"cgroup": "/system.slice/nginx.service", "unit": "nginx.service"}
    assert _check(starters)["api"] == ("fail", "after a reboot nothing starts api: nginx.service is masked")
    starters = _starters()
    starters["units"]["api.service"]["UnitFileState"] = "enabled-runtime"
    assert _check(starters)["api"] == (
        "fail", "after a reboot nothing starts api: api.service (enabled-runtime, WantedBy multi-user.target, "
                "Restart=on-failure) exists for this boot only")


def test_what_cannot_be_known_is_an_error_never_a_pass():
    assert _check(_starters(init="process_api"))["api"] == (
        "error", "api: who starts it after a reboot is not known: PID 1 is process_api, not systemd")
    assert _check(_starters(), unavailable=[{"subset": "starters", "tool": "systemctl", "reason": "systemctl not found"}])["api"] == (
        "error", "api: who starts it is not known: systemctl: systemctl not found")
    assert _check(None)["api"] == ("error", "api: who starts it is not known: the starters subset was not gathered")
    assert _check(_starters(sockets=[]))["echo"] == (
        "error", "echo: who starts it is not known: [::]:7777 (dual-stack) is held by systemd (pid 1) and no socket "
                 "unit lists port 7777")
    assert _check(_starters(), listeners=[])["api"] == ("skip", "api: nothing listens on 8080/tcp, so nothing to start (see listen)")
