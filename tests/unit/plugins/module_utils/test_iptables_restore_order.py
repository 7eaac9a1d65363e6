# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A saved rules file as iptables-restore reads it: options in any order, quotes as iptables-restore takes them.

The oracle is the real tool: each rules file is loaded with ``iptables-restore`` in a network namespace of its
own (``unshare --net``, gone when the command exits; never the machine's ruleset) and listed back with
``iptables-save``; what the saved-file reader (gather_saved_firewall) makes of the file must equal what the parser
of the running rules makes of that listing. A file the real ``iptables-restore --test`` refuses must be refused
(an error naming the line), never read into rules that nothing loads at boot. The expected tool is iptables 1.8.9
(Debian 12), whose iptables-restore takes only double quotes (a single quote is an ordinary character).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import parse_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._saved import gather_saved_firewall

needs_iptables = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None
                                    or shutil.which("iptables-restore") is None,
                                    reason="needs root, unshare and iptables-restore (the oracle loads each file in its own network namespace)")

# rule lines iptables-restore loads, written as by hand (not in iptables-save's order)
LOADED = {
    "generic-after-module": "-A INPUT -p tcp -m tcp -s 10.0.0.0/8 --dport 22 -j ACCEPT",
    "comment-between-options": "-A INPUT -p tcp -m tcp -m comment --comment x --dport 23 -j ACCEPT",
    "option-after-other-module": "-A INPUT -p tcp -m tcp --dport 24 -m comment --comment x --sport 1024 -j ACCEPT",
    "modules-first": "-A INPUT -m state -p tcp -m tcp --state NEW --dport 25 -j ACCEPT",
    "quoted-between": '-A INPUT -p tcp -m multiport -m comment --dports 80,443 --comment "a b" -i eth0 -j ACCEPT',
    "generic-after-target": "-A INPUT -p udp -m udp --dport 53 -j ACCEPT -s 10.1.0.0/16",
    "negations-mixed": "-A INPUT -p tcp -m tcp ! --dport 22 -m conntrack ! -s 10.9.0.0/16 --ctstate NEW -j REJECT --reject-with tcp-reset",
    "implicit-match-quoted": '-A INPUT -p tcp --dport 5432 -m comment --comment "db \\"main\\"" -s 10.0.0.2 -j ACCEPT',
    "single-quotes-are-characters": "-A INPUT -m comment --comment 'web' -j ACCEPT",
    "backslash-outside-quotes": "-A INPUT -m comment --comment a\\b -j DROP",
    "quote-inside-word": '-A INPUT -m comment --comment x"y z" -j DROP',
    "implicit-match-option-words-quoted": '-A INPUT -p tcp --dport 22 -m comment --comment "allow  -s web" -j ACCEPT',
}
# rule lines iptables-restore refuses, and the error the reader gives (line 3 of the file)
REFUSED = {
    "single-quoted-words": ("-A INPUT -p tcp -m comment --comment 'allow web' -m tcp --dport 80 -j ACCEPT", "web'"),
    "extra-value": ("-A INPUT -p tcp -m tcp --dport 22 23 -j ACCEPT", "23"),
}


def _file(line):
    return "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n%s\nCOMMIT\n" % line


def _restore(text, test=False):
    """(rc, iptables-save -t filter, stderr) after iptables-restore of TEXT in a network namespace of its own."""
    script = "iptables-restore --test" if test else "iptables-restore && iptables-save -t filter"
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], input=text, capture_output=True, text=True,
                          timeout=30, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _match(match):
    """A match as JSON, an address as a network (iptables-save lists 10.0.0.2 as 10.0.0.2/32)."""
    if match["key"] in ("saddr", "daddr"):
        match = dict(match, values=[str(ipaddress.ip_network(value)) for value in match["values"]])
    return json.dumps(match, sort_keys=True)


def _rules(tables):
    """Each rule's matches (in any order), comment and verdict."""
    return [(sorted(_match(match) for match in rule["match"]), rule["comment"], rule["verdict"])
            for table in tables for chain in table["chains"] for rule in chain["rules"]]


def _saved(tmp_path, text):
    path = tmp_path / "etc" / "iptables" / "rules.v4"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return gather_saved_firewall(str(tmp_path))


@needs_iptables
@pytest.mark.parametrize("name", sorted(LOADED))
def test_a_saved_file_reads_as_iptables_restore_loads_it(tmp_path, name):
    text = _file(LOADED[name])
    rc, listing, err = _restore(text)
    assert rc == 0, err
    saved, unavailable = _saved(tmp_path, text)
    assert unavailable == []
    assert _rules(saved["tables"]) == _rules(parse_save(listing, "ip", "iptables")[0])


def test_options_after_other_options_keep_their_meaning(tmp_path):
    """The exact model of two of the cases above (the oracle's listing, captured with iptables 1.8.9:
    ``-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT`` and
    ``-A INPUT -p tcp -m tcp --dport 24 --sport 1024 -m comment --comment x -j ACCEPT``)."""
    text = _file(LOADED["generic-after-module"] + "\n" + LOADED["option-after-other-module"] + "\n"
                 + LOADED["single-quotes-are-characters"])
    saved, dummy = _saved(tmp_path, text)
    rules = saved["tables"][0]["chains"][0]["rules"]
    assert [(rule["match"], rule["comment"]) for rule in rules] == [
        ([{"key": "l4proto", "op": "eq", "values": ["tcp"]}, {"key": "saddr", "op": "eq", "values": ["10.0.0.0/8"]},
          {"key": "dport", "op": "eq", "values": [22]}], None),
        ([{"key": "l4proto", "op": "eq", "values": ["tcp"]}, {"key": "dport", "op": "eq", "values": [24]},
          {"key": "sport", "op": "eq", "values": [1024]}], "x"),
        ([], "'web'"),
    ]


@needs_iptables
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_file_iptables_restore_refuses_is_an_error(tmp_path, name):
    line, word = REFUSED[name]
    text = _file(line)
    rc, dummy, err = _restore(text, test=True)
    assert rc != 0 and "line: 5" in err, err
    saved, unavailable = _saved(tmp_path, text)
    assert saved["tables"] == [] and saved["sources"] == []
    assert [entry["tool"] for entry in unavailable] == ["/etc/iptables/rules.v4"]
    assert unavailable[0]["reason"].startswith("/etc/iptables/rules.v4: iptables-persistent line 5: unexpected %r in rule" % word)
