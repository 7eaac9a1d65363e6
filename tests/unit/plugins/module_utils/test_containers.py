# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Container engines' published ports, over output captured from podman and the docker CLI."""

from __future__ import annotations

import json

import pytest

from ansible_collections.portproof.validate.plugins.module_utils import _containers
from ansible_collections.portproof.validate.plugins.module_utils._containers import (
    EngineError, gather_containers, parse_inspect, parse_podman_ps, pick_digest)


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils import mapping_fakes as fakes
FakeModule, captured, read = fakes.FakeModule, fakes.captured, fakes.read

BUSYBOX = {"name": "localhost/ppmap/busybox:1", "id": "sha256:8a29cf41c7df546ec24a9216a5ae0cfad6de43e049fd7749b3e90200c0a6badc",
           "digest": "sha256:4942eb8b6f20ae0c48cd42061e355c0b6032beaca9e622acf1e8840a675c1315"}
PAUSE = {"name": "localhost/podman-pause:4.3.1-0", "id": "sha256:dea9366b808eea63a987d6365f10c733558d1be0b09a282f11dd6b5403677cf0",
         "digest": "sha256:cb5fa39b9c54dc3c19374429c4f72a5339d03fc6224d6329a6b2153cf88756a9"}
INFRA_ID = "58cfc94bd9b8ebc7b9ddfa203d1d6e4849a809ee176e91b91724af4388e1b190"
POD_ID = "ee99d52635ac740a1a0e53690d813ecdf663962275a3246218c8e9282869b00d"


def _port(proto, host_ip, host_port, container_port):
    return {"proto": proto, "host_ip": host_ip, "host_port": host_port, "container_port": container_port}


# name -> (id prefix, network namespace owner, ips, ports) as podman reported them
PODMAN = {
    "web": ("f3b39044a74f", None, ["10.88.0.43"], [_port("tcp", "", 8080, 80)]),
    "multi": ("7bba3a264118", None, ["10.88.0.44"], [
        _port("tcp", "203.0.113.5", 8443, 443), _port("udp", "", 5353, 53), _port("tcp", "", 8081, 80),
        _port("tcp", "127.0.0.1", 9000, 9000)]),
    "rnd": ("d654ac3ac656", None, ["10.88.0.45"], [_port("udp", "", 41369, 53), _port("tcp", "", 34269, 80)]),
    "rng": ("5171bbee05d4", None, ["10.88.0.46"], [
        _port("udp", "", 6000, 60), _port("udp", "", 6001, 61), _port("tcp", "", 7000, 80), _port("tcp", "", 7001, 81),
        _port("tcp", "", 7002, 82)]),
    "ee99d52635ac-infra": ("58cfc94bd9b8", None, ["10.88.0.47"], [_port("tcp", "", 7100, 80)]),
    "shopweb": ("0c79eea99486", INFRA_ID, ["10.88.0.47"], [_port("tcp", "", 7100, 80)]),
    "shopside": ("4f4c669c3765", INFRA_ID, ["10.88.0.47"], [_port("tcp", "", 7100, 80)]),
    "v6web": ("04f132e0f590", None, ["10.89.0.3", "fd00:89::3"], [_port("tcp", "", 8090, 80)]),
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
        assert record["pod_id"] == (POD_ID if engine == "podman" and name.startswith(("shop", "ee99")) else None), name


def test_podman_ps_names_pods_and_infra_containers():
    pods = parse_podman_ps(read("podman", "podman-ps.json"))
    assert len(pods) == 8
    assert pods[INFRA_ID] == {"pod": "shop", "infra": True}
    assert pods["0c79eea99486d9df86d4317ce970247bafdbf9ed0eaf5c0e47eb4afe1724e775"] == {"pod": "shop", "infra": False}
    assert pods["f3b39044a74fdf5289f3e88e99ec6ab6e07aaa47b686e52005b714a3764a6fd4"] == {"pod": None, "infra": False}


def test_gather_podman():
    module = FakeModule("podman", tools=["podman"])
    records, unavailable = gather_containers(module)
    assert unavailable == []
    assert [r["name"] for r in records] == ["web", "multi", "rnd", "rng", "ee99d52635ac-infra", "shopweb", "shopside", "v6web"]
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
    assert module.commands()[2][3:] == (BUSYBOX["id"], PAUSE["id"])


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
    gone = "d654ac3ac656b2a592f89cb825e92157b260980093eae0c66e6b73993c1ade1c"
    full = read("podman", "podman-inspect.json")

    def inspect(argv):
        if gone in argv:
            return 125, "", "Error: no such container %s\n" % gone
        return 0, json.dumps([i for i in json.loads(full) if i["Id"] in argv]), ""

    module = FakeModule("podman", tools=["podman"], replies={("podman", "inspect"): inspect})
    records, unavailable = gather_containers(module)
    assert unavailable == []
    assert [r["name"] for r in records] == ["web", "multi", "rng", "ee99d52635ac-infra", "shopweb", "shopside", "v6web"]
    assert [len(c) for c in module.commands() if c[1] == "inspect"] == [12] + [5] * 8  # all at once, then one by one


def test_inspect_failing_for_another_reason_is_unavailable():
    module = FakeModule("podman", tools=["podman"], replies={("podman", "inspect"): (125, "", "Error: database is locked\n")})
    records, unavailable = gather_containers(module)
    assert records == []
    assert [u["reason"] for u in unavailable] == [
        "podman inspect --type container f3b39044a74f exited with 125: Error: database is locked"]


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
