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

from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft import parse_nft_json, rule_texts
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
    "archlinux-listed.nft": None,
    "constructs.nft": None,
    "debian-examples/all-in-one.nft": None,
    "openwrt-fw4/01_configuration-02_rule_order.nft": None,
    "openwrt-fw4/02_zones-01_policies.nft": None,
    "openwrt-fw4/02_zones-02_masq.nft": None,
    "openwrt-fw4/02_zones-03_masq_src_dest_restrictions.nft": None,
    "openwrt-fw4/02_zones-04_masq_allow_invalid.nft": None,
    "openwrt-fw4/02_zones-04_wildcard_devices.nft": None,
    "openwrt-fw4/02_zones-05_subnet_mask_matches.nft": "{dir}/openwrt-fw4/02_zones-05_subnet_mask_matches.nft line 33: '&' after 'ip6 saddr' not understood",
    "openwrt-fw4/03_rules-01_direction.nft": None,
    "openwrt-fw4/03_rules-02_enabled.nft": None,
    "openwrt-fw4/03_rules-03_constraints.nft": "{dir}/openwrt-fw4/03_rules-03_constraints.nft line 44: 'ip dscp' not understood (in 'meta nfproto ip"
                                               'v4 ip dscp 0x0 counter comment "!fw4: DSCP match rule #1"\')',
    "openwrt-fw4/03_rules-04_icmp.nft": "{dir}/openwrt-fw4/03_rules-04_icmp.nft line 44: '. icmp' in a concatenation not understood",
    "openwrt-fw4/03_rules-05_mangle.nft": "{dir}/openwrt-fw4/03_rules-05_mangle.nft line 145: 'ip dscp' not understood (in 'meta nfproto ipv4 m"
                                          'eta l4proto tcp iifname { "eth0" , "eth1" } counter ip dsc...\')',
    "openwrt-fw4/03_rules-06_subnet_mask_matches.nft": "{dir}/openwrt-fw4/03_rules-06_subnet_mask_matches.nft line 56: '&' after 'ip6 saddr' not understood",
    "openwrt-fw4/03_rules-07_redirect.nft": None,
    "openwrt-fw4/03_rules-08_family_inheritance.nft": None,
    "openwrt-fw4/03_rules-09_time.nft": '{dir}/openwrt-fw4/03_rules-09_time.nft line 41: \'meta time\' not understood (in \'meta time > = "2022-'
                                        '05-30 21:51:23" counter accept comment "!fw4: Time rule #1"\')',
    "openwrt-fw4/03_rules-10_notrack.nft": "{dir}/openwrt-fw4/03_rules-10_notrack.nft line 166: 'notrack comment' not understood (in 'meta l4pro"
                                           'to tcp counter notrack comment "!fw4: Notrack rule #1"\')',
    "openwrt-fw4/03_rules-12_mark.nft": "{dir}/openwrt-fw4/03_rules-12_mark.nft line 93: 'meta mark' not understood (in 'counter meta mark se"
                                        't 0xaa comment "!fw4: Mark rule #1"\')',
    "openwrt-fw4/04_forwardings-01_family_selections.nft": None,
    "openwrt-fw4/05_ipsets-01_declaration.nft": "{dir}/openwrt-fw4/05_ipsets-01_declaration.nft line 12: 'size 1000' not understood in set test-set",
    "openwrt-fw4/05_ipsets-02_usage.nft": None,
    "openwrt-fw4/06_includes-02_firewall.user_include.nft": None,
    "nftables-tests/chains-0043chain_ingress_0.nft": None,
    "nftables-tests/chains-netdev_chain_0.nft": None,
    "nftables-tests/listing-0009ruleset_bridge_0.nft": None,
    "nftables-tests/listing-0015dynamic_0.nft": "{dir}/nftables-tests/listing-0015dynamic_0.nft line 4: 'size 100000' not understood in set test_set",
    "nftables-tests/maps-0010concat_map_0.nft": "{dir}/nftables-tests/maps-0010concat_map_0.nft line 3: map 'type ipv4_addr . inet_proto . inet_servi"
                                                "ce : ipv4_addr . inet_service' not understood (type KEY : ct_state|ct_status|fib_addrtype|ifname|ine"
                                                't_proto|inet_service|ipv4_addr|ipv6_addr|pkt_type|verdict)',
    "nftables-tests/maps-anonymous_snat_map_0.nft": "{dir}/nftables-tests/maps-anonymous_snat_map_0.nft line 3: snat without 'to ...' not understood",
    "nftables-tests/maps-different_map_types_1.nft": None,
    "nftables-tests/optimizations-merge_reject.nft": None,
    "nftables-tests/optimizations-merge_stmts_concat_vmap.nft": None,
    "nftables-tests/optimizations-not_mergeable.nft": "{dir}/nftables-tests/optimizations-not_mergeable.nft line 17: 'ip version' not understood (in 'ip ve"
                                                      "rsion vmap { 4 : jump t3 , 6 : jump t4 }')",
    "nftables-tests/optionals-comments_chain_0.nft": None,
    "nftables-tests/sets-0001named_interval_0.nft": None,
    "nftables-tests/sets-0008comments_interval_0.nft": ("{dir}/nftables-tests/sets-0008comments_interval_0.nft line 5: "
                                                        "value '1.1.1.1 comment \"test\"' not understood"),
    "nftables-tests/sets-0027ipv6_maps_ipv4_0.nft": None,
    "nftables-tests/sets-0043concatenated_ranges_1.nft": None,
    "nftables-tests/sets-0061anonymous_automerge_0.nft": None,
    "nftables-tests/sets-0065_icmp_postprocessing.nft": "{dir}/nftables-tests/sets-0065_icmp_postprocessing.nft line 4: 'icmp id' not understood (in 'icmp ty"
                                                        "pe { echo-reply , echo-request } icmp id 42')",
    "nftables-tests/sets-0069interval_merge_0.nft": None,
    "nftables-tests/sets-collapse_elem_0.nft": None,
    "nftables-tests/sets-sets_with_ifnames.nft": None,
    "nftables-tests/transactions-0049huge_0.nft": None,
    "debian-examples/nat.nft": "{dir}/debian-examples/nat.nft line 14: dnat without 'to ...' not understood",
    "debian-examples/ct_helpers.nft": "{dir}/debian-examples/ct_helpers.nft line 18: 'ct helper ftp-standard { type \"ftp\" "
                                      "protocol tcp ; l3proto inet }' not understood in table inet filter",
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
    """Items without metainfo, handles (the kernel numbers them per namespace) and devices (nft 1.0.6
    leaves a netdev chain's device out of -j: _devices), set elements unordered."""
    out = []
    for item in items:
        kind, body = next(iter(item.items()))
        if kind == "metainfo":
            continue
        out.append({kind: _unordered(dict((k, v) for k, v in body.items() if k not in ("handle", "dev")))})
    return out


def _devices(items):
    """{(family, table, chain): [devices]} of the chains of items that name their devices."""
    return dict(((c["family"], c["table"], c["name"]), [c["dev"]] if isinstance(c["dev"], str) else c["dev"])
                for c in (item["chain"] for item in items if "chain" in item) if "dev" in c)


def _packets():
    for src, port, proto, iface in itertools.product(SOURCES, PORTS, ("tcp", "udp"), ("eth0", "lo")):
        local = ("::1" if ":" in src else "127.0.0.1") if iface == "lo" else ("2001:db8::1" if ":" in src else "192.0.2.1")
        yield {"src": src, "dst": local, "proto": proto, "dport": port, "iface": iface}


def _verdicts(items, listing=""):
    firewall = {"tables": parse_nft_json(items, listing), "incomplete": [], "local_addresses": LOCAL}
    return [(p["src"], p["proto"], p["dport"], p["iface"], v["verdict"])
            for p, v in zip(_packets(), firewall_verdict(firewall, list(_packets())))]


def _kernel(path, cwd):
    """(``nft -j list ruleset``, ``nft -a list ruleset``) after ``nft -f PATH`` in a network namespace of
    its own (unshare --net: gone when nft exits)."""
    proc = subprocess.run(["unshare", "--net", "sh", "-c", 'nft -I "$1" -f "$2" && nft -j list ruleset && nft -a list ruleset',
                           "sh", os.path.dirname(path), path], capture_output=True, text=True, timeout=20, check=False, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    decoded, end = json.JSONDecoder().raw_decode(proc.stdout)
    return decoded["nftables"], proc.stdout[end:]


@needs_nft
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_parser_gives_what_nft_loads(tmp_path, name):
    root = _copy(tmp_path)
    path = os.path.join(root, name)
    kernel, listing = _kernel(path, os.path.dirname(path))  # every script of the corpus is valid nft
    if CASES[name] is not None:
        with pytest.raises(NftScriptError) as caught:
            parse_nft_script(path, _read, os.path.dirname(path), os.path.dirname(path))
        assert str(caught.value) == CASES[name].replace("{dir}", root)
        return
    items, meta, files = parse_nft_script(path, _read, os.path.dirname(path), os.path.dirname(path))  # nft -I and cwd as in _kernel
    assert _normalized(items) == _normalized(kernel)
    assert _devices(items) == rule_texts(listing)["devices"]
    assert _verdicts(items) == _verdicts(kernel, listing)
    assert len(meta) == sum(1 for item in items if "rule" in item)


def _script(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path / "nftables.conf")


@pytest.mark.parametrize("files, error", [
    ({"nftables.conf": "flush ruleset\ntable inet f {\n chain i {\n  type filter hook input priority 0;\n"
                       "  tcp option maxseg size 1460 accept\n }\n}\n"},
     "{d}/nftables.conf line 5: 'tcp option' not understood (in 'tcp option maxseg size 1460 accept')"),
    ({"nftables.conf": "include \"sub.nft\"\n", "sub.nft": "\n\ntable inet f {\n flowtable ft { hook ingress priority 0; }\n}\n"},
     "{d}/sub.nft line 4: 'flowtable ft { hook ingress priority 0 ; }' not understood in table inet f"),
    ({"nftables.conf": "table netdev f {\n chain i {\n  type filter hook ingress priority 0;\n }\n}\n"},
     "{d}/nftables.conf line 3: 'type filter hook ingress priority 0' not understood "
     "(type filter|nat|route hook ingress|egress [device D] priority P)"),
    ({"nftables.conf": "table bridge f {\n chain i {\n  type filter hook input priority 0;\n  ip saddr 192.0.2.9 drop\n }\n}\n"},
     "{d}/nftables.conf line 2: chain i of table bridge f at hook input filters frames arriving on bridge ports for the host, "
     "which is not evaluated"),
    ({"nftables.conf": "table arp f {\n chain i {\n  type filter hook input priority 0; policy drop;\n }\n}\n"},
     "{d}/nftables.conf line 2: chain i of table arp f at hook input filters ARP packets to the host, which is not evaluated"),
    ({"nftables.conf": "delete table inet f\n"},
     "{d}/nftables.conf line 1: 'delete table inet f': there is no table inet f to delete (nft refuses to load the script)"),
    ({"nftables.conf": "table inet f {\n chain i {\n  tcp dport vmap { 22 : jump nowhere }\n }\n}\n"},
     "{d}/nftables.conf line 3: jump to chain nowhere, which is not defined in table inet f"),
    ({"nftables.conf": "table inet f {\n set s { type inet_service; }\n chain i {\n  tcp dport vmap @s\n }\n}\n"},
     "{d}/nftables.conf line 4: @s is not a verdict map"),
    ({"nftables.conf": "table inet f {\n map m { type inet_service : verdict; elements = { 22 : goto gone } }\n}\n"},
     "{d}/nftables.conf line 2: goto to chain gone, which is not defined in table inet f"),
    ({"nftables.conf": "table inet f {\n set s { type ipv4_addr . inet_service; elements = { 192.0.2.1 } }\n}\n"},
     "{d}/nftables.conf line 2: value '192.0.2.1' not understood (a concatenation of 2 values)"),
    ({"nftables.conf": "table inet f {\n map m { type inet_service : counter; }\n}\n"},
     "{d}/nftables.conf line 2: map 'type inet_service : counter' not understood (type KEY : ct_state|ct_status|fib_addrtype|"
     "ifname|inet_proto|inet_service|ipv4_addr|ipv6_addr|pkt_type|verdict)"),
    ({"nftables.conf": "table inet f {\n chain i {\n  limit rate 10/fortnight accept\n }\n}\n"},
     "{d}/nftables.conf line 3: limit 'rate 10/fortnight accept' not understood (limit rate [over] N/second|minute|hour|day|week)"),
    ({"nftables.conf": "table inet f {\n chain i {\n  limit rate 1 mbytes/second burst 2 mbytes accept\n }\n}\n"},
     "{d}/nftables.conf line 3: a burst of a byte rate limit not understood"),
    ({"nftables.conf": "table inet f {\n chain i {\n  tcp flags & (syn|ack) != 0 accept\n }\n}\n"},
     "{d}/nftables.conf line 3: 'tcp flags & (syn|ack) != 0' not understood"),
    ({"nftables.conf": "table inet f {\n chain i {\n  ct state establish accept\n }\n}\n"},
     "{d}/nftables.conf line 3: establish is not a ct state value (invalid, established, related, new, untracked)"),
    ({"nftables.conf": "table inet f {\n chain i {\n  ip saddr . tcp flags { 192.0.2.1 . syn } accept\n }\n}\n"},
     "{d}/nftables.conf line 3: '. tcp' in a concatenation not understood"),
    ({"nftables.conf": "table inet f {\n chain i {\n  fib saddr . daddr oif missing drop\n }\n}\n"},
     "{d}/nftables.conf line 3: fib 'saddr . daddr oif' not understood (fib saddr|daddr [. mark] [. iif|oif] type|oif)"),
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
    ({"nftables.conf": "table decnet f {\n}\n"},
     "{d}/nftables.conf line 1: 'table decnet f {' not understood (families: inet, ip, ip6, netdev, bridge, arp)"),
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


def test_a_limit_netdev_ingress_and_bridge_chains_as_for_the_running_ruleset(tmp_path):
    """limit: accepted under the stated assumption that the rate is not reached (never a plain pass);
    a netdev ingress chain filters its device only; a bridge forward chain never sees a packet to the host."""
    path = _script(tmp_path, {"nftables.conf": "table inet f {\n chain i {\n  type filter hook input priority 0; policy drop;\n"
                                               "  tcp dport 22 limit rate 10/second accept\n  tcp dport 80 accept\n }\n}\n"
                                               "table netdev n {\n chain lo_in {\n  type filter hook ingress device lo priority 0;\n"
                                               "  ip saddr 203.0.113.9 tcp dport 80 drop\n }\n}\n"
                                               "table bridge b {\n chain fw {\n  type filter hook forward priority 0;\n  drop\n }\n}\n"})
    items, meta, files = parse_nft_script(path, _read, str(tmp_path))
    assert [item["chain"].get("dev") for item in items if "chain" in item] == [None, "lo", None]
    firewall = {"tables": parse_nft_json(items), "incomplete": [], "local_addresses": LOCAL}
    packets = [{"src": src, "dst": "127.0.0.1" if iface == "lo" else "192.0.2.1", "proto": "tcp", "dport": port, "iface": iface}
               for src in ("192.0.2.2", "203.0.113.9") for port in (22, 80) for iface in ("eth0", "lo")]
    results = firewall_verdict(firewall, packets)
    assert [(p["src"], p["dport"], p["iface"], r["verdict"]) for p, r in zip(packets, results)] == [
        ("192.0.2.2", 22, "eth0", "accept"), ("192.0.2.2", 22, "lo", "accept"),
        ("192.0.2.2", 80, "eth0", "accept"), ("192.0.2.2", 80, "lo", "accept"),
        ("203.0.113.9", 22, "eth0", "accept"), ("203.0.113.9", 22, "lo", "accept"),
        ("203.0.113.9", 80, "eth0", "accept"), ("203.0.113.9", 80, "lo", "drop")]
    assert [r.get("assumptions") for p, r in zip(packets, results) if p["dport"] == 22] == \
        [["rate limits are not reached (the source is not flooding)"]] * 4
    assert [r.get("assumptions") or [] for p, r in zip(packets, results) if p["dport"] == 80] == [[]] * 4


def test_an_include_beginning_with_a_dot_is_read_from_the_working_directory(tmp_path):
    """nft opens ./FILE and ../FILE from its working directory (/ for nftables.service), not its include path."""
    (tmp_path / "cwd").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "cwd" / "rules.nft").write_text("table ip from_cwd {\n}\n")
    (tmp_path / "etc" / "rules.nft").write_text("table ip from_etc {\n}\n")
    path = _script(tmp_path, {"nftables.conf": "include \"./rules.nft\"\ninclude \"rules.nft\"\n"})
    items, meta, files = parse_nft_script(path, _read, str(tmp_path / "etc"), str(tmp_path / "cwd"))
    assert [item["table"]["name"] for item in items] == ["from_cwd", "from_etc"]
    assert files == [path, str(tmp_path / "cwd" / "rules.nft"), str(tmp_path / "etc" / "rules.nft")]


def test_fw4_style_declarations_scoped_defines_and_includes_inside_blocks(tmp_path):
    """table inet fw4 + flush table (a still empty table), a define that holds to its table's end,
    an include spliced in where it stands inside a chain, anonymous interval sets merged as nft does."""
    path = _script(tmp_path, {"nftables.conf": "table inet fw4\nflush table inet fw4\ntable inet fw4 {\n define lan = { 192.0.2.0/25 }\n"
                                               " chain input {\n  type filter hook input priority filter; policy drop;\n"
                                               "  include \"rules.nft\"\n  ip saddr $lan accept\n }\n}\n"
                                               "table inet other {\n define lan = { 192.0.2.128/25, 192.0.2.0/25 }\n chain c {\n"
                                               "  ip saddr $lan accept\n }\n}\n",
                              "rules.nft": "tcp dport 22 accept\n"})
    items, meta, files = parse_nft_script(path, _read, str(tmp_path))
    assert [item["rule"]["expr"][0]["match"]["right"] for item in items if "rule" in item] == [
        22, {"prefix": {"addr": "192.0.2.0", "len": 25}}, {"set": [{"prefix": {"addr": "192.0.2.0", "len": 24}}]}]
    assert [(m["where"], m["text"]) for m in meta] == [("%s/rules.nft line 1" % tmp_path, "tcp dport 22 accept"),
                                                       ("%s line 8" % path, "ip saddr { 192.0.2.0/25 } accept"),
                                                       ("%s line 14" % path, "ip saddr { 192.0.2.128/25, 192.0.2.0/25 } accept")]
    assert files == [path, str(tmp_path / "rules.nft")]


@pytest.mark.parametrize("text, error", [
    ("table inet f {\n chain c {\n  accept\n }\n}\nflush table inet f\n",
     "{d}/nftables.conf line 6: 'flush table inet f' of a table that has rules or elements already is not understood"),
    ("flush table inet f\n", "{d}/nftables.conf line 1: 'flush table inet f': there is no table inet f to flush (nft refuses to load the script)"),
    ("table inet f {\n define x = 1\n}\ntable inet g {\n chain c {\n  tcp dport $x accept\n }\n}\n", "{d}/nftables.conf line 6: $x is not defined"),
])
def test_flush_table_and_defines_out_of_scope(tmp_path, text, error):
    path = _script(tmp_path, {"nftables.conf": text})
    with pytest.raises(NftScriptError) as caught:
        parse_nft_script(path, _read, str(tmp_path))
    assert str(caught.value) == error.replace("{d}", str(tmp_path))


def test_destroy_and_delete_table(tmp_path):
    """destroy table removes a table and passes over a missing one (nft 1.0.8 and later); delete removes it."""
    path = _script(tmp_path, {"nftables.conf": "destroy table inet gone\ntable inet a {\n}\ntable ip b {\n}\ntable ip c {\n}\n"
                                               "destroy table inet a\ndelete table b\n"})
    items, meta, files = parse_nft_script(path, _read, str(tmp_path))
    assert _normalized(items) == [{"table": {"family": "ip", "name": "c"}}]
