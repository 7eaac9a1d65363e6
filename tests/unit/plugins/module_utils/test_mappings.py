# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mappings subset: engines' published ports joined with the NAT rules, and `port: auto`."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import parse_inspect
from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
from ansible_collections.portproof.validate.plugins.module_utils._mappings._gather import gather_mappings, join, resolve_auto_port
from ansible_collections.portproof.validate.plugins.module_utils._mappings._nat import nat_mappings


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import mapping_fakes as fakes
FakeModule, RULE_TOOLS, captured, read = fakes.FakeModule, fakes.RULE_TOOLS, fakes.captured, fakes.read

KEYS = ("proto", "family", "host_ip", "host_port", "target_ip", "target_port", "kind", "source", "sources", "container",
        "containers", "container_id", "pod", "image", "manager", "rules")  # SPEC section 3 first, then the evidence
BUSYBOX = {"name": "localhost/ppmap/busybox:1", "id": "sha256:dc87b33d710c4c6dda3ba83ffdbbf1ed1fca7487aa6acce38ea0e94dbda098b0",
           "digest": "sha256:e2e628ba01908a5176e0c8d63ee0ee876df7d48fe73508e1f3fc922f16aa3538"}
P_IPT = ("podman", "iptables")

# (family, proto, host_ip, host_port, target_ip, target_port, kind, sources, container, containers, pod)
PODMAN_EXPECTED = [
    ("ipv4", "udp", "0.0.0.0", 5353, "10.88.0.201", 53, "dnat", P_IPT, "multi", ("multi",), None),
    ("ipv4", "udp", "0.0.0.0", 6000, "10.88.0.203", 60, "dnat", P_IPT, "rng", ("rng",), None),
    ("ipv4", "udp", "0.0.0.0", 6001, "10.88.0.203", 61, "dnat", P_IPT, "rng", ("rng",), None),
    ("ipv4", "tcp", "0.0.0.0", 7000, "10.88.0.203", 80, "dnat", P_IPT, "rng", ("rng",), None),
    ("ipv4", "tcp", "0.0.0.0", 7001, "10.88.0.203", 81, "dnat", P_IPT, "rng", ("rng",), None),
    ("ipv4", "tcp", "0.0.0.0", 7002, "10.88.0.203", 82, "dnat", P_IPT, "rng", ("rng",), None),
    ("ipv4", "tcp", "0.0.0.0", 7100, "10.88.0.204", 80, "dnat", P_IPT, "shopside", ("shopside", "shopweb"), "shop"),
    ("ipv4", "tcp", "0.0.0.0", 8080, "10.88.0.200", 80, "dnat", P_IPT, "web", ("web",), None),
    ("ipv4", "tcp", "0.0.0.0", 8081, "10.88.0.201", 80, "dnat", P_IPT, "multi", ("multi",), None),
    ("ipv4", "tcp", "0.0.0.0", 8090, "10.89.0.4", 80, "dnat", P_IPT, "v6web", ("v6web",), None),
    ("ipv6", "tcp", "::", 8090, "fd00:89::4", 80, "dnat", P_IPT, "v6web", ("v6web",), None),
    ("ipv4", "tcp", "203.0.113.5", 8443, "10.88.0.201", 443, "dnat", P_IPT, "multi", ("multi",), None),
    ("ipv4", "tcp", "127.0.0.1", 9000, "10.88.0.201", 9000, "dnat", P_IPT, "multi", ("multi",), None),
    ("ipv4", "udp", "0.0.0.0", 37763, "10.88.0.202", 53, "dnat", P_IPT, "rnd", ("rnd",), None),
    ("ipv4", "tcp", "0.0.0.0", 42871, "10.88.0.202", 80, "dnat", P_IPT, "rnd", ("rnd",), None),
]


def _rows(mappings):
    return [(m["family"], m["proto"], m["host_ip"], m["host_port"], m["target_ip"], m["target_port"], m["kind"], tuple(m["sources"]),
             m["container"], tuple(m["containers"]), m["pod"]) for m in mappings]


def _gather(tools=("podman",) + RULE_TOOLS, replies=None, firewall=None):
    module = FakeModule("podman", tools=tools, replies=replies)
    mappings, unavailable = gather_mappings(module, firewall)
    for mapping in mappings:
        assert tuple(mapping) == KEYS
    return mappings, unavailable, module


def test_podman_published_ports_joined_with_netavark_rules():
    mappings, unavailable, module = _gather()
    assert unavailable == []
    assert _rows(mappings) == PODMAN_EXPECTED
    for mapping in mappings:
        assert mapping["source"] == "podman" and mapping["manager"] == "netavark"
        assert mapping["image"] == BUSYBOX
        assert len(mapping["rules"]) == 1 and mapping["rules"][0]["source"] == "iptables-nft"
    web = mappings[7]
    assert web["container_id"] == "830730e4a0ef833e152672d23c496e1216115999d623223df19d22a2a2d7af7a"
    assert web["rules"][0]["text"] == "-A NETAVARK-DN-1D8721804F16F -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.200:80"
    # the engine first, then the rules, through gather_firewall
    commands = [c[0] for c in module.commands()]
    assert commands[:2] == ["podman", "podman"]
    assert {"iptables-nft-save", "ip6tables-nft-save", "nft"} <= set(commands[2:]) and "podman" not in commands[2:]


def _podman_port_view():
    """{(container, proto, container port, host ip, host port)} as `podman port NAME` printed it."""
    rows = set()
    for line in read("podman", "podman-port.txt").splitlines():
        name, spec = line.split("\t")
        inner, _arrow, outer = spec.split(" ")
        port, proto = inner.split("/")
        host_ip, host_port = outer.rsplit(":", 1)
        rows.add((name, proto, int(port), host_ip, int(host_port)))
    return rows


def test_engine_view_is_exactly_what_podman_port_says():
    mappings, _unavailable, _module = _gather()
    view = set()
    for mapping in mappings:
        if mapping["family"] == "ipv4":  # podman port prints 0.0.0.0 for "every address", also on a dual-stack network
            for name in mapping["containers"]:
                view.add((name, mapping["proto"], mapping["target_port"], mapping["host_ip"], mapping["host_port"]))
    assert view == _podman_port_view()
    assert len(view) == 15


def test_firewall_given_is_not_read_again():
    firewall, _problems = gather_firewall(FakeModule("podman"))
    mappings, unavailable, module = _gather(firewall=firewall)
    assert unavailable == []
    assert _rows(mappings) == PODMAN_EXPECTED
    assert [c[0] for c in module.commands()] == ["podman", "podman"]


def test_docker_view_of_the_same_containers():
    mappings, unavailable, _module = _gather(tools=("docker",) + RULE_TOOLS)
    assert unavailable == []
    expected = []
    for row in PODMAN_EXPECTED:
        row = row[:7] + (("docker", "iptables"),) + row[8:]
        if row[3] == 7100:  # docker sees no pod: the namespace's owner (the pod's infra container) names it
            row = row[:8] + ("a93fe601985c-infra", ("a93fe601985c-infra", "shopside", "shopweb"), None)
        expected.append(row)
    assert _rows(mappings) == expected
    assert all(m["source"] == "docker" for m in mappings)


def test_docker_without_daemon_is_unavailable_and_podman_still_counts():
    replies = {("docker", "ps"): captured("docker-ps-nodaemon")}
    mappings, unavailable, _module = _gather(tools=("docker", "podman") + RULE_TOOLS, replies=replies)
    assert _rows(mappings) == PODMAN_EXPECTED
    assert unavailable == [{"subset": "mappings", "tool": "docker",
                            "reason": "docker ps --quiet --no-trunc exited with 1: Cannot connect to the Docker daemon at "
                                      "unix:///var/run/docker.sock. Is the docker daemon running?"}]


def test_without_an_engine_the_rules_still_name_podman_containers_by_nothing():
    mappings, unavailable, _module = _gather(tools=RULE_TOOLS)
    assert unavailable == []
    assert [(m["source"], m["container"], m["image"], m["kind"]) for m in mappings] == [("iptables", None, None, "dnat")] * 15


def test_published_port_without_rules_is_a_publish_mapping():
    empty = (0, "", "")
    replies = dict((key, empty) for key in [(t, None) for t in RULE_TOOLS[:4]])
    replies[("nft", "-j")] = (0, '{"nftables": [{"metainfo": {"json_schema_version": 1}}]}', "")
    replies[("nft", "-a")] = empty
    replies[("ip", "-j")] = (0, "[]", "")
    mappings, unavailable, _module = _gather(replies=replies)
    assert unavailable == []
    rows = _rows(mappings)
    # no NAT rule: the engine's view alone (as with rootless Podman or docker-proxy), on IPv4 for "every address"
    assert len(rows) == 14 and all(r[6] == "publish" and r[7] == ("podman",) for r in rows)
    assert rows[7] == ("ipv4", "tcp", "0.0.0.0", 8080, "10.88.0.200", 80, "publish", ("podman",), "web", ("web",), None)
    assert all(m["rules"] == [] and m["manager"] is None for m in mappings)


def test_missing_rule_tools_are_named_for_the_mappings():
    tools = ("podman", "iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save")
    mappings, unavailable, _module = _gather(tools=tools)
    assert len(mappings) == 15
    # ip (addresses) is not needed for NAT mappings and is not reported here
    assert unavailable == [{"subset": "mappings", "tool": "nft", "reason": "NAT rules: nft not found: native nftables rules not read"}]


def test_incomplete_firewall_subset_is_named():
    firewall, _problems = gather_firewall(FakeModule("podman"))
    firewall["incomplete"] = ["iptables-nft-save exited with 4: Permission denied (you must be root)"]
    _mappings, unavailable, _module = _gather(firewall=firewall)
    assert unavailable == [{"subset": "mappings", "tool": "firewall",
                            "reason": "NAT rules incomplete: the firewall subset could not read iptables-nft-save exited with 4: "
                                      "Permission denied (you must be root)"}]


def _records(**ports):
    records = parse_inspect(read("podman", "podman-inspect.json"), "podman")
    for record in records:
        if record["name"] in ports:
            record["ports"] = ports[record["name"]]
    return records


def _podman_nat():
    firewall, _problems = gather_firewall(FakeModule("podman"))
    return nat_mappings(firewall)[0]


def test_rules_the_engine_does_not_report_still_name_their_container():
    # multi's rules carry netavark's comment with its ID; the engine reports none of its ports here.
    mappings = join(_records(multi=[]), _podman_nat())
    multi = [m for m in mappings if m["container"] == "multi"]
    assert [(m["host_port"], m["source"], tuple(m["sources"])) for m in multi] == [
        (5353, "iptables", ("iptables",)), (8081, "iptables", ("iptables",)), (8443, "iptables", ("iptables",)),
        (9000, "iptables", ("iptables",))]
    assert multi[0]["image"] == BUSYBOX


def test_container_found_by_target_address():
    firewall, _problems = gather_firewall(FakeModule("docker-rules"))
    record = {"engine": "docker", "id": "c" * 64, "name": "shop", "state": "running", "netns_of": None, "pod": None, "pod_id": None,
              "infra": False, "image": {"name": "shop:1", "id": None, "digest": None}, "ips": ["172.17.0.2", "fd00:d0c::2"],
              "ports": [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80},
                        {"proto": "tcp", "host_ip": "::", "host_port": 8080, "container_port": 80}]}
    mappings = join([record], nat_mappings(firewall)[0])
    assert [(m["host_ip"], m["host_port"], m["container"], tuple(m["sources"])) for m in mappings] == [
        ("0.0.0.0", 5353, "shop", ("iptables",)), ("192.168.50.5", 5432, None, ("iptables",)), ("0.0.0.0", 8080, "shop", ("docker", "iptables")),
        ("::", 8080, "shop", ("docker", "iptables")), ("127.0.0.1", 9000, None, ("iptables",))]


def test_rule_to_another_address_is_not_joined():
    records = _records()
    for record in records:
        if record["name"] == "web":
            record["ips"] = ["10.88.0.99"]
    web = [m for m in join(records, _podman_nat()) if m["host_port"] == 8080]
    assert [(m["source"], m["container"], m["target_ip"], m["kind"]) for m in web] == [
        ("iptables", "web", "10.88.0.200", "dnat"), ("podman", "web", "10.88.0.99", "publish")]


@pytest.fixture(scope="module")
def podman_facts():
    module = FakeModule("podman", tools=("podman",) + RULE_TOOLS)
    return gather_mappings(module)


@pytest.mark.parametrize("container,port,proto,ports", [
    ("rnd", 80, "tcp", [42871]),
    ("rnd", 80, "TCP", [42871]),
    ("rnd", "53", "udp", [37763]),
    ("multi", 80, "tcp", [8081]),
    ("multi", 443, "tcp", [8443]),
    ("multi", 9000, "tcp", [9000]),
    ("shopweb", 80, "tcp", [7100]),
    ("shopside", 80, "tcp", [7100]),
    ("shop", 80, "tcp", [7100]),
    ("v6web", 80, "tcp", [8090]),
    ("rng", 81, "tcp", [7001]),
    ("830730e4a0ef", 80, "tcp", [8080]),
])
def test_resolve_auto_port(podman_facts, container, port, proto, ports):
    mappings, unavailable = podman_facts
    result = resolve_auto_port(mappings, container, port, proto, unavailable)
    assert (result["ports"], result["reason"]) == (ports, None)
    assert all(m["source"] == "podman" for m in result["mappings"])


def test_resolve_auto_port_reasons(podman_facts):
    mappings, _unavailable = podman_facts
    assert resolve_auto_port(mappings, "web", 81)["reason"] == "container web publishes no port 81/tcp (it publishes 80/tcp -> 0.0.0.0:8080)"
    assert resolve_auto_port(mappings, "multi", 80, "udp")["reason"] == (
        "container multi publishes no port 80/udp (it publishes 443/tcp -> 203.0.113.5:8443, 53/udp -> 0.0.0.0:5353, "
        "80/tcp -> 0.0.0.0:8081, 9000/tcp -> 127.0.0.1:9000)")
    assert resolve_auto_port(mappings, "db", 5432) == {"ports": [], "mappings": [], "reason": (
        "no published port of container db on this host: it is not running, publishes no port, or has another name "
        "(containers with published ports: multi, rnd, rng, shopside, v6web, web)")}
    unavailable = [{"subset": "mappings", "tool": "docker", "reason": "Cannot connect to the Docker daemon"},
                   {"subset": "firewall", "tool": "nft", "reason": "nft not found"}]
    assert resolve_auto_port([], "db", 5432, unavailable=unavailable)["reason"] == (
        "no published port of container db on this host: it is not running, publishes no port, or has another name "
        "(containers with published ports: none); these container engines could not be read: docker: Cannot connect to the Docker daemon")


@pytest.mark.parametrize("args,message", [
    (("", 80), "container must be a non-empty name"),
    ((None, 80), "container must be a non-empty name"),
    (("web", 0), "container_port must be a port number 1-65535, got 0"),
    (("web", "eighty"), "container_port must be a port number 1-65535, got 'eighty'"),
    (("web", True), "container_port must be a port number 1-65535, got True"),
    (("web", 80, "icmp"), "proto must be one of tcp, udp, sctp, udplite, dccp, got 'icmp'"),
])
def test_resolve_auto_port_rejects_bad_arguments(podman_facts, args, message):
    with pytest.raises(ValueError, match=message):
        resolve_auto_port(podman_facts[0], *args)


def test_resolve_auto_port_after_republishing_ignores_a_stale_rule():
    # rnd was published again on a new random port; a rule for its old port was left behind.
    nat = _podman_nat()
    stale = copy.deepcopy([m for m in nat if m["host_port"] == 42871][0])
    stale["rules"][0]["paths"][0]["comments"] = []
    stale.update(host_port=40000)
    mappings = join(_records(), nat + [stale])
    rnd = [(m["host_port"], tuple(m["sources"])) for m in mappings if m["container"] == "rnd" and m["proto"] == "tcp"]
    assert rnd == [(40000, ("iptables",)), (42871, ("podman", "iptables"))]
    assert resolve_auto_port(mappings, "rnd", 80)["ports"] == [42871]


def test_resolve_auto_port_falls_back_to_rules_when_the_engine_is_silent():
    mappings = join(_records(multi=[]), _podman_nat())
    result = resolve_auto_port(mappings, "multi", 80)
    assert result["ports"] == [8081] and [m["source"] for m in result["mappings"]] == ["iptables"]


def _record(name, cid, netns_of=None, ports=(), infra=False, pod=None):
    return {"engine": "docker", "id": cid * 64, "name": name, "state": "running", "netns_of": netns_of, "pod": pod, "pod_id": None,
            "infra": infra, "image": {"name": name + ":1", "id": None, "digest": None}, "ips": ["172.17.0.9"], "ports": list(ports)}


def test_shared_network_namespace_is_named_by_its_owner():
    port = {"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80}
    # docker run --network container:zeta alpha: the port belongs to zeta's namespace
    mappings = join([_record("alpha", "a", netns_of="zeta"), _record("zeta", "b", ports=[port])], [])
    assert [(m["container"], m["containers"], m["container_id"]) for m in mappings] == [("zeta", ["zeta", "alpha"], "b" * 64)]
    # a pod's infra container owns the namespace but never names the mapping
    mappings = join([_record("zz-infra", "c", ports=[port], infra=True, pod="p"), _record("web", "d", netns_of="c" * 12, pod="p")], [])
    assert [(m["container"], m["containers"], m["pod"]) for m in mappings] == [("web", ["web"], "p")]
