# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A module stand-in that replays the captured `mappings` fixtures (fixtures/mappings/capture.sh)."""

from __future__ import annotations

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "mappings")
RULE_TOOLS = ("iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save", "nft", "ip")
ENV = {"LC_ALL": "C", "LANG": "C"}

# command and its first arguments -> fixture file holding its stdout (the longest prefix counts)
OUTPUTS = {
    ("iptables-nft-save",): "iptables-nft-save.txt",
    ("ip6tables-nft-save",): "ip6tables-nft-save.txt",
    ("iptables-legacy-save",): "iptables-legacy-save.txt",
    ("ip6tables-legacy-save",): "ip6tables-legacy-save.txt",
    ("nft", "-j", "list", "ruleset"): "nft-list-ruleset.json",
    ("nft", "-a", "list", "ruleset"): "nft-a-list-ruleset.txt",
    ("nft", "-j", "list", "tables"): "nft-list-tables.json",
    ("nft", "-j", "list", "chains"): "nft-list-chains.json",
    ("ip", "-j", "addr", "show"): "ip-addr.json",
    ("ip", "-j", "-4", "route", "show", "table", "main"): "ip-route4.json",
    ("ip", "-j", "-6", "route", "show", "table", "main"): "ip-route6.json",
    ("podman", "ps"): "podman-ps.json",
    ("podman", "inspect"): "podman-inspect.json",
    ("docker", "ps"): "docker-ps.txt",
    ("docker", "inspect"): "docker-inspect.json",
    ("docker", "image"): "docker-image-inspect.json",
}


def read(scenario, name):
    with open(os.path.join(FIXTURES, scenario, name)) as handle:
        return handle.read()


def captured(name):
    """(rc, stdout, stderr) of an engine error captured under fixtures/mappings/errors/."""
    return (int(read("errors", name + ".rc")), read("errors", name + ".stdout"), read("errors", name + ".stderr"))


class FakeModule(object):
    """get_bin_path() finds TOOLS; run_command() replays SCENARIO's fixtures, or REPLIES first.

    ``replies`` maps (command, first argument or None) to (rc, stdout, stderr), or to a callable
    taking argv and returning that.
    """

    def __init__(self, scenario, tools=RULE_TOOLS, replies=None):
        self.scenario = scenario
        self.tools = set(tools)
        self.replies = dict(replies or {})
        self.calls = []

    def get_bin_path(self, name):
        return "/usr/sbin/" + name if name in self.tools else None

    def run_command(self, argv, environ_update=None, before_communicate_callback=None):
        assert environ_update == ENV, environ_update
        assert isinstance(argv, list) and argv[0].startswith("/usr/sbin/"), argv
        self.calls.append(list(argv))
        key = (os.path.basename(argv[0]), argv[1] if len(argv) > 1 else None)
        if key in self.replies:
            reply = self.replies[key]
            return reply(argv) if callable(reply) else reply
        command = (key[0],) + tuple(argv[1:])
        if command[:4] in (("nft", "-j", "list", "table"), ("nft", "-a", "list", "table")):
            name = "nft-list-table-%s-%s.json" if command[1] == "-j" else "nft-a-list-table-%s-%s.txt"
            return 0, read(self.scenario, name % command[4:6]), ""
        known = [k for k in OUTPUTS if command[:len(k)] == k]
        if not known:
            raise AssertionError("unexpected command %r" % (argv,))
        return 0, read(self.scenario, OUTPUTS[max(known, key=len)]), ""

    def commands(self):
        return [(os.path.basename(argv[0]),) + tuple(argv[1:]) for argv in self.calls]
