# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Gather the host's firewall into the normalized model (docs/firewall-model.md).

``gather_firewall(module)`` reads iptables (nft and legacy backends, IPv4 and IPv6), native
nftables, the ipsets the rules use, the host's addresses and forwarding switches, and recognises
the managers that wrote the rules (ufw, firewalld, Docker, netavark).

Tables of iptables-nft appear both in ``iptables-nft-save`` and in ``nft list ruleset`` (with
opaque xt compat expressions there). They are read from ``iptables-nft-save`` only; every other
nft table is read from nft (``nft -j list ruleset`` when there is no iptables-nft table, else
``nft -j list table`` for each native one). A table iptables-nft-save calls incompatible
(written natively by nft under an iptables table name) is read from nft.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run
from ansible_collections.portproof.validate.plugins.module_utils._files import read_text
from ansible_collections.portproof.validate.plugins.module_utils._firewall._ipset import parse_ipset_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import IptablesParseError, parse_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft import Handles, NftParseError, nft_handles, parse_nft_json
from ansible_collections.portproof.validate.plugins.module_utils._firewall._local_routes import gather_local_routes

SUBSET = "firewall"
Json = Dict[str, Any]
_FILTER_HOOKS = ("input", "forward", "output")
_FAMILIES = {"ipv4": ("ip", "inet"), "ipv6": ("ip6", "inet")}
_TOOLS = ("nft", "iptables-save", "ip6tables-save", "iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save",
          "ip6tables-legacy-save")


class _Reader(object):
    """Runs the read-only commands and collects what could not be read."""

    def __init__(self, module: Any, limits: Optional[Limits] = None) -> None:
        self.module = module
        self.limits = limits or Limits()
        self.unavailable: List[Dict[str, str]] = []
        self.incomplete: List[str] = []

    def missing(self, tool: str, reason: str) -> None:
        self.unavailable.append({"subset": SUBSET, "tool": tool, "reason": reason})

    def run(self, tool: str, argv: List[str], needed: bool = True) -> Optional[str]:
        """stdout of argv, or None (recorded as unavailable; as incomplete when needed)."""
        try:
            rc, out, err = run(self.module, argv, self.limits)
        except CommandTimeout as exc:
            reason = exc.describe()
            self.missing(tool, reason)
            if needed:
                self.incomplete.append(reason)
            return None
        if rc != 0:
            reason = "%s exited with %d: %s" % (" ".join(argv), rc, (err or out or "").strip()[:500])
            if "ermission denied" in reason or "not permitted" in reason:
                reason += _permission_hint()
            self.missing(tool, reason)
            if needed:
                self.incomplete.append(reason)
            return None
        return out


CAP_NET_ADMIN = 12


def _permission_hint(status: str = "/proc/self/status") -> str:
    """Why reading the firewall was refused: not root, or root without CAP_NET_ADMIN (a container,
    a unit with CapabilityBoundingSet=, capsh --drop)."""
    if os.geteuid() != 0:
        return " (reading the firewall needs root)"
    try:
        for line in read_text(status).splitlines():
            if line.startswith("CapEff:") and not int(line.split()[1], 16) >> CAP_NET_ADMIN & 1:
                return " (reading the firewall needs the CAP_NET_ADMIN capability, which this root session lacks)"
    except (OSError, ValueError, IndexError):
        pass
    return " (reading the firewall needs root)"  # root of a user namespace, or refused by a security module


def _save_tools(reader: _Reader, family: str) -> Tuple[List[Tuple[str, str]], Optional[str]]:
    """[(source, path)] of the iptables-save variants present for family ip/ip6."""
    module = reader.module
    base = "iptables" if family == "ip" else "ip6tables"
    found: List[Tuple[str, str]] = []
    for source, name in (("iptables-nft", base + "-nft-save"), ("iptables-legacy", base + "-legacy-save")):
        path = module.get_bin_path(name)
        if path:
            found.append((source, path))
    if found:
        return found, None
    path = module.get_bin_path(base + "-save")
    if not path:
        return [], base + "-save"
    try:
        rc, out, dummy = run(module, [path, "--version"], reader.limits)
    except CommandTimeout as exc:
        reader.missing(base + "-save", exc.describe())
        reader.incomplete.append(exc.describe())
        return [], None
    return [("iptables-nft" if rc == 0 and "nf_tables" in out else "iptables-legacy", path)], None


def _read_iptables(reader: _Reader) -> Tuple[List[Json], Set[Tuple[str, str]]]:
    tables: List[Json] = []
    skip: Set[Tuple[str, str]] = set()
    saves: List[Tuple[str, str, str, str]] = []
    for family in ("ip", "ip6"):
        tools, missing = _save_tools(reader, family)
        if missing:
            reader.missing(missing, "%s not found: iptables rules not read" % missing)
        for source, path in tools:
            text = reader.run(os.path.basename(path), [path])
            if text is not None:
                saves.append((family, source, os.path.basename(path), text))
    ipsets: Optional[Dict[str, Json]] = {}
    if any("--match-set" in text for dummy, dummy2, dummy3, text in saves):
        path = reader.module.get_bin_path("ipset")
        if not path:
            reader.missing("ipset", "ipset not found: rules matching ipsets cannot be evaluated")
            ipsets = None
        else:
            out = reader.run("ipset", [path, "save"], needed=False)
            ipsets = parse_ipset_save(out) if out is not None else None
    for family, source, tool, text in saves:
        try:
            parsed, incompatible = parse_save(text, family, source, ipsets)
        except IptablesParseError as exc:
            reader.missing(tool, str(exc))
            reader.incomplete.append(str(exc))
            continue
        for table in parsed:
            if table["name"] in incompatible:
                continue
            tables.append(table)
            if source == "iptables-nft":
                skip.add((family, table["name"]))
    return tables, skip


def _read_nft(reader: _Reader, skip: Set[Tuple[str, str]]) -> Tuple[List[Json], Handles]:
    """(native nft tables, nft handles of every nf_tables table, iptables-nft ones included).

    With no iptables-nft table, the whole ruleset is listed (two commands). Otherwise its rules
    are already read from iptables-nft-save and listing them again is the costly part (a busy
    Kubernetes node has tens of thousands): then the tables and chains are listed without rules,
    for the handles, and each native table on its own.
    """
    path = reader.module.get_bin_path("nft")
    if not path:
        reader.missing("nft", "nft not found: native nftables rules not read")
        return [], {}
    try:
        if not skip:
            text = reader.run("nft", [path, "-j", "list", "ruleset"])
            if text is None:
                return [], {}
            listing = reader.run("nft", [path, "-a", "list", "ruleset"], needed=False) or ""
            return parse_nft_json(text, listing, skip), nft_handles(text)
        names = _nft_items(reader, [path, "-j", "list", "tables"])
        chains = _nft_items(reader, [path, "-j", "list", "chains"]) if names is not None else None
        if names is None or chains is None:
            return [], {}
        handles = nft_handles(names + chains)
        items: List[Any] = []
        listings: List[str] = []
        for family, name in sorted(handles, key=lambda key: handles[key][0]):
            if (family, name) in skip:
                continue
            table = _nft_items(reader, [path, "-j", "list", "table", family, name])
            if table is None:
                continue
            items.extend(table)
            listings.append(reader.run("nft", [path, "-a", "list", "table", family, name], needed=False) or "")
        return parse_nft_json(items, "".join(listings), skip), handles
    except NftParseError as exc:
        reader.missing("nft", str(exc))
        reader.incomplete.append(str(exc))
        return [], {}


def _nft_items(reader: _Reader, argv: List[str]) -> Optional[List[Any]]:
    """The decoded "nftables" list of an ``nft -j`` command, or None when it failed."""
    text = reader.run("nft", argv)
    if text is None:
        return None
    try:
        return [item for item in json.loads(text)["nftables"] if "metainfo" not in item]
    except (ValueError, KeyError, TypeError) as exc:
        raise NftParseError("%s: not the expected JSON: %s" % (" ".join(argv[1:]), exc))


def _add_handles(tables: List[Json], handles: Handles) -> None:
    """Table and chain handles (creation order) on the nf_tables tables; null for legacy ones."""
    for table in tables:
        known = handles.get((table["family"], table["name"])) if table["source"] != "iptables-legacy" else None
        table["handle"] = known[0] if known else None
        for chain in table["chains"]:
            chain["handle"] = known[1].get(chain["name"]) if known else None


def _local_addresses(reader: _Reader) -> Optional[List[Json]]:
    path = reader.module.get_bin_path("ip")
    if not path:
        reader.missing("ip", "ip (iproute2) not found: the host's addresses are unknown")
        return None
    out = reader.run("ip", [path, "-j", "addr", "show"], needed=False)
    if out is None:
        return None
    try:
        links = json.loads(out)
    except ValueError as exc:
        reader.missing("ip", "ip -j addr show: not JSON: %s" % exc)
        return None
    addresses: List[Json] = []
    for link in links:
        for info in link.get("addr_info", []):
            if info.get("family") in ("inet", "inet6") and "local" in info:
                # In the kernel's order (primary IPv4 addresses before secondary ones): REDIRECT takes
                # the first usable address of the incoming interface.
                addresses.append({"iface": link.get("ifname"), "address": info["local"],
                                  "prefixlen": info.get("prefixlen"), "broadcast": info.get("broadcast"),
                                  "secondary": bool(info.get("secondary")), "tentative": bool(info.get("tentative")),
                                  "optimistic": bool(info.get("optimistic"))})
    return addresses


def _routes(reader: _Reader) -> Optional[List[Json]]:
    """Main-table routes [{"dst": cidr, "dev": name}] for iface "auto" in the verdict; None if unknown."""
    path = reader.module.get_bin_path("ip")
    if not path:
        return None
    routes: List[Json] = []
    for flag, default in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        out = reader.run("ip", [path, "-j", flag, "route", "show", "table", "main"], needed=False)
        if out is None:
            return None
        try:
            items = json.loads(out)
        except ValueError as exc:
            reader.missing("ip", "ip -j %s route show: not JSON: %s" % (flag, exc))
            return None
        for item in items:
            if item.get("dev") and item.get("type", "unicast") == "unicast":
                dst = item.get("dst")
                routes.append({"dst": default if dst == "default" else dst, "dev": item["dev"]})
    return routes


def _read_file(root: str, path: str) -> Optional[str]:
    """The text of a configuration file or switch; None when absent or not a small regular file (_files.py)."""
    try:
        return read_text(os.path.join(root, path.lstrip("/")))
    except (IOError, OSError):
        return None


def _forwarding(root: str) -> Dict[str, Optional[bool]]:
    out: Dict[str, Optional[bool]] = {}
    for family, path in (("ipv4", "/proc/sys/net/ipv4/ip_forward"), ("ipv6", "/proc/sys/net/ipv6/conf/all/forwarding")):
        text = _read_file(root, path)
        out[family] = None if text is None else text.strip() == "1"
    return out


def _keyvals(text: Optional[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


def _chain_names(tables: List[Json]) -> Set[str]:
    return set(chain["name"] for table in tables for chain in table["chains"])


def _firewalld_zones(tables: List[Json]) -> Tuple[List[Json], Optional[str]]:
    """Zones bound to interfaces and sources, from firewalld's filter_INPUT_ZONES dispatch chain."""
    zones: Dict[str, Dict[str, List[Any]]] = {}
    default = None
    for table in tables:
        if table["source"] != "nftables" or table["name"] != "firewalld":
            continue
        for chain in table["chains"]:
            if chain["name"] != "filter_INPUT_ZONES":
                continue
            for rule in chain["rules"]:
                verdict = rule["verdict"] or {}
                target = verdict.get("chain", "")
                if not target.startswith("filter_IN_"):
                    continue
                zone = zones.setdefault(target[len("filter_IN_"):], {"interfaces": [], "sources": []})
                if not rule["match"]:
                    default = target[len("filter_IN_"):]
                for match in rule["match"]:
                    if match["key"] == "iifname":
                        zone["interfaces"].extend(match["values"])
                    elif match["key"] in ("saddr", "ether_saddr"):
                        zone["sources"].extend(match["values"])
    out = [dict(name=name, **zones[name]) for name in sorted(zones)]
    return out, default


def _managers(tables: List[Json], root: str) -> List[Json]:
    names = _chain_names(tables)
    managers: List[Json] = []
    ufw_conf = _read_file(root, "/etc/ufw/ufw.conf")
    ufw_active = any(n.startswith(("ufw-", "ufw6-")) for n in names)
    if ufw_conf is not None or ufw_active:
        defaults = _keyvals(_read_file(root, "/etc/default/ufw"))
        entry: Json = {"name": "ufw", "active": ufw_active, "enabled": _keyvals(ufw_conf).get("ENABLED") == "yes"}
        for key in ("DEFAULT_INPUT_POLICY", "DEFAULT_FORWARD_POLICY", "DEFAULT_OUTPUT_POLICY"):
            if key in defaults:
                entry[key.lower()[len("default_"):]] = defaults[key].lower()
        managers.append(entry)
    fwd_conf = _read_file(root, "/etc/firewalld/firewalld.conf")
    fwd_nft = any(t["source"] == "nftables" and t["family"] == "inet" and t["name"] == "firewalld" for t in tables)
    fwd_ipt = any(n.endswith("_direct") or n.startswith("IN_public") for n in names)
    if fwd_conf is not None or fwd_nft or fwd_ipt:
        conf = _keyvals(fwd_conf)
        zones, catch_all = _firewalld_zones(tables)
        managers.append({"name": "firewalld", "active": fwd_nft or fwd_ipt,
                         "backend": "nftables" if fwd_nft else ("iptables" if fwd_ipt else conf.get("FirewallBackend")),
                         "default_zone": catch_all or conf.get("DefaultZone"), "zones": zones})
    if any(n in ("DOCKER", "DOCKER-USER") for n in names):
        managers.append({"name": "docker", "active": True})
    if any(n.startswith(("NETAVARK", "netavark")) for n in names) or any(t["name"] == "netavark" for t in tables):
        managers.append({"name": "netavark", "active": True})
    return managers


def _policies(tables: List[Json]) -> Dict[str, Dict[str, Optional[str]]]:
    """Effective default policy per family and hook: drop if any base chain there drops by default."""
    out: Dict[str, Dict[str, Optional[str]]] = {}
    for family, fams in _FAMILIES.items():
        out[family] = {}
        for hook in _FILTER_HOOKS:
            policies = [c["policy"] for t in tables if t["family"] in fams for c in t["chains"]
                        if c["hook"] == hook and c["type"] in ("filter", "route") and c["policy"]]
            out[family][hook] = None if not policies else ("drop" if "drop" in policies else "accept")
    return out


def gather_firewall(module: Any, root: str = "/", limits: Optional[Limits] = None,
                    local_routes: Callable[[], Tuple[Optional[List[Any]], Optional[str]]] = gather_local_routes,
                    ) -> Tuple[Json, List[Dict[str, str]]]:
    """(firewall dict, unavailable entries) for ansible_facts.portproof.firewall.

    ``module`` needs get_bin_path() and run_command(); ``root`` is where /proc and /etc are read
    (tests point it at a fixture directory); ``limits`` bound each command and the whole gather
    (_command.Limits; a command past its limit is killed and listed in unavailable, naming the limit);
    ``local_routes()`` returns (routes of the local routing table, None) or (None, why not) (tests
    replay captured kernel answers).
    """
    reader = _Reader(module, limits)
    routes, why = local_routes()
    if routes is None:
        reader.missing("rtnetlink", "%s: address types (addrtype, fib ... type) are unknown" % why)
    if not any(module.get_bin_path(name) for name in _TOOLS):
        reader.incomplete.append("no firewall tool is installed (%s): the rules are unknown, not absent" % ", ".join(_TOOLS[:3]))
    ipt_tables, skip = _read_iptables(reader)
    nft_tables, handles = _read_nft(reader, skip)
    tables = ipt_tables + nft_tables
    _add_handles(tables, handles)
    sources: List[str] = []
    for table in tables:
        if table["source"] not in sources and any(c["rules"] or c["hook"] for c in table["chains"]):
            sources.append(table["source"])
    firewall = {
        "backend": sources[0] if len(sources) == 1 else ("mixed" if sources else "none"),
        "backends": sources,
        "managers": _managers(tables, root),
        "policies": _policies(tables),
        "forwarding": _forwarding(root),
        "local_addresses": _local_addresses(reader),
        "routes": _routes(reader),
        "local_routes": routes,
        "incomplete": reader.incomplete,
        "tables": tables,
    }
    return firewall, reader.unavailable
