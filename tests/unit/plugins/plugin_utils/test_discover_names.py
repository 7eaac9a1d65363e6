# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""discover's names: a socket-activated listener is named after its socket unit, over the starters of a real systemd
host (module_utils/fixtures/starters, written by its capture.py: echo.socket listens on [::]:7777, Accept=yes, so
systemd itself, PID 1, holds the listening socket); a service gets the DNS names (``names``) that every allowed source
resolves to the host only, over the port facts of the static lab (fixtures/static)."""

from __future__ import annotations

import os

import yaml

from ansible_collections.portproof.validate.plugins.module_utils._starters import parse_list_sockets, parse_show
from ansible_collections.portproof.validate.plugins.plugin_utils._discover import activating_socket, discover_host
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_files import build_files
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_names import Naming, candidates

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
         ["[::]:7777 (IPv6 only) (systemd)",
          "socket-activated by echo.socket: systemd (PID 1) holds the listening socket, also once a "
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


# names: over the port facts of the static lab (fixtures/static, see its capture.py), with port_probe's resolved items in
# the shape it returns them (tests/unit/plugins/module_utils/test_probe_names.py)
def _static():
    import json
    here = os.path.join(os.path.dirname(__file__), "fixtures", "static")
    with open(os.path.join(here, "lab.json")) as handle:
        lab = json.load(handle)
    facts = {}
    for host in ("db1", "bad1", "ctr1"):
        with open(os.path.join(here, "facts-%s.json" % host)) as handle:
            facts[host] = json.load(handle)
    groups = dict(lab["groups"], all=sorted(lab["addresses"]))
    return lab["addresses"], facts, groups


ADDRESSES, STATIC_FACTS, STATIC_GROUPS = _static()


def _answer(name, *addresses, error=None):
    return {"name": name, "addresses": list(addresses) if not error else None, "error": error,
            "reason": "Name or service not known" if error else None, "ms": 0.4}


def _resolved(**overrides):
    """What each gathered host of the static lab resolved: db1 to db1's address, bad1 and ctr1 to their own."""
    names = {"db1": ADDRESSES["db1"], "bad1": ADDRESSES["bad1"], "ctr1": ADDRESSES["ctr1"]}
    resolved = {}
    for source in ("db1", "bad1", "ctr1"):
        resolved[source] = {name: _answer(name, address) for name, address in names.items() if name != source}
    for source, answers in overrides.items():
        resolved[source] = dict(resolved[source], **answers) if answers is not None else None
    return resolved


def _build(resolved, controller=None):
    asked = []

    def lookup(names):
        asked.extend(names)
        return {name: (controller or {}).get(name) or _answer(name, error="nxdomain") for name in names}

    naming = Naming({host: candidates(host, ADDRESSES[host]) for host in STATIC_FACTS}, resolved, lookup)
    hostvars = {host: {"ansible_host": address} for host, address in ADDRESSES.items()}
    files, verification = build_files(STATIC_FACTS, STATIC_GROUPS, hostvars, ADDRESSES, STAMP, "portproof-discovered",
                                      naming=naming)
    return files, verification, asked


def test_candidates_are_the_inventory_name_and_ansible_host_when_they_are_dns_names():
    assert candidates("db1", "10.231.9.13") == ["db1"]
    assert candidates("db1", "db1.example.internal") == ["db1", "db1.example.internal"]
    assert candidates("10.231.9.13", "fd70::5") == []
    assert candidates("db_1", None) == []  # not an RFC 1123 host name
    assert candidates("db1", "db1") == ["db1"]


def test_a_name_every_allowed_source_resolves_to_the_host_only_is_proposed():
    controller = {"db1": _answer("db1", ADDRESSES["db1"])}
    files, verification, asked = _build(_resolved(), controller)
    services = {s["name"]: s for s in yaml.safe_load(files["host_vars/db1.yml"])["portproof_services__discovered"]}
    # postgres lets app, containers (ctr1), db (bad1) and the controller in; app1 was not gathered, so not asked
    assert services["postgres"]["allow_from"] == ["app", "containers", "db", "controller"]
    assert "names" not in services["postgres"]
    assert "  # names: db1 left out, app1 was not asked (not gathered, or its resolve run failed)\n" in files["host_vars/db1.yml"]
    assert asked == []  # the hosts did not agree: the controller resolves nothing
    # without app in the play's groups, every allowed source resolves db1 to db1's address: proposed, and it loads back
    groups = dict(STATIC_GROUPS, app=[])
    naming = Naming({host: candidates(host, ADDRESSES[host]) for host in STATIC_FACTS}, _resolved(),
                    lambda names: {name: controller[name] for name in names})
    files, verification = build_files(STATIC_FACTS, groups, {h: {"ansible_host": a} for h, a in ADDRESSES.items()}, ADDRESSES,
                                      STAMP, "portproof-discovered", naming=naming)
    text = files["host_vars/db1.yml"]
    services = {s["name"]: s for s in yaml.safe_load(text)["portproof_services__discovered"]}
    assert services["postgres"]["names"] == ["db1"] and services["postgres"]["allow_from"] == ["containers", "db", "controller"]
    assert "    names: [db1]\n" in text
    assert "  # names: db1, as every allowed source (ctr1, bad1, controller) resolves it to %s only\n" % ADDRESSES["db1"] in text
    assert "db1" not in verification


def test_a_name_resolved_elsewhere_or_not_at_all_from_one_source_is_left_out_with_the_reason():
    groups = dict(STATIC_GROUPS, app=[])
    hostvars = {h: {"ansible_host": a} for h, a in ADDRESSES.items()}
    cases = [
        (_resolved(ctr1={"db1": _answer("db1", ADDRESSES["ctr1"])}), {},
         "ctr1 resolves it to %s, not only to %s, where db1 is reached" % (ADDRESSES["ctr1"], ADDRESSES["db1"])),
        (_resolved(bad1={"db1": _answer("db1", ADDRESSES["db1"], "fd70::13")}), {},
         "bad1 resolves it to %s, fd70::13, not only to %s, where db1 is reached" % (ADDRESSES["db1"], ADDRESSES["db1"])),
        (_resolved(bad1={"db1": _answer("db1", error="nxdomain")}), {},
         "bad1 does not resolve it: nxdomain (Name or service not known)"),
        (_resolved(ctr1=None), {}, "ctr1 was not asked (not gathered, or its resolve run failed)"),
        (_resolved(), {"db1": _answer("db1", ADDRESSES["web1"])},  # split horizon: the controller sees another address
         "controller resolves it to %s, not only to %s, where db1 is reached" % (ADDRESSES["web1"], ADDRESSES["db1"])),
    ]
    for resolved, controller, why in cases:
        naming = Naming({host: candidates(host, ADDRESSES[host]) for host in STATIC_FACTS}, resolved,
                        lambda names, c=controller: {name: c.get(name) or _answer(name, ADDRESSES["db1"]) for name in names})
        files, _verification = build_files(STATIC_FACTS, groups, hostvars, ADDRESSES, STAMP, "portproof-discovered", naming=naming)
        text = files["host_vars/db1.yml"]
        assert "  # names: db1 left out, %s\n" % why in text, (why, text)
        assert "names:" not in text.replace("# names:", ""), text


def test_a_service_only_the_controller_may_reach_gets_no_name_and_the_controller_resolves_nothing():
    def refuse(names):
        raise AssertionError("the controller resolved %s" % names)

    naming = Naming({"db1": ["db1"]}, {}, refuse)
    assert naming.names("db1", ADDRESSES["db1"], ["controller"]) == (
        [], ["names: none proposed, no allowed host resolved db1 (discover asks the allowed hosts first)"])
    assert naming.names("db1", "db1.example.internal", ["bad1"]) == (
        [], ["names: none proposed, the address db1 is reached at is not known"])
    assert naming.names("web1", ADDRESSES["web1"], ["bad1"]) == ([], [])  # no candidate


def test_a_service_moved_to_its_group_keeps_no_members_names_comment():
    from ansible_collections.portproof.validate.plugins.plugin_utils._discover import HostDiscovery, factor_groups
    found = {}
    for host in ("app1", "app2"):
        found[host] = HostDiscovery(host)
        found[host].services.append({"service": {"name": "api", "port": 8000, "proto": "tcp", "allow_from": ["app"]},
                                     "comments": ["0.0.0.0:8000 (api)", "names: %s left out, the other does not resolve it" % host],
                                     "why": {}, "protocol": None})
    moved = factor_groups(found, {"app": ["app1", "app2"]})
    assert [entry["comments"] for entry in moved["app"]] == [["0.0.0.0:8000 (api)"]]
    assert (found["app1"].services, found["app2"].services) == ([], [])
