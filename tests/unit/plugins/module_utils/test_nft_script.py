# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nft scripts (/etc/nftables.conf) turned into ``nft -j list ruleset`` items without loading them.

The corpus (fixtures/firewall/nftscript, provenance in its PROVENANCE file) is also loaded with the
real ``nft -f`` in a fresh network namespace of its own (``unshare --net``, gone when nft exits): the
parser's items must equal the kernel's listing (handles aside) and give the same verdicts.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft import parse_nft_json
from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_script import NftScriptError, parse_nft_script
from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import firewall_verdict

CORPUS = os.path.join(os.path.dirname(__file__), "fixtures", "firewall", "nftscript")
needs_nft = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nft") is None,
                               reason="needs root, unshare and nft (the oracle loads each script in its own network namespace)")
# script -> whether the parser evaluates it (else the exact error)
CASES = {
    "debian-nftables.conf": None,
    "debian-workstation.nft": None,
    "debian-inet-filter.nft": None,
    "debian-ipv4-filter.nft": None,
    "debian-ipv6-filter.nft": None,
    "nixpkgs-example.nft": None,
    "hand/nftables.conf": None,
    "archlinux-listed.nft": "{dir}/archlinux-listed.nft line 9: 'meta pkttype' not understood (in 'meta pkttype host limit rate "
                            "5/second burst 5 packets counter packets 40 byte...')",
}
SOURCES = ("192.0.2.2", "192.0.2.5", "192.0.2.99", "192.0.2.110", "198.51.100.7", "203.0.113.9", "10.66.1.1", "127.0.0.1",
           "2001:db8::66", "2001:db8::1", "fe80::1", "::1")
LOCAL = [{"iface": "lo", "address": "127.0.0.1", "prefixlen": 8}, {"iface": "lo", "address": "::1", "prefixlen": 128},
         {"iface": "eth0", "address": "192.0.2.1", "prefixlen": 24}, {"iface": "eth0", "address": "2001:db8::1", "prefixlen": 64}]
PORTS = (22, 53, 80, 123, 161, 443, 5432, 6379, 8000, 8080, 8081)


def _copy(tmp_path):
    """The corpus in tmp_path, with /HAND/ (an absolute include) pointing at its hand/ folder."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, str(target))
    for folder, dummy, names in os.walk(str(target)):
        for name in names:
            path = os.path.join(folder, name)
            with open(path) as handle:
                text = handle.read()
            with open(path, "w") as handle:
                handle.write(text.replace("/HAND/", str(target / "hand") + "/"))
    return str(target)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


_read.listdir = os.listdir  # type: ignore[attr-defined]


def _unordered(value):
    """Set elements sorted (a set has no order; the kernel lists an anonymous set in key order)."""
    if isinstance(value, dict):
        return dict((k, sorted((_unordered(v) for v in w), key=json.dumps) if k in ("set", "elem") else _unordered(w))
                    for k, w in value.items())
    if isinstance(value, list):
        return [_unordered(v) for v in value]
    return value


def _normalized(items):
    """Items without metainfo and handles (the kernel numbers them per namespace), set elements unordered."""
    out = []
    for item in items:
        kind, body = next(iter(item.items()))
        if kind == "metainfo":
            continue
        out.append({kind: _unordered(dict((k, v) for k, v in body.items() if k != "handle"))})
    return out


def _packets():
    for src, port, proto, iface in itertools.product(SOURCES, PORTS, ("tcp", "udp"), ("eth0", "lo")):
        local = ("::1" if ":" in src else "127.0.0.1") if iface == "lo" else ("2001:db8::1" if ":" in src else "192.0.2.1")
        yield {"src": src, "dst": local, "proto": proto, "dport": port, "iface": iface}


def _verdicts(items):
    firewall = {"tables": parse_nft_json(items), "incomplete": [], "local_addresses": LOCAL}
    return [(p["src"], p["proto"], p["dport"], p["iface"], v["verdict"])
            for p, v in zip(_packets(), firewall_verdict(firewall, list(_packets())))]


def _kernel(path):
    """``nft -j list ruleset`` after ``nft -f PATH`` in a network namespace of its own (unshare --net: gone when nft exits)."""
    proc = subprocess.run(["unshare", "--net", "sh", "-c", 'nft -I "$1" -f "$2" && nft -j list ruleset', "sh",
                           os.path.dirname(path), path], capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["nftables"]


@needs_nft
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_parser_gives_what_nft_loads(tmp_path, name):
    root = _copy(tmp_path)
    path = os.path.join(root, name)
    kernel = _kernel(path)  # every script of the corpus is valid nft
    if CASES[name] is not None:
        with pytest.raises(NftScriptError) as caught:
            parse_nft_script(path, _read, os.path.dirname(path))
        assert str(caught.value) == CASES[name].format(dir=root)
        return
    items, meta, files = parse_nft_script(path, _read, os.path.dirname(path))  # nft -I as in _kernel
    assert _normalized(items) == _normalized(kernel)
    assert _verdicts(items) == _verdicts(kernel)
    assert len(meta) == sum(1 for item in items if "rule" in item)


def _script(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path / "nftables.conf")


@pytest.mark.parametrize("files, error", [
    ({"nftables.conf": "flush ruleset\ntable inet f {\n chain i {\n  type filter hook input priority 0;\n"
                       "  tcp flags syn tcp dport 22 accept\n }\n}\n"},
     "{d}/nftables.conf line 5: 'tcp flags' not understood (in 'tcp flags syn tcp dport 22 accept')"),
    ({"nftables.conf": "include \"sub.nft\"\n", "sub.nft": "\n\ntable inet f {\n map m { type ipv4_addr : verdict; }\n}\n"},
     "{d}/sub.nft line 4: 'map m { type ipv4_addr : verdict ; }' not understood in table inet f"),
    ({"nftables.conf": "include \"missing.nft\"\n"}, "{d}/nftables.conf line 1: {d}/missing.nft does not exist"),
    ({"nftables.conf": "include \"nftables.conf\"\n"}, "{d}/nftables.conf line 1: includes nested more than 16 deep"),
    ({"nftables.conf": "table inet f {\n chain i {\n  ip saddr $admins accept\n }\n}\n"}, "{d}/nftables.conf line 3: $admins is not defined"),
    ({"nftables.conf": "table inet f {\n chain i {\n  ip saddr @admins accept\n }\n}\n"},
     "{d}/nftables.conf line 3: set @admins is not defined in table inet f"),
    ({"nftables.conf": "table inet f {\n chain i {\n  jump other\n }\n}\n"},
     "{d}/nftables.conf line 3: jump to chain other, which is not defined in table inet f"),
    ({"nftables.conf": "table ip f {\n chain i {\n  type filter hook input priority 0;\n  tcp dport 1 dnat to 10.0.0.1\n }\n}\n"},
     "{d}/nftables.conf line 4: dnat outside a chain of type nat not understood"),
    ({"nftables.conf": "table inet f {\n chain i {\n  type nat hook prerouting priority dstnat;\n  dnat to 10.0.0.1\n }\n}\n"},
     "{d}/nftables.conf line 4: dnat in an inet table without ip or ip6 not understood"),
    ({"nftables.conf": "define x = 1\ndefine x = 2\n"}, "{d}/nftables.conf line 2: redefinition of x (nft refuses to load the script)"),
    ({"nftables.conf": "add rule inet f i accept\n"}, "{d}/nftables.conf line 1: 'add rule inet f i accept' not understood"),
    ({"nftables.conf": "table netdev f {\n}\n"}, "{d}/nftables.conf line 1: 'table netdev f {' not understood (families: inet, ip, ip6)"),
    ({"nftables.conf": "table ip f {\n chain i {\n  ip6 saddr ::1 accept\n }\n}\n"},
     "{d}/nftables.conf line 3: ip6 saddr in a table of family ip not understood"),
    ({"nftables.conf": "table ip f {\n chain i {\n  ip saddr host.example accept\n }\n}\n"},
     "{d}/nftables.conf line 3: address host.example not understood (host names are not resolved)"),
    ({"nftables.conf": "table ip f {\n chain i {\n  type filter hook input priority first;\n }\n}\n"},
     "{d}/nftables.conf line 3: priority first not understood"),
    ({"nftables.conf": "table ip f {\n chain i {\n  ip saddr { 10.0.0.1,\n 10.0.0.2 accept\n"},
     "{d}/nftables.conf line 3: a '{' is not closed"),
    ({"nftables.conf": "table ip f {\n chain i {\n  accept\n }\n"}, "{d}/nftables.conf line 1: the '{' of this block is not closed"),
])
def test_anything_outside_the_subset_is_refused_with_file_and_line(tmp_path, files, error):
    path = _script(tmp_path, files)
    with pytest.raises(NftScriptError) as caught:
        parse_nft_script(path, _read, str(tmp_path))
    assert str(caught.value) == error.replace("{d}", str(tmp_path))


def test_a_flush_drops_what_came_before_and_tables_merge(tmp_path):
    path = _script(tmp_path, {"nftables.conf": "table ip old {\n}\nflush ruleset\ntable ip f {\n chain i {\n  accept\n }\n}\n"
                                               "table ip f {\n chain i {\n  drop\n }\n}\n"})
    items, meta, files = parse_nft_script(path, _read, str(tmp_path))
    assert _normalized(items) == [{"table": {"family": "ip", "name": "f"}},
                                  {"chain": {"family": "ip", "table": "f", "name": "i"}},
                                  {"rule": {"family": "ip", "table": "f", "chain": "i", "expr": [{"accept": None}]}},
                                  {"rule": {"family": "ip", "table": "f", "chain": "i", "expr": [{"drop": None}]}}]
    assert [m["where"] for m in meta] == ["%s line 6" % path, "%s line 11" % path]
    assert files == [path]
