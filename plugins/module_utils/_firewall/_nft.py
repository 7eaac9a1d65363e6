# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Parse ``nft -j list ruleset`` into the normalized firewall model (docs/firewall-model.md).

Named sets and maps are resolved by content into the matches that use them. Implicit
dependencies that nft hides when listing (``tcp dport`` implies ``meta l4proto tcp``; ``ip saddr``
in an inet table implies IPv4) are written out as matches. Expressions that cannot be evaluated
statically become ``{"key": "unsupported"}`` matches or ``unsupported`` verdicts.
"""

from __future__ import annotations

import json
import re
from typing import Any, Collection, Dict, List, Optional, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import PROTO_NUMBERS

_L4 = ("tcp", "udp", "udplite", "sctp", "dccp")
_L4_NUMBERS = {"6": "tcp", "17": "udp", "136": "udplite", "132": "sctp", "33": "dccp"}
_MULTI_FAMILY = ("inet", "netdev", "bridge")
_PORT_FIELDS = {"dport": "dport", "sport": "sport"}
_META_KEYS = {
    "iifname": "iifname", "oifname": "oifname", "iif": "iifname", "oif": "oifname",
    "l4proto": "l4proto", "nfproto": "nfproto", "mark": "mark", "pkttype": "pkttype",
}
_CT_KEYS = {"state": "ct_state", "status": "ct_status", "mark": "ct_mark", "direction": "ct_direction"}
_NAT_KINDS = ("snat", "masquerade")
Json = Dict[str, Any]
Sets = Dict[str, List[Any]]  # named set or map -> its elements
Handles = Dict[Tuple[Any, Any], Tuple[int, Dict[Any, int]]]  # (family, table) -> (table handle, {chain: handle})
_BITWISE = {"|": "or", "^": "xor", "&": "and"}
_HANDLE = re.compile(r"^(.*?)\s+# handle (\d+)$")
_DEVICES = re.compile(r'devices? = \{ ?([^}]*?) ?\}|device ("?[^ ;]+"?)')


class NftParseError(ValueError):
    """nft JSON that does not have the expected shape; the message names where."""


class _Unsupported(Exception):
    """An expression the model cannot evaluate; carried up to become an unsupported match."""


def _value(right: Any, sets: Sets) -> List[Any]:
    """Right-hand side -> list of normalized values (strings, ints, "a-b" ranges, CIDRs, lists)."""
    if isinstance(right, str) and right.startswith("@"):
        name = right[1:]
        if name not in sets:
            raise _Unsupported("set %s is not in the ruleset" % name)
        return sets[name]
    if isinstance(right, dict):
        if "set" in right:
            out: List[Any] = []
            for item in right["set"]:
                out.extend(_value(item, sets))
            return out
        if "elem" in right:
            return _value(right["elem"]["val"], sets)
        if "prefix" in right:
            return ["%s/%d" % (right["prefix"]["addr"], right["prefix"]["len"])]
        if "range" in right:
            low, high = right["range"]
            return ["%s-%s" % (_scalar(low), _scalar(high))]
        if "concat" in right:
            return [[_one(item, sets) for item in right["concat"]]]
        raise _Unsupported("value %s is not understood" % json.dumps(right, sort_keys=True))
    if isinstance(right, list):
        return [_scalar(item) for item in right]
    return [_scalar(right)]


def _one(item: Any, sets: Sets) -> Any:
    values = _value(item, sets)
    if len(values) != 1:
        raise _Unsupported("concatenation element %s is not a single value" % json.dumps(item))
    return values[0]


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, dict):
        raise _Unsupported("value %s is not understood" % json.dumps(value, sort_keys=True))
    return value


def _selector(left: Json, family: str) -> Tuple[str, List[Json], Json]:
    """Left-hand side -> (key, implied matches, extra fields)."""
    if "payload" in left:
        pl = left["payload"]
        proto, field = pl.get("protocol"), pl.get("field")
        if proto in ("ip", "ip6") and field in ("saddr", "daddr"):
            deps = [_eq("nfproto", ["ipv4" if proto == "ip" else "ipv6"])] if family in _MULTI_FAMILY else []
            return field, deps, {}
        if proto in ("ip", "ip6") and field in ("protocol", "nexthdr"):
            deps = [_eq("nfproto", ["ipv4" if proto == "ip" else "ipv6"])] if family in _MULTI_FAMILY else []
            return "l4proto", deps, {}
        if proto in _L4 and field in _PORT_FIELDS:
            return _PORT_FIELDS[field], [_eq("l4proto", [proto])], {}
        if proto == "th" and field in _PORT_FIELDS:
            return _PORT_FIELDS[field], [_eq("l4proto", list(_L4))], {}
        if proto == "tcp" and field == "flags":
            return "tcp_flags", [_eq("l4proto", ["tcp"])], {}
        if proto == "icmp" and field == "type":
            return "icmp_type", [_eq("l4proto", ["icmp"])], {}
        if proto == "icmpv6" and field == "type":
            return "icmpv6_type", [_eq("l4proto", ["ipv6-icmp"])], {}
        if proto in ("icmp", "icmpv6") and field == "code":
            return proto + "_code", [_eq("l4proto", ["icmp" if proto == "icmp" else "ipv6-icmp"])], {}
        raise _Unsupported("payload %s %s is not evaluated" % (proto, field or "raw"))
    if "meta" in left:
        key = left["meta"]["key"]
        if key in _META_KEYS:
            return _META_KEYS[key], [], {}
        if key == "protocol":
            return "ethertype", [], {}
        if key == "secpath":
            return "ipsec", [], {}
        raise _Unsupported("meta %s is not evaluated" % key)
    if "ct" in left:
        key, direction = left["ct"]["key"], left["ct"].get("dir")
        if direction is None and key in _CT_KEYS:
            return _CT_KEYS[key], [], {}
        if direction == "original" and key in ("daddr", "ip daddr", "ip6 daddr"):
            return "ct_original_daddr", [], {}
        if direction == "original" and key == "proto-dst":
            return "ct_original_dport", [], {}
        if key == "l3proto":
            return "nfproto", [], {}
        if key == "protocol":
            return "l4proto", [], {}
        raise _Unsupported("ct %s%s is not evaluated" % (direction + " " if direction else "", key))
    if "fib" in left:
        fib = left["fib"]
        flags = sorted(fib.get("flags", []))
        if fib.get("result") == "type" and flags in (["daddr"], ["daddr", "iif"], ["daddr", "oif"]):
            extra: Json = {"iface": "in"} if "iif" in flags else ({"iface": "out"} if "oif" in flags else {})
            return "daddr_type", [], extra
        if fib.get("result") == "type" and flags == ["saddr"]:
            return "saddr_type", [], {}
        if fib.get("result") == "oif" and "saddr" in flags and "iif" in flags:
            return "rpfilter", [], {}
        if fib.get("result") == "oif" and flags in (["saddr"], ["mark", "saddr"]):
            return "rpfilter", [], {"loose": True}  # fib saddr oif missing: no route back at all
        raise _Unsupported("fib %s %s is not evaluated" % (",".join(flags), fib.get("result")))
    if "&" in left:
        inner, mask = left["&"]
        key, deps, extra = _selector(inner, family)
        if key in ("mark", "ct_mark") and isinstance(mask, int):
            extra = dict(extra, mask=mask)
            return key, deps, extra
        if key == "tcp_flags":
            return key, deps, dict(extra, mask=mask if isinstance(mask, list) else [mask])
        if key in ("ct_state", "ct_status"):
            return key, deps, dict(extra, bitmask=mask if isinstance(mask, list) else [mask])
        raise _Unsupported("bitwise expression on %s is not evaluated" % key)
    if "concat" in left:
        keys, deps = [], []
        for item in left["concat"]:
            key, item_deps, extra = _selector(item, family)
            if extra:
                raise _Unsupported("%s inside a concatenation is not evaluated" % key)
            keys.append(key)
            deps.extend(item_deps)
        return "concat", deps, {"keys": keys}
    raise _Unsupported("expression %s is not evaluated" % json.dumps(left, sort_keys=True))


def _eq(key: str, values: List[Any]) -> Json:
    return {"key": key, "op": "eq", "values": values}


def _ports_from_cmp(op: str, value: int) -> List[str]:
    if op == "<":
        return ["0-%d" % (value - 1)]
    if op == "<=":
        return ["0-%d" % value]
    if op == ">":
        return ["%d-65535" % (value + 1)]
    return ["%d-65535" % value]


def _normalize(key: str, values: List[Any]) -> List[Any]:
    if key in ("l4proto",):
        return [_L4_NUMBERS.get(str(v), PROTO_NUMBERS.get(str(v), v)) for v in values]
    return values


def _match(expr: Json, family: str, sets: Sets) -> List[Json]:
    """One ``match`` expression -> list of model matches."""
    op, left, right = expr["op"], expr["left"], expr["right"]
    key, deps, extra = _selector(left, family)
    if key == "rpfilter":
        # fib saddr . iif oif missing (right false) matches packets that fail the check.
        return deps + [dict(_eq("rpfilter", ["pass" if right else "fail"] if op in ("==", "in") else ["fail" if right else "pass"]),
                            **extra)]
    if key == "ipsec":
        return deps + [_eq("ipsec", ["ipsec" if right else "none"] if op in ("==", "in") else ["none" if right else "ipsec"])]
    if op in ("<", ">", "<=", ">="):
        if key not in ("dport", "sport", "ct_original_dport") or not isinstance(right, int):
            raise _Unsupported("comparison %s on %s is not evaluated" % (op, key))
        return deps + [dict({"key": key, "op": "eq", "values": _ports_from_cmp(op, right)}, **extra)]
    if op not in ("==", "!=", "in"):
        raise _Unsupported("operator %s is not evaluated" % op)
    if key == "tcp_flags":
        comp = right if isinstance(right, list) else ([] if right in (0, "0") else [right])
        extra = dict(extra, mask=extra.get("mask") or comp)
        values = [comp]
    elif key in ("ct_state", "ct_status") and "bitmask" in extra:
        # ct state & (established | related) != 0 and friends.
        if right not in (0, "0"):
            raise _Unsupported("bitwise ct comparison with %s is not evaluated" % json.dumps(right))
        values = extra.pop("bitmask")
        op = "==" if op == "!=" else "!="
    else:
        values = _normalize(key, _value(right, sets))
    item: Json = {"key": key, "op": "ne" if op == "!=" else "eq", "values": values}
    item.update(extra)
    if isinstance(right, str) and right.startswith("@"):
        item["set"] = right[1:]
    return deps + [item]


def _verdict_of(stmt: Json) -> Optional[Json]:
    """A verdict statement as the model's verdict dict, or None if stmt is not a verdict."""
    for kind in ("accept", "drop", "return"):
        if kind in stmt:
            return {"kind": kind}
    if "continue" in stmt:
        return {"kind": "continue"}
    for kind in ("jump", "goto"):
        if kind in stmt:
            if not isinstance(stmt[kind]["target"], str):
                raise _Unsupported("%s to %s is not understood" % (kind, json.dumps(stmt[kind]["target"])))
            return {"kind": kind, "chain": stmt[kind]["target"]}
    if "reject" in stmt:
        detail = stmt["reject"] or {}
        return {"kind": "reject", "with": detail.get("expr")}
    return None


def _nat_value(value: Any) -> Union[None, int, str]:
    if value is None:
        return None
    if isinstance(value, (int, str)):
        return value
    if isinstance(value, dict) and "range" in value:
        return "%s-%s" % tuple(value["range"])
    raise _Unsupported("NAT target %s is not evaluated" % json.dumps(value, sort_keys=True))


def _statement(stmt: Json, family: str, sets: Sets, rule: Json) -> None:
    """Apply one non-match statement to rule (statements list / verdict)."""
    verdict = _verdict_of(stmt)
    if verdict is not None:
        rule["verdict"] = None if verdict["kind"] == "continue" else verdict
        return
    kind = next(iter(stmt))
    body = stmt[kind]
    if kind in ("counter", "log"):
        rule["statements"].append({"kind": kind})
    elif kind == "limit":
        rule["match"].append({"key": "limit", "op": "over" if body.get("inv") else "under", "text": json.dumps(body, sort_keys=True)})
    elif kind == "quota":
        rule["match"].append({"key": "limit", "op": "over" if body.get("inv") else "under", "text": "quota"})
    elif kind == "vmap":
        keys, deps, extra = _map_key(body["key"], family)
        pairs = _map_data(body["data"], sets)
        rule["match"].extend(deps)
        rule["verdict"] = dict({"kind": "vmap", "keys": keys, "map": pairs}, **extra)
    elif kind == "mangle":
        target = body["key"]
        tkey = "mark" if target == {"meta": {"key": "mark"}} else ("ct_mark" if target == {"ct": {"key": "mark"}} else None)
        value = body["value"]
        op = next(iter(value), None) if isinstance(value, dict) and len(value) == 1 else None
        if tkey and op in _BITWISE and isinstance(value[op], list) and len(value[op]) == 2 and value[op][0] == target \
                and isinstance(value[op][1], int):
            # meta mark set meta mark or 0x4000 (kube-proxy's masquerade mark), xor, and.
            rule["statements"].append({"kind": "set", "key": tkey, "value": value[op][1], "mask": 0, "mode": _BITWISE[op]})
        elif tkey and isinstance(value, int):
            rule["statements"].append({"kind": "set", "key": tkey, "value": value, "mask": 0xFFFFFFFF, "mode": "set"})
        elif tkey == "ct_mark" and value == {"meta": {"key": "mark"}}:
            rule["statements"].append({"kind": "copy", "from": "mark", "to": "ct_mark"})
        elif tkey == "mark" and value == {"ct": {"key": "mark"}}:
            rule["statements"].append({"kind": "copy", "from": "ct_mark", "to": "mark"})
        elif tkey:
            rule["statements"].append({"kind": "unsupported", "name": "%s set" % tkey,
                                       "reason": "%s set to %s is not evaluated" % (tkey, json.dumps(value, sort_keys=True))})
        else:
            rule["statements"].append({"kind": "other", "name": "mangle"})
    elif kind == "dnat":
        addr = body.get("addr")
        if isinstance(addr, dict) and "map" in addr:
            # dnat to ip daddr . tcp dport map @m / numgen random mod 2 map { 0 : a, 1 : b }: the
            # map gives the address, or the address and port (a concatenation).
            keys, deps, extra = _map_key(addr["map"]["key"], family)
            pairs = _map_data(addr["map"]["data"], sets, verdicts=False)
            rule["match"].extend(deps)
            rule["verdict"] = {"kind": "dnat", "addr": None, "port": _nat_value(body.get("port")),
                               "map": dict({"keys": keys, "elements": pairs}, **extra)}
        else:
            rule["verdict"] = {"kind": "dnat", "addr": _nat_value(addr), "port": _nat_value(body.get("port"))}
    elif kind == "redirect":
        rule["verdict"] = {"kind": "redirect", "port": _nat_value((body or {}).get("port"))}
    elif kind in _NAT_KINDS:
        rule["verdict"] = {"kind": kind}
    elif kind == "notrack":
        rule["statements"].append({"kind": "notrack"})
    elif kind in ("ct helper", "ct timeout", "ct expectation", "set", "dup", "secmark", "ct zone"):
        rule["statements"].append({"kind": "other", "name": kind})
    elif kind == "queue":
        rule["verdict"] = {"kind": "unsupported", "name": "queue", "reason": "queue hands the packet to a userspace program"}
    elif kind == "xt":
        what = (body or {}).get("name", "?")
        reason = "iptables extension %s (xt compat expression): read this table with iptables-save" % what
        if (body or {}).get("type") == "target":
            rule["verdict"] = {"kind": "unsupported", "name": what, "reason": reason}
        else:
            rule["match"].append({"key": "unsupported", "text": "xt %s" % what, "reason": reason})
    else:
        raise _Unsupported("statement %s is not evaluated" % kind)


def _map_key(expr: Any, family: str) -> Tuple[List[str], List[Json], Json]:
    """(keys, implied matches, extra) of a map lookup's key: one selector, a concatenation, or a
    random/hash number (numgen, jhash, symhash: key "random" with its modulus and offset)."""
    for gen in ("numgen", "jhash", "symhash"):
        if isinstance(expr, dict) and gen in expr:
            body = expr[gen] or {}
            if not isinstance(body.get("mod"), int) or body["mod"] < 1:
                raise _Unsupported("%s without a modulus is not evaluated" % gen)
            how = "%s %s" % (gen, body.get("mode", "random")) if gen == "numgen" else gen
            return ["random"], [], {"mod": body["mod"], "offset": body.get("offset") or 0, "source": how}
    key, deps, extra = _selector(expr, family)
    if key == "concat":
        return extra["keys"], deps, {}
    if extra:
        raise _Unsupported("map lookup on %s with %s is not evaluated" % (key, ", ".join(sorted(extra))))
    return [key], deps, {}


def _map_data(data: Any, sets: Sets, verdicts: bool = True) -> List[Any]:
    """[key, value] pairs of a map lookup's data: a named map (@name) or an anonymous one."""
    if isinstance(data, str) and data.startswith("@"):
        if data[1:] not in sets:
            raise _Unsupported("map %s is not in the ruleset" % data[1:])
        pairs = sets[data[1:]]
        if pairs and not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise _Unsupported("%s is a set, not a map" % data[1:])
        return pairs
    if not isinstance(data, dict) or "set" not in data:
        raise _Unsupported("map data %s is not understood" % json.dumps(data, sort_keys=True)[:200])
    return [_map_pair(item, sets, verdicts) for item in data["set"]]


def _map_pair(item: List[Any], sets: Sets, verdicts: bool = True) -> List[Any]:
    """One map element -> [key, value]: key a value or a list (concatenation); value a verdict
    dict (verdict maps) or an address / [address, port] (data maps)."""
    key, value = item
    out: Any
    if verdicts:
        out = _verdict_of(value)
        if out is None:
            raise _Unsupported("map value %s is not a verdict" % json.dumps(value, sort_keys=True))
    else:
        out = _one(value, sets)
    keys = _value(key, sets)
    return [keys[0], out] if len(keys) == 1 else [keys, out]


def _rule(body: Json, family: str, sets: Sets, text: str) -> Json:
    rule: Json = {"index": None, "handle": body.get("handle"), "text": text, "comment": body.get("comment"),
                  "match": [], "statements": [], "verdict": None}
    for expr in body.get("expr", []):
        try:
            if "match" in expr:
                rule["match"].extend(_match(expr["match"], family, sets))
            else:
                _statement(expr, family, sets, rule)
        except _Unsupported as exc:
            if "match" in expr:
                # An unmodelled match: the rule may or may not match; its verdict (later in the
                # rule) is still read, so the walk forks on it instead of skipping the rule.
                rule["match"].append({"key": "unsupported", "text": text, "reason": str(exc)})
                continue
            # An unmodelled statement: what the rule does when it matches is unknown (it may be a
            # verdict, a NAT binding or a map dispatch), whatever follows it.
            rule["verdict"] = {"kind": "unsupported", "name": next(iter(expr), "?"), "reason": str(exc)}
            break
    return rule


def _set_contents(body: Json, sets_json: Sets) -> List[Any]:
    """Elements of a set/map: list of values (sets) or [key, verdict] pairs (verdict maps)."""
    out: List[Any] = []
    for elem in body.get("elem", []):
        if body.get("map") is not None:
            out.append(_map_pair(elem, sets_json, body["map"] == "verdict"))
        else:
            out.extend(_value(elem, sets_json))
    return out


def rule_texts(listing: str) -> Dict[Any, Any]:
    """{(family, table, chain, handle): rule text} from ``nft -a list ruleset`` output.

    Also {(family, table, chain): [devices]} under the key "devices": nft 1.0.x leaves the
    device of netdev ingress chains out of its JSON.
    """
    texts: Dict[Any, Any] = {"devices": {}}
    family: Optional[str] = None
    table: Optional[str] = None
    chain: Optional[str] = None
    for raw in listing.splitlines():
        line = raw.strip()
        if line.startswith("table "):
            family, table = (line.split()[1:3] + [None, None])[:2]  # a cut "table inet" names no table
        elif line.startswith("chain "):
            chain = line.split()[1]
        elif line.startswith("type ") and chain and (" device " in line or " devices = " in line):
            m = _DEVICES.search(line)
            if m:
                texts["devices"][(family, table, chain)] = [d.strip().strip('"') for d in (m.group(1) or m.group(2)).split(",")]
        else:
            m = _HANDLE.match(line)
            if m and chain and not line.startswith(("type ", "set ", "map ", "elements")):
                texts[(family, table, chain, int(m.group(2)))] = m.group(1)
        if line == "}" and raw.startswith("\t}"):
            chain = None
    return texts


def _items(text: Union[str, List[Any]]) -> List[Any]:
    """The "nftables" list of ``nft -j`` output (text), or ``text`` itself when it is a list."""
    if isinstance(text, list):
        return text
    try:
        items = json.loads(text)["nftables"]
    except (ValueError, KeyError, TypeError) as exc:
        raise NftParseError("nft -j list ruleset: not the expected JSON: %s" % exc)
    if not isinstance(items, list):
        raise NftParseError("nft -j list ruleset: not the expected JSON: \"nftables\" is not a list")
    return items


def _item(item: Any) -> Tuple[str, Json]:
    """(kind, body) of one item of the "nftables" list: ``{"table": {...}}`` and the like."""
    body = next(iter(item.values()), None) if isinstance(item, dict) and len(item) == 1 else None
    if not isinstance(body, dict) or any(not isinstance(body.get(key, ""), (str, int)) for key in ("family", "table", "name", "chain")):
        raise NftParseError("nft -j list ruleset: unexpected item %s" % json.dumps(item)[:200])
    return next(iter(item.items()))


def nft_handles(text: Union[str, List[Any]]) -> Handles:
    """{(family, table): (table handle, {chain: chain handle})} of ``nft -j list ruleset``.

    Table handles count up per network namespace and chain handles per table, in creation order:
    the order in which the kernel registered the base chains' hooks (it runs, among chains of
    equal priority, the one registered last first). Tables of iptables-nft are included.
    """
    items = _items(text)
    handles: Handles = {}
    for item in items:
        _item(item)
        body = item.get("table")
        if body is not None and isinstance(body.get("handle"), int):
            handles[(body.get("family"), body.get("name"))] = (body["handle"], {})
        body = item.get("chain")
        if body is not None and isinstance(body.get("handle"), int) and (body.get("family"), body.get("table")) in handles:
            handles[(body["family"], body["table"])][1][body.get("name")] = body["handle"]
    return handles


def parse_nft_json(text: Union[str, List[Any]], listing: str = "", skip: Collection[Tuple[str, str]] = ()) -> List[Json]:
    """Tables of ``nft -j list ruleset``, leaving out (family, name) pairs in ``skip``.

    ``text`` may also be the items already decoded (the "nftables" lists of several
    ``nft -j list table`` outputs joined).
    """
    items = _items(text)
    texts = rule_texts(listing) if listing else {}
    tables: List[Json] = []
    index: Dict[Tuple[Any, Any], Json] = {}
    sets: Dict[Tuple[Any, Any], Sets] = {}
    skipped = set(skip)
    for item in items:
        kind, body = _item(item)
        if kind == "metainfo":
            continue
        where = (body.get("family"), body.get("table", body.get("name")))
        if where in skipped:
            continue
        try:
            if kind == "table":
                table: Json = {"source": "nftables", "family": body["family"], "name": body["name"], "chains": [], "sets": {}}
                tables.append(table)
                index[where] = {"table": table, "chains": {}}
                sets[where] = {}
            elif kind in ("set", "map"):
                try:
                    contents = _set_contents(body, sets[where])
                except _Unsupported as exc:
                    contents = None
                    index[where]["table"]["sets"][body["name"]] = {"type": body.get("type"), "unsupported": str(exc)}
                if contents is not None:
                    sets[where][body["name"]] = contents
                    entry: Json = {"type": body.get("type"), "elements": contents}
                    if body.get("map") is not None:
                        entry["map"] = body["map"]
                    index[where]["table"]["sets"][body["name"]] = entry
            elif kind == "chain":
                device = body.get("dev")
                if device is None and body.get("hook") in ("ingress", "egress"):
                    device = texts.get("devices", {}).get((body["family"], body["table"], body["name"]), "unknown")
                chain: Json = {"name": body["name"], "hook": body.get("hook"), "type": body.get("type"),
                               "priority": body.get("prio"), "policy": body.get("policy"),
                               "device": [device] if isinstance(device, str) and device != "unknown" else device,
                               "rules": []}
                if chain["hook"] and chain["policy"] is None:
                    chain["policy"] = "accept"
                index[where]["table"]["chains"].append(chain)
                index[where]["chains"][body["name"]] = chain
            elif kind == "rule":
                chain = index[where]["chains"][body["chain"]]
                key = (body["family"], body["table"], body["chain"], body.get("handle"))
                rule = _rule(body, body["family"], sets[where], texts.get(key, "handle %s" % body.get("handle")))
                rule["index"] = len(chain["rules"]) + 1
                chain["rules"].append(rule)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError, StopIteration) as exc:
            raise NftParseError("nft -j list ruleset: %s %s: unexpected shape (%s)" % (kind, json.dumps(body)[:200], exc))
    return tables
