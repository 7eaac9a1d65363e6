# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The persist check of services published from containers, over what real tools answered.

Fixtures (module_utils/fixtures/starters, made by capture_containers.py): ``podman inspect`` of Podman
4.3.1 containers without restart policy, with ``--restart always``, with ``--rm``; what ``systemctl
--root=/ is-enabled`` of systemd 252 answers for an enabled, a disabled and a missing unit. The systemd
(PID 1) cases use the ``systemctl show`` fixtures of test_persist_services.py.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._container_boot import (
    container_entries, parse_is_enabled, units_to_read, wants_links,
)
from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import parse_inspect
from ansible_collections.portproof.validate.plugins.module_utils._starters import parse_dependencies, parse_show
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_services import check_persist
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "module_utils", "fixtures", "starters")
OFFLINE = "read from the unit files, systemd is not PID 1 now"


def _read(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def _is_enabled(name):
    text = _read(name)
    rc = int(text.split("\n", 1)[0][3:])
    out, err = text.split("--stdout\n", 1)[1].split("--stderr\n", 1)
    return rc, out, err


ENTRIES = container_entries(parse_inspect(_read("podman-inspect-restart.json"), "podman"))
BY_NAME = dict((e["name"], e) for e in ENTRIES)


def test_inspect_gives_each_containers_restart_policy_rm_and_unit():
    assert [(e["name"], e["restart_policy"], e["restart_retries"], e["auto_remove"], e["systemd_unit"]) for e in ENTRIES] == [
        ("shop-dyn", "always", 0, False, None), ("shop-kept", "always", 0, False, None),
        ("shop-once", "no", 0, True, None), ("shop-plain", "no", 0, False, None)]
    assert units_to_read(ENTRIES) == ["podman-restart.service"]
    assert units_to_read([dict(BY_NAME["shop-kept"], systemd_unit="web.service"), dict(BY_NAME["shop-once"], engine="docker")]) \
        == ["docker.service", "web.service"]


def test_is_enabled_is_read_as_systemctl_printed_it():
    assert parse_is_enabled(*_is_enabled("is-enabled-enabled.txt")) == "enabled"
    assert parse_is_enabled(*_is_enabled("is-enabled-disabled.txt")) == "disabled"
    assert parse_is_enabled(*_is_enabled("is-enabled-missing.txt")) == "not-found"
    assert parse_is_enabled(1, "", "Failed to connect to bus") is None


def test_wants_links_follow_the_default_target(tmp_path):
    wants = tmp_path / "etc" / "systemd" / "system"
    (wants / "default.target.wants").mkdir(parents=True)
    (wants / "multi-user.target.wants").mkdir()
    os.symlink("/lib/systemd/system/podman-restart.service", str(wants / "default.target.wants" / "podman-restart.service"))
    os.symlink("/lib/systemd/system/docker.service", str(wants / "multi-user.target.wants" / "docker.service"))
    assert wants_links("podman-restart.service", "graphical.target", str(tmp_path)) == ["default.target"]
    assert wants_links("docker.service", "graphical.target", str(tmp_path)) == ["multi-user.target"]
    assert wants_links("docker.service", "rescue.target", str(tmp_path)) == []


def _service(name, container, port=8080):
    return {"name": name, "port": port, "publish": {"container": container, "container_port": 80}}


CONTRACT = dict((s["name"], s) for s in load_contract("c1", [("portproof_services", [
    _service("plain", "shop-plain"), _service("kept", "shop-kept", 8081), _service("once", "shop-once", 8082),
    _service("dyn", "shop-dyn", "auto"), _service("gone", "shop-gone", 8083)])], set(), {"c1"}))
MAPPINGS = [{"proto": "tcp", "family": "ipv4", "host_ip": "0.0.0.0", "host_port": 38163, "target_port": 80, "source": "podman",
             "container": "shop-dyn", "containers": ["shop-dyn"], "container_id": BY_NAME["shop-dyn"]["id"], "pod": None}]


def _offline(state="enabled", wanted=("default.target",), init="/usr/lib/systemd/systemd", entries=None, **changes):
    starters = {"init": "process_api", "processes": {}, "containers": ENTRIES if entries is None else entries,
                "engines_unread": [], "boot": {"init": init, "default_target": "graphical.target", "units": {
                    "podman-restart.service": {"state": state, "wanted_by": list(wanted)}}}}
    starters.update(changes)
    return starters


def _check(starters, service, mappings=None):
    facts = Facts({"listeners": [], "mappings": MAPPINGS if mappings is None else mappings, "starters": starters, "unavailable": []})
    found = check_persist("c1", CONTRACT[service], facts)
    return found["status"], found["message"]


def test_podman_containers_come_back_only_with_restart_always_and_podman_restart_enabled():
    enabled = "podman-restart.service enabled (%s, in default.target.wants)" % OFFLINE
    assert _check(_offline(), "plain") == ("fail", "after a reboot nothing starts plain: container shop-plain: restart policy no")
    assert _check(_offline(), "kept") == ("pass", "kept runs in container shop-kept: restart policy always, " + enabled)
    assert _check(_offline(), "once") == (
        "fail", "after a reboot nothing starts once: container shop-once: it was run with --rm, so it is removed when it stops")
    assert _check(_offline(state="disabled", wanted=()), "kept") == (
        "fail", "after a reboot nothing starts kept: container shop-kept: restart policy always but podman-restart.service"
                " is disabled (%s), so Podman does not start it at boot" % OFFLINE)
    assert _check(_offline(wanted=()), "kept") == (
        "fail", "after a reboot nothing starts kept: container shop-kept: restart policy always but podman-restart.service"
                " is enabled for a target the default target graphical.target does not pull in (%s), so Podman does not"
                " start it at boot" % OFFLINE)
    assert _check(_offline(state="not-found", wanted=()), "kept")[1].endswith(
        "restart policy always but podman-restart.service is not installed (%s), so Podman does not start it at boot" % OFFLINE)
    on_failure = [dict(BY_NAME["shop-kept"], restart_policy="on-failure", restart_retries=3)]
    assert _check(_offline(entries=on_failure), "kept") == (
        "fail", "after a reboot nothing starts kept: container shop-kept: restart policy on-failure:3 (podman-restart.service"
                " starts only containers whose restart policy is always)")


def test_port_auto_says_the_host_port_is_dynamic():
    assert _check(_offline(), "dyn") == (
        "pass", "dyn runs in container shop-dyn: restart policy always, podman-restart.service enabled (%s, in"
                " default.target.wants); host port 38163 is dynamic (port: auto): it moves on every restart and the checks"
                " follow it" % OFFLINE)
    assert _check(_offline(state="disabled", wanted=()), "dyn", mappings=[]) == (
        "fail", "after a reboot nothing starts dyn: container shop-dyn: restart policy always but podman-restart.service is"
                " disabled (%s), so Podman does not start it at boot; the host port is dynamic (port: auto) and none is"
                " published now (see mapping)" % OFFLINE)


def _systemd(units, reached):
    shown = parse_show(_read("show.txt"))
    shown.update(units)
    return {"init": "systemd", "processes": {}, "sockets": [], "units": shown, "default_target": "multi-user.target",
            "reached": parse_dependencies(_read("list-dependencies.txt")) + reached, "engines_unread": []}


def test_with_systemd_as_pid_1_the_manager_decides():
    # the lab host sd1 masks podman-restart.service, which default.target still lists (list-dependencies.txt)
    masked = {"podman-restart.service": {"Id": "podman-restart.service", "LoadState": "masked", "UnitFileState": "masked"}}
    starters = _systemd(masked, [])
    assert "podman-restart.service" in starters["reached"]
    starters["containers"] = ENTRIES
    assert _check(starters, "kept") == (
        "fail", "after a reboot nothing starts kept: container shop-kept: restart policy always but podman-restart.service"
                " is masked, so Podman does not start it at boot")
    restart = {"podman-restart.service": {"Id": "podman-restart.service", "LoadState": "loaded", "UnitFileState": "enabled",
                                          "WantedBy": ["default.target"], "Restart": "no", "TriggeredBy": []}}
    starters = _systemd(restart, [])
    starters["containers"] = ENTRIES
    assert _check(starters, "kept") == (
        "pass", "kept runs in container shop-kept: restart policy always, podman-restart.service (enabled, WantedBy"
                " default.target, Restart=no)")
    starters["reached"] = [u for u in starters["reached"] if u != "podman-restart.service"]
    restart["podman-restart.service"]["UnitFileState"] = "disabled"
    assert _check(starters, "kept") == (
        "fail", "after a reboot nothing starts kept: container shop-kept: restart policy always but podman-restart.service"
                " (disabled, WantedBy default.target, Restart=no) is not pulled in by the default target multi-user.target,"
                " so Podman does not start it at boot")
    # a container its unit runs (label PODMAN_SYSTEMD_UNIT): the unit decides, whatever the restart policy
    starters["containers"] = [dict(BY_NAME["shop-plain"], systemd_unit="api.service")]
    assert _check(starters, "plain") == (
        "pass", "plain runs in container shop-plain, started at boot by api.service (enabled, WantedBy multi-user.target,"
                " Restart=on-failure)")
    starters["containers"] = [dict(BY_NAME["shop-plain"], systemd_unit="batch.service")]
    assert _check(starters, "plain") == (
        "fail", "after a reboot nothing starts plain: container shop-plain: its unit: batch.service (disabled, Restart=no)"
                " is not pulled in by the default target multi-user.target")
    quadlet = {"web.service": {"Id": "web.service", "LoadState": "loaded", "UnitFileState": "generated", "WantedBy": [],
                               "Restart": "always", "TriggeredBy": [], "SourcePath": "/etc/containers/systemd/web.container"}}
    starters = _systemd(quadlet, ["web.service"])
    starters["containers"] = [dict(BY_NAME["shop-plain"], systemd_unit="web.service")]
    assert _check(starters, "plain") == (
        "pass", "plain runs in container shop-plain, started at boot by web.service (quadlet"
                " /etc/containers/systemd/web.container, generated)")
    docker = [dict(BY_NAME["shop-kept"], engine="docker", restart_policy="unless-stopped")]
    starters = _systemd({"docker.service": {"Id": "docker.service", "LoadState": "not-found"}}, [])
    starters["containers"] = docker
    assert _check(starters, "kept") == (
        "fail", "after a reboot nothing starts kept: container shop-kept: restart policy unless-stopped but docker.service"
                " is not installed, so Docker does not start it at boot")


def test_a_pod_is_judged_by_its_containers_not_its_infra_container():
    pod = [dict(BY_NAME["shop-kept"], pod="shop"), dict(BY_NAME["shop-plain"], name="shop-infra", pod="shop", infra=True)]
    service = load_contract("c1", [("portproof_services", [_service("shop", "shop")])], set(), {"c1"})[0]
    facts = Facts({"listeners": [], "mappings": [], "starters": _offline(entries=pod), "unavailable": []})
    assert check_persist("c1", service, facts)["message"] == (
        "shop runs in container shop-kept: restart policy always, podman-restart.service enabled (%s, in"
        " default.target.wants)" % OFFLINE)


@pytest.mark.parametrize("starters,status,message", [
    (_offline(init="/usr/sbin/openrc-init"), "error", "kept: who starts it after a reboot is not known: container shop-kept:"
     " restart policy always, but PID 1 is process_api, not systemd, and /sbin/init is /usr/sbin/openrc-init"),
    (_offline(entries=[], engines_unread=["podman: podman ps exited with 125: boom"]), "error",
     "kept: who starts container shop-kept is not known: these container engines could not be read: podman: podman ps"
     " exited with 125: boom"),
    (_offline(entries=[]), "skip", "kept: container shop-kept does not run now, so nothing to start (see mapping)"),
    (_offline(containers=None), "error", "kept: who starts container shop-kept is not known: the starters subset was not gathered"),
])
def test_what_cannot_be_known_is_an_error_never_a_pass(starters, status, message):
    assert _check(starters, "kept") == (status, message)
