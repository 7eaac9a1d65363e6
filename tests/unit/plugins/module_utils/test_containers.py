# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Container engines' published ports, over output captured from podman and the docker CLI."""

from __future__ import annotations

import json

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._mappings import _containers
from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import (
    EngineError, gather_containers, parse_inspect, parse_podman_ps, pick_digest)


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import mapping_fakes as fakes
FakeModule, captured, read = fakes.FakeModule, fakes.captured, fakes.read

BUSYBOX = {"name": "localhost/ppmap/busybox:1", "id": "sha256:dc87b33d710c4c6dda3ba83ffdbbf1ed1fca7487aa6acce38ea0e94dbda098b0",
           "digest": "sha256:e2e628ba01908a5176e0c8d63ee0ee876df7d48fe73508e1f3fc922f16aa3538"}
PAUSE = {"name": "localhost/podman-pause:4.3.1-0", "id": "sha256:91e11d2b216039a6faf7515981bc7a95645c681fc75e1be816f3c9570d008a66",
         "digest": "sha256:0832ee6705ec387d6aee8d80646e2e02d03981fbc72d95f9ee16918394e27606"}
INFRA_ID = "23c6e13697e9fa41fe27b824fff84af5d34f06d11a7d62bfb25fb7926466ca0c"
POD_ID = "a93fe601985cc91ba476c6ff6b80b728cb5821e91d35130858b6dc2e063151b3"


def _port(proto, host_ip, host_port, container_port):
    return {"proto": proto, "host_ip": host_ip, "host_port": host_port, "container_port": container_port}


# name -> (id prefix, network namespace owner, ips, ports) as podman reported them
PODMAN = {
    "web": ("830730e4a0ef", None, ["10.88.0.200"], [_port("tcp", "", 8080, 80)]),
    "multi": ("217af4bd47e0", None, ["10.88.0.201"], [
        _port("tcp", "203.0.113.5", 8443, 443), _port("udp", "", 5353, 53), _port("tcp", "", 8081, 80),
        _port("tcp", "127.0.0.1", 9000, 9000)]),
    "rnd": ("449b82a3ca55", None, ["10.88.0.202"], [_port("udp", "", 37763, 53), _port("tcp", "", 42871, 80)]),
    "rng": ("071cb9c557f3", None, ["10.88.0.203"], [
        _port("udp", "", 6000, 60), _port("udp", "", 6001, 61), _port("tcp", "", 7000, 80), _port("tcp", "", 7001, 81),
        _port("tcp", "", 7002, 82)]),
    "a93fe601985c-infra": ("23c6e13697e9", None, ["10.88.0.204"], [_port("tcp", "", 7100, 80)]),
    "shopweb": ("fa42f4cc213c", INFRA_ID, ["10.88.0.204"], [_port("tcp", "", 7100, 80)]),
    "shopside": ("467e8e1f5e5d", INFRA_ID, ["10.88.0.204"], [_port("tcp", "", 7100, 80)]),
    "v6web": ("61b807a9e516", None, ["10.89.0.4", "fd00:89::4"], [_port("tcp", "", 8090, 80)]),
}


@pytest.mark.parametrize("engine,fixture", [("podman", "podman-inspect.json"), ("docker", "docker-inspect.json")])
def test_inspect_reads_ports_addresses_and_images(engine, fixture):
    records = dict((r["name"], r) for r in parse_inspect(read("podman", fixture), engine))
    assert sorted(records) == sorted(PODMAN)
    for name, (prefix, owner, ips, ports) in PODMAN.items():
        record = records[name]
        assert (record["engine"], record["id"][:12], record["netns_of"], record["ips"], record["state"]) == \
            (engine, prefix, owner, ips, "running"), name
        assert sorted(record["ports"], key=repr) == sorted(ports, key=repr), name
        image = PAUSE if name.endswith("-infra") else BUSYBOX
        # docker inspect has no digest: it comes from `docker image inspect` (see below).
        assert record["image"] == (image if engine == "podman" else dict(image, digest=None)), name
        assert record["pod_id"] == (POD_ID if engine == "podman" and name.startswith(("shop", POD_ID[:12])) else None), name


def test_podman_ps_names_pods_and_infra_containers():
    pods = parse_podman_ps(read("podman", "podman-ps.json"))
    assert len(pods) == 8
    assert pods[INFRA_ID] == {"pod": "shop", "infra": True}
    assert pods["fa42f4cc213c467d25cd3260d80734d3d6559e3d4493f2c8b6a1638dab2b8f32"] == {"pod": "shop", "infra": False}
    assert pods["830730e4a0ef833e152672d23c496e1216115999d623223df19d22a2a2d7af7a"] == {"pod": None, "infra": False}


def test_gather_podman():
    module = FakeModule("podman", tools=["podman"])
    records, unavailable = gather_containers(module)
    assert unavailable == []
    assert [r["name"] for r in records] == ["web", "multi", "rnd", "rng", "a93fe601985c-infra", "shopweb", "shopside", "v6web"]
    assert [(r["pod"], r["infra"]) for r in records if r["pod"]] == [("shop", True), ("shop", False), ("shop", False)]
    ids = [r["id"] for r in records]
    assert module.commands() == [("podman", "ps", "--pod", "--format", "json"), ("podman", "inspect", "--type", "container") + tuple(ids)]


def test_gather_docker_takes_the_digest_from_image_inspect():
    module = FakeModule("podman", tools=["docker"])
    records, unavailable = gather_containers(module)
    assert unavailable == []
    assert sorted(r["name"] for r in records) == sorted(PODMAN)
    assert all(r["image"] == (PAUSE if r["name"].endswith("-infra") else BUSYBOX) for r in records)
    assert [c[:3] for c in module.commands()] == [("docker", "ps", "--quiet"), ("docker", "inspect", "--type"), ("docker", "image", "inspect")]
    assert module.commands()[2][3:] == (PAUSE["id"], BUSYBOX["id"])


def test_docker_shim_of_podman_is_not_counted_twice():
    records, unavailable = gather_containers(FakeModule("podman", tools=["docker", "podman"]))
    assert unavailable == []
    assert [r["engine"] for r in records] == ["podman"] * 8


@pytest.mark.parametrize("name,tool,reason", [
    ("docker-ps-nodaemon", "docker",
     "docker ps --quiet --no-trunc exited with 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
     "Is the docker daemon running?"),
    ("docker-ps-denied", "docker",
     "docker ps --quiet --no-trunc exited with 1: permission denied while trying to connect to the Docker daemon socket at "
     "unix:///"),
    ("podman-ps-broken", "podman",
     "podman ps --pod --format json exited with 125: time="),
])
def test_engine_that_cannot_be_read_is_unavailable_with_its_own_reason(name, tool, reason):
    module = FakeModule("podman", tools=[tool], replies={(tool, "ps"): captured(name)})
    records, unavailable = gather_containers(module)
    assert records == []
    assert len(unavailable) == 1
    assert unavailable[0]["subset"] == "mappings" and unavailable[0]["tool"] == tool
    assert unavailable[0]["reason"].startswith(reason)
    # The engine's whole message is there, on one line.
    message = "; ".join(line.strip() for line in captured(name)[2].splitlines() if line.strip())
    assert unavailable[0]["reason"].endswith(message)


def test_one_engine_failing_does_not_hide_the_other():
    module = FakeModule("podman", tools=["docker", "podman"], replies={("docker", "ps"): captured("docker-ps-nodaemon")})
    records, unavailable = gather_containers(module)
    assert len(records) == 8 and [u["tool"] for u in unavailable] == ["docker"]


def test_missing_cli_is_silent_unless_a_socket_says_the_engine_is_there(tmp_path):
    assert gather_containers(FakeModule("podman", tools=[]), root=str(tmp_path)) == ([], [])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "docker.sock").write_text("")
    records, unavailable = gather_containers(FakeModule("podman", tools=[]), root=str(tmp_path))
    assert records == []
    assert unavailable == [{"subset": "mappings", "tool": "docker",
                            "reason": "/run/docker.sock exists but the docker command is not installed: Docker containers not read"}]


def test_no_running_containers_runs_no_inspect():
    module = FakeModule("podman", tools=["podman", "docker"], replies={("podman", "ps"): (0, "[]\n", ""), ("docker", "ps"): (0, "", "")})
    assert gather_containers(module) == ([], [])
    assert module.commands() == [("podman", "ps", "--pod", "--format", "json"), ("docker", "ps", "--quiet", "--no-trunc")]


def test_a_container_gone_between_ps_and_inspect_is_left_out():
    gone = "449b82a3ca558b6e2673e48b87306fed9f30e06a02bc17613327eb8734406587"
    full = read("podman", "podman-inspect.json")

    def inspect(argv):
        if gone in argv:
            return 125, "", "Error: no such container %s\n" % gone
        return 0, json.dumps([i for i in json.loads(full) if i["Id"] in argv]), ""

    module = FakeModule("podman", tools=["podman"], replies={("podman", "inspect"): inspect})
    records, unavailable = gather_containers(module)
    assert unavailable == []
    assert [r["name"] for r in records] == ["web", "multi", "rng", "a93fe601985c-infra", "shopweb", "shopside", "v6web"]
    assert [len(c) for c in module.commands() if c[1] == "inspect"] == [12] + [5] * 8  # all at once, then one by one


def test_inspect_failing_for_another_reason_is_unavailable():
    module = FakeModule("podman", tools=["podman"], replies={("podman", "inspect"): (125, "", "Error: database is locked\n")})
    records, unavailable = gather_containers(module)
    assert records == []
    assert [u["reason"] for u in unavailable] == [
        "podman inspect --type container 830730e4a0ef exited with 125: Error: database is locked"]


def test_docker_image_inspect_failing_keeps_the_containers():
    module = FakeModule("podman", tools=["docker"], replies={("docker", "image"): (1, "", "Error response from daemon: boom\n")})
    records, unavailable = gather_containers(module)
    assert len(records) == 8 and all(r["image"]["digest"] is None for r in records)
    assert unavailable == [{"subset": "mappings", "tool": "docker",
                            "reason": "image digests unknown: docker image inspect ... exited with 1: Error response from daemon: boom"}]


@pytest.mark.parametrize("text,message", [
    ("not json", "podman ps: output is not JSON"),
    ('{"a": 1}', "podman ps: expected a JSON list, got dict"),
    ('[{"Names": ["x"]}]', "podman ps: unexpected shape ('Id')"),
])
def test_podman_ps_garbage_is_an_engine_error(text, message):
    with pytest.raises(EngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_podman_ps(text)
    _records, unavailable = gather_containers(FakeModule("podman", tools=["podman"], replies={("podman", "ps"): (0, text, "")}))
    assert unavailable[0]["reason"].startswith(message)


def test_inspect_bad_port_binding_is_an_engine_error():
    text = '[{"Id": "abc", "Name": "x", "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "", "HostPort": "eighty"}]}}}]'
    with pytest.raises(EngineError, match="docker inspect container x: port 80/tcp has an unexpected binding"):
        parse_inspect(text, "docker")


def test_exposed_but_unpublished_ports_are_not_mappings():
    text = '[{"Id": "abc", "Name": "/x", "NetworkSettings": {"Ports": {"80/tcp": null, "53/udp": []}}}]'
    assert parse_inspect(text, "docker")[0]["ports"] == []


@pytest.mark.parametrize("name,digests,expected", [
    ("nginx:1.25", ["docker.io/library/nginx@sha256:aaa"], "sha256:aaa"),
    ("registry.example:5000/team/web:2", ["registry.example:5000/team/web@sha256:bbb", "mirror/web@sha256:ccc"], "sha256:bbb"),
    ("registry.example:5000/team/web", ["mirror/web@sha256:ccc", "registry.example:5000/team/web@sha256:bbb"], "sha256:bbb"),
    ("web@sha256:ddd", ["web@sha256:eee"], "sha256:ddd"),
    ("local/built:1", [], None),
    ("other:1", ["mirror/web@sha256:ccc"], "sha256:ccc"),
])
def test_pick_digest(name, digests, expected):
    assert pick_digest(name, digests) == expected


def test_long_engine_messages_are_cut():
    assert len(_containers._engine_message("", "x" * 2000)) == 603  # pylint: disable=protected-access
