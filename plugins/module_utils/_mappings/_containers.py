# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Running containers and their published ports, as the container engines (Podman, Docker) see them.

Read through the engines' own CLIs with JSON output: ``podman ps --pod --format json`` and
``podman inspect``; ``docker ps --quiet --no-trunc``, ``docker inspect`` and ``docker image
inspect`` (for the image digest). An engine that is installed but cannot be read (no daemon
behind the ``docker`` command, a socket the user may not open, broken storage) becomes an
``unavailable`` entry carrying the engine's own message; it never fails the caller and never
looks like "no containers". An engine with neither a CLI nor a socket on the host is not there
and is not reported. A command that does not answer within ``timeout`` seconds (a hung daemon)
is killed and reported as timed out.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run
from ansible_collections.portproof.validate.plugins.module_utils._mappings._podman_state import nothing_to_read

SUBSET = "mappings"
ENGINES = ("podman", "docker")
_SOCKETS = {"docker": ("/var/run/docker.sock", "/run/docker.sock"), "podman": ("/run/podman/podman.sock",)}
_REASON_MAX = 600
_DIGESTS_UNKNOWN = "image digests unknown: "
TIMEOUT = 30.0
Json = Dict[str, Any]


class EngineError(Exception):
    """An engine command that failed or printed something unexpected; the message says which and why."""


def unavailable(tool: str, reason: str) -> Dict[str, str]:
    return {"subset": SUBSET, "tool": tool, "reason": reason}


def _engine_message(out: Optional[str], err: Optional[str]) -> str:
    """The engine's own message, on one line (Podman prefixes its log lines; keep them all)."""
    lines = [line.strip() for line in (err or out or "").splitlines() if line.strip()]
    text = "; ".join(lines) or "no message"
    return text if len(text) <= _REASON_MAX else text[:_REASON_MAX] + "..."


def run_engine(module: Any, argv: List[str], timeout: float, limits: Optional[Limits] = None) -> Tuple[int, str, str]:
    """(rc, out, err) of argv; raises EngineError when it has not ended after TIMEOUT seconds (it is
    killed), or when the deadline of LIMITS (_command.Limits) ends it or keeps it from starting."""
    try:
        return run(module, argv, limits, timeout=timeout, option="engine_timeout", show=_shown(argv))
    except CommandTimeout as exc:
        if exc.deadline is not None:
            raise EngineError(exc.describe())
        raise EngineError("%s timed out after %g s (killed): the engine does not answer" % (_shown(argv), timeout))


def _run(module: Any, argv: List[str], timeout: float = TIMEOUT, limits: Optional[Limits] = None) -> str:
    rc, out, err = run_engine(module, argv, timeout, limits)
    if rc != 0:
        raise EngineError("%s exited with %d: %s" % (_shown(argv), rc, _engine_message(out, err)))
    return out


def _shown(argv: List[str]) -> str:
    """argv as the user would type it, without the ID lists."""
    words = [os.path.basename(argv[0])]
    for word in argv[1:]:
        if (len(word) == 64 and all(c in "0123456789abcdef" for c in word)) or word.startswith("sha256:"):
            words.append("...")
            break
        words.append(word)
    return " ".join(words)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EngineError("%s: output is not JSON (%s): %r" % (what, exc, text[:200]))


def _image_id(value: Optional[str]) -> Optional[str]:
    if value and ":" not in value and len(value) == 64:
        return "sha256:" + value
    return value or None


def _repo(name: str) -> str:
    """Repository part of an image reference: drops @digest and :tag (not a registry's :port)."""
    name = name.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def pick_digest(image_name: Optional[str], repo_digests: Optional[List[str]]) -> Optional[str]:
    """The digest the image reference was pulled as (from ``RepoDigests``), or None (built locally)."""
    if image_name and "@sha256:" in image_name:
        return image_name.split("@", 1)[1]
    repo = _repo(image_name or "")
    digests = [d for d in repo_digests or [] if "@" in d]
    for entry in digests:
        if _repo(entry) == repo or _repo(entry) == "docker.io/" + repo or _repo(entry) == "docker.io/library/" + repo:
            return entry.split("@", 1)[1]
    return digests[0].split("@", 1)[1] if digests else None


def _ips(settings: Json) -> List[str]:
    found: List[str] = []
    networks = settings.get("Networks") or {}
    for entry in [settings] + [networks[name] for name in sorted(networks)]:
        for key in ("IPAddress", "GlobalIPv6Address"):
            value = (entry or {}).get(key)
            if value and isinstance(value, str) and value not in found:
                found.append(value)
    return found


def _ports(settings: Json, where: str) -> List[Json]:
    ports: List[Json] = []
    for key, bindings in sorted((settings.get("Ports") or {}).items()):
        if not bindings:
            continue  # exposed, not published
        number, _sep, proto = key.partition("/")
        try:
            container_port = int(number)
            for binding in bindings:
                host_ip = binding.get("HostIp") or ""
                if not isinstance(host_ip, str):
                    raise TypeError("HostIp %s is not a string" % json.dumps(host_ip))
                ports.append({"proto": (proto or "tcp").lower(), "host_ip": host_ip,
                              "host_port": int(binding["HostPort"]), "container_port": container_port})
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("%s: port %s has an unexpected binding %s (%s)" % (where, key, json.dumps(bindings), exc))
    return ports


def _pid(value: Any) -> Optional[int]:
    """The container's main process id (``State.Pid``), or None when it is not a positive integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _boot_settings(item: Json, where: str) -> Json:
    """What decides whether the container comes back after a reboot: its restart policy
    (``HostConfig.RestartPolicy``; Podman reports none as ``""``, Docker as ``no``), whether it was
    run with ``--rm`` (``HostConfig.AutoRemove``) and the systemd unit that runs it (the label
    ``PODMAN_SYSTEMD_UNIT``, which Podman sets on containers a unit's ``podman run`` creates)."""
    host = item.get("HostConfig") or {}
    policy = host.get("RestartPolicy") or {}
    labels = (item.get("Config") or {}).get("Labels") or {}
    name, retries, unit = policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0, labels.get("PODMAN_SYSTEMD_UNIT")
    if not isinstance(name, str) or not isinstance(retries, int) or not isinstance(labels, dict) \
            or not isinstance(unit, (str, type(None))):
        raise EngineError("%s: unexpected restart policy %s or labels" % (where, json.dumps(policy)[:200]))
    return {"restart_policy": name, "restart_retries": retries, "auto_remove": host.get("AutoRemove") is True,
            "systemd_unit": unit or None}


def parse_inspect(text: str, engine: str) -> List[Json]:
    """Container records from ``podman inspect`` / ``docker inspect`` JSON (the Docker-compatible shape)."""
    what = "%s inspect" % engine
    items = _json(text, what)
    if not isinstance(items, list):
        raise EngineError("%s: expected a JSON list, got %s" % (what, type(items).__name__))
    records: List[Json] = []
    for item in items:
        try:
            cid = item["Id"]
            if not isinstance(cid, str):
                raise TypeError("Id %s is not a string" % json.dumps(cid))
            name = (item.get("Name") or cid[:12]).lstrip("/")
            settings = item.get("NetworkSettings") or {}
            mode = (item.get("HostConfig") or {}).get("NetworkMode") or ""
            config = item.get("Config") or {}
            image_name = config.get("Image")
            if engine == "podman":
                image_name = item.get("ImageName") or image_name
            records.append({
                "engine": engine, "id": cid, "name": name, "boot": _boot_settings(item, "%s container %s" % (what, name)),
                "state": (item.get("State") or {}).get("Status"),
                "pid": _pid((item.get("State") or {}).get("Pid")),
                "netns_of": mode[len("container:"):] if mode.startswith("container:") else None,
                "pod": None, "pod_id": item.get("Pod") or None, "infra": False,
                "image": {"name": image_name or None, "id": _image_id(item.get("Image")),
                          "digest": item.get("ImageDigest") or None},
                "ips": _ips(settings),
                "ports": _ports(settings, "%s container %s" % (what, name)),
            })
        except (KeyError, TypeError, AttributeError) as exc:
            raise EngineError("%s: unexpected shape (%s) in %s" % (what, exc, json.dumps(item)[:200]))
    return records


def parse_podman_ps(text: str) -> Dict[str, Json]:
    """{container id: {"pod": pod name or None, "infra": bool}} of ``podman ps --pod --format json``."""
    items = _json(text, "podman ps")
    if not isinstance(items, list):
        raise EngineError("podman ps: expected a JSON list, got %s" % type(items).__name__)
    try:
        return dict((c["Id"], {"pod": c.get("PodName") or None, "infra": bool(c.get("IsInfra"))}) for c in items)
    except (KeyError, TypeError) as exc:
        raise EngineError("podman ps: unexpected shape (%s)" % exc)


def parse_image_digests(text: str) -> Dict[Optional[str], List[str]]:
    """{image id: RepoDigests} of ``docker image inspect`` JSON."""
    items = _json(text, "docker image inspect")
    try:
        return dict((_image_id(i["Id"]), i.get("RepoDigests") or []) for i in items)
    except (KeyError, TypeError) as exc:
        raise EngineError("docker image inspect: unexpected shape (%s)" % exc)


def _inspect(module: Any, path: str, engine: str, ids: List[str], timeout: float = TIMEOUT,
             limits: Optional[Limits] = None) -> List[Json]:
    """Records of IDS; containers that stopped since ``ps`` are left out, not an error."""
    try:
        return parse_inspect(_run(module, [path, "inspect", "--type", "container"] + ids, timeout, limits), engine)
    except EngineError:
        if len(ids) == 1:
            raise
    records: List[Json] = []
    for cid in ids:  # one went away between ps and inspect: ask one by one
        rc, out, err = run_engine(module, [path, "inspect", "--type", "container", cid], timeout, limits)
        if rc != 0 and "no such" in (err or out or "").lower():
            continue
        if rc != 0:
            raise EngineError("%s inspect --type container %s exited with %d: %s" % (engine, cid[:12], rc, _engine_message(out, err)))
        records.extend(parse_inspect(out, engine))
    return records


def read_podman(module: Any, path: str, timeout: float = TIMEOUT, limits: Optional[Limits] = None,
                read_only: bool = False) -> Tuple[List[Json], List[Dict[str, str]]]:
    """Podman's running containers. With READ_ONLY, podman is not run where it would change the host
    and could list nothing (_podman_state.py: a store without containers, a runtime not run since boot)."""
    if read_only and nothing_to_read():
        return [], []
    pods = parse_podman_ps(_run(module, [path, "ps", "--pod", "--format", "json"], timeout, limits))
    if not pods:
        return [], []
    records = _inspect(module, path, "podman", list(pods), timeout, limits)
    for record in records:
        record.update(pods.get(record["id"], {}))
    return records, []


def read_docker(module: Any, path: str, timeout: float = TIMEOUT, limits: Optional[Limits] = None,
                read_only: bool = False) -> Tuple[List[Json], List[Dict[str, str]]]:
    ids = [line.strip() for line in _run(module, [path, "ps", "--quiet", "--no-trunc"], timeout, limits).splitlines() if line.strip()]
    if not ids:
        return [], []
    records = _inspect(module, path, "docker", ids, timeout, limits)
    images = sorted(set(r["image"]["id"] for r in records if r["image"]["id"]))
    problems: List[Dict[str, str]] = []
    digests: Dict[Optional[str], List[str]] = {}
    if images:
        try:
            digests = parse_image_digests(_run(module, [path, "image", "inspect"] + images, timeout, limits))
        except EngineError as exc:
            problems.append(unavailable("docker", _DIGESTS_UNKNOWN + str(exc)))
    for record in records:
        if record["image"]["id"] in digests:
            record["image"]["digest"] = pick_digest(record["image"]["name"], digests[record["image"]["id"]])
    return records, problems


_READERS: Dict[str, Callable[[Any, str, float, Optional[Limits], bool], Tuple[List[Json], List[Dict[str, str]]]]] = {
    "podman": read_podman, "docker": read_docker,
}


def gather_containers(module: Any, root: str = "/", timeout: float = TIMEOUT, limits: Optional[Limits] = None,
                      read_only: bool = False) -> Tuple[List[Json], List[Dict[str, str]]]:
    """(container records of every engine, unavailable entries).

    A record: engine, id, name, boot {restart_policy, restart_retries, auto_remove, systemd_unit}, state,
    pid (of its main process), netns_of (the container whose network namespace it joined),
    pod, pod_id, infra, image {name, id, digest}, ips, ports [{proto, host_ip, host_port,
    container_port}] with host_ip "" where the engine publishes on every address. Each engine
    command gets TIMEOUT seconds, within the deadline of LIMITS (_command.Limits) when given. With
    READ_ONLY, podman is not run where running it would change the host (see read_podman).
    """
    records: List[Json] = []
    problems: List[Dict[str, str]] = []
    for engine in ENGINES:
        path = module.get_bin_path(engine)
        if not path:
            sockets = [s for s in _SOCKETS[engine] if os.path.exists(os.path.join(root, s.lstrip("/")))]
            if sockets:
                problems.append(unavailable(engine, "%s exists but the %s command is not installed: %s containers not read"
                                            % (sockets[0], engine, engine.capitalize())))
            continue
        try:
            found, partial = _READERS[engine](module, path, timeout, limits, read_only)
        except EngineError as exc:
            problems.append(unavailable(engine, str(exc)))
            continue
        problems.extend(partial)
        seen = set(r["id"] for r in records)
        # The docker command may be Podman's docker shim: the same containers, reported once.
        records.extend(r for r in found if r["id"] not in seen)
    return records, problems


def engine_view(containers: Tuple[List[Json], List[Dict[str, str]]]) -> Optional[List[Json]]:
    """The records of gather_containers' answer CONTAINERS when Podman (whose containers carry the
    ``/run/.containerenv`` a process inside could plant) answered or is not installed, else None.
    Docker's containers are known by their cgroup, whatever the docker command answered."""
    records, problems = containers
    if any(p["tool"] == "podman" for p in problems):
        return None
    return records
