# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab: real hosts on one machine, built from a small declarative description.

Each lab host is a network namespace on a bridge, with its own address (IPv4 and an IPv6 ULA),
its own sshd that Ansible reaches with a key the lab generates, its own services (real
processes with the names they stand for), its own netfilter rules (iptables-restore and nft
scripts) and its own Podman containers with published ports (private Podman storage per host).
The lab writes an Ansible inventory, and it tears down everything it made, also after a
failure or an interrupt; it refuses to touch anything it did not make.

Usage (as root)::

    python3 tests/lab/portproof_lab.py up SPEC.yml --dir DIR     # prints the inventory path
    python3 tests/lab/portproof_lab.py down --dir DIR
    python3 tests/lab/portproof_lab.py run SPEC.yml [--dir DIR] -- COMMAND ...  # up, run, down

From Python: ``with Lab.from_file(spec_path) as lab: lab.inventory ...``. See
``tests/lab/README.md`` for the description format.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

import yaml

import lab_daemons
import lab_firewall
import lab_session
import lab_systemd

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = os.path.join(HERE, "lab_service.py")
HOST_PYTHON = "/usr/bin/python3"
PODMAN_IMAGE = "localhost/portproof-lab/busybox:1"
PODMAN_RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=512:512"]
STATE = "state.json"
MARKER = "portproof-lab"
HOST_KEYS = {"name", "groups", "vars", "services", "iptables", "ip6tables", "nft", "containers", "sshd",
             "addresses", "sysctls", "ipset", "ufw", "firewalld", "daemons", "ipv6", "systemd"}
SERVICE_KEYS = {"name", "listen", "behavior", "banner", "reply", "status", "body", "content_type", "delay_ms",
                "tls_cert", "tls_key", "user", "container", "require_headers"}
CONTAINER_KEYS = {"name", "publish", "command", "restart", "rm"}


class LabError(Exception):
    """A lab description or a lab step that went wrong; the message says which and where."""


def run(argv, check=True, env=None, input_text=None, timeout=120):
    proc = subprocess.run(argv, input=input_text, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LabError("command failed (rc=%d): %s\n%s%s" % (proc.returncode, " ".join(argv), proc.stdout, proc.stderr))
    return proc


def validate_spec(spec):
    """Check the description before anything is built; return it normalised."""
    if not isinstance(spec, dict) or not isinstance(spec.get("hosts"), list) or not spec["hosts"]:
        raise LabError("lab description: 'hosts' must be a non-empty list")
    unknown = set(spec) - {"lab", "hosts", "ipv6", "subnet"}
    if unknown:
        raise LabError("lab description: unknown keys %s" % sorted(unknown))
    names = set()
    for index, host in enumerate(spec["hosts"]):
        where = "hosts[%d]" % index
        if not isinstance(host, dict) or not host.get("name"):
            raise LabError("lab description: %s needs a name" % where)
        unknown = set(host) - HOST_KEYS
        if unknown:
            raise LabError("lab description: %s (%s): unknown keys %s" % (where, host["name"], sorted(unknown)))
        if host["name"] in names:
            raise LabError("lab description: host %s is declared twice" % host["name"])
        names.add(host["name"])
        for sindex, service in enumerate(host.get("services", [])):
            unknown = set(service) - SERVICE_KEYS
            if unknown or not service.get("name") or not service.get("listen"):
                raise LabError("lab description: %s.services[%d]: needs name and listen, unknown keys %s"
                               % (host["name"], sindex, sorted(unknown)))
            if service.get("container") and service["container"] not in [c.get("name") for c in host.get("containers", [])]:
                raise LabError("lab description: %s.services[%d]: no container %s on this host"
                               % (host["name"], sindex, service["container"]))
        for cindex, container in enumerate(host.get("containers", [])):
            unknown = set(container) - CONTAINER_KEYS
            if unknown or not container.get("name"):
                raise LabError("lab description: %s.containers[%d]: needs name, unknown keys %s"
                               % (host["name"], cindex, sorted(unknown)))
        lab_firewall.validate_host(host, _description_error)
        lab_session.validate_host(host, _description_error)
        lab_daemons.validate_host(host, _description_error)
        lab_systemd.validate_host(host, _description_error)
        if not isinstance(host.get("ipv6", True), bool):
            raise LabError("lab description: %s.ipv6 must be true or false" % host["name"])
    return spec


def _description_error(message):
    raise LabError("lab description: " + message)


def free_subnet_index():
    """A /24 in 10.231.0.0/16 that no route of this machine already covers."""
    routes = json.loads(run(["ip", "-j", "route", "show", "table", "all"]).stdout or "[]")
    taken = []
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default" and ":" not in dst:
            try:
                taken.append(ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False))
            except ValueError:
                continue
    candidates = list(range(1, 255))
    random.shuffle(candidates)
    for index in candidates:
        net = ipaddress.ip_network("10.231.%d.0/24" % index)
        if not any(net.overlaps(other) for other in taken):
            return index
    raise LabError("no free /24 left in 10.231.0.0/16 for a lab")


class Lab:
    """One lab: build with ``up()``, remove with ``down()``; a context manager does both."""

    Error = LabError

    def __init__(self, spec, workdir=None, keep_workdir=False):
        self.spec = validate_spec(spec)
        self.own_workdir = workdir is None
        self.workdir = os.path.abspath(workdir or tempfile.mkdtemp(prefix="pplab-"))
        self.keep_workdir = keep_workdir
        self.state = None
        self.planned = {}

    @classmethod
    def from_file(cls, path, workdir=None):
        with open(path) as handle:
            return cls(yaml.safe_load(handle), workdir)

    @classmethod
    def attach(cls, workdir):
        """The lab recorded in WORKDIR, for tear-down or inspection from another process."""
        path = os.path.join(workdir, STATE)
        if not os.path.exists(path):
            raise LabError("%s: no lab state here; refusing to touch anything" % workdir)
        with open(path) as handle:
            state = json.load(handle)
        if state.get("marker") != MARKER:
            raise LabError("%s: state file was not written by the lab; refusing to touch anything" % path)
        lab = cls(state["spec"], workdir)
        lab.own_workdir = state.get("own_workdir", False)
        lab.state = state
        return lab

    # ------------------------------------------------------------------ state
    def save(self):
        tmp = os.path.join(self.workdir, STATE + ".tmp")
        with open(tmp, "w") as handle:
            json.dump(self.state, handle, indent=1)
        os.replace(tmp, os.path.join(self.workdir, STATE))

    @property
    def inventory(self):
        return os.path.join(self.workdir, "inventory.yml")

    def host(self, name):
        return self.state["hosts"][name]

    def address(self, name):
        return self.host(name)["address"]

    # ------------------------------------------------------------------ build
    def up(self):
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, sshd, netfilter)")
        os.makedirs(self.workdir, exist_ok=True)
        labid = "%06x" % random.getrandbits(24)
        index = free_subnet_index()
        self.state = {
            "marker": MARKER, "id": labid, "spec": self.spec, "own_workdir": self.own_workdir,
            "bridge": None, "bridge_ifindex": None, "subnet": "10.231.%d.0/24" % index,
            "subnet6": "fd70:7070:%x::/64" % index, "hosts": {}, "processes": [],
            "control_dir": os.path.join(self.workdir, "cp"),
        }
        self.save()
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self):
        st = self.state
        os.makedirs(st["control_dir"], exist_ok=True)
        os.makedirs("/run/sshd", exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "portproof-lab", "-f", self.path("id_ed25519")])
        bridge = "pp%sbr" % st["id"]
        run(["ip", "link", "add", bridge, "type", "bridge"])
        st["bridge"] = bridge
        st["bridge_ifindex"] = self._ifindex(bridge)
        self.save()
        run(["ip", "addr", "add", self._addr(1) + "/24", "dev", bridge])
        run(["ip", "-6", "addr", "add", self._addr6(1) + "/64", "dev", bridge, "nodad"])
        run(["ip", "link", "set", bridge, "up"])
        self.planned = {host["name"]: (self._addr(number), self._addr6(number) if host.get("ipv6", True) else None)
                        for number, host in enumerate(self.spec["hosts"], start=11)}
        for number, host in enumerate(self.spec["hosts"], start=11):
            self._host_up(number, host)
        self._write_inventory()
        for host in self.spec["hosts"]:
            self._wait_ssh(host["name"])

    def _host_up(self, number, host):
        st = self.state
        name = host["name"]
        netns = "pp-%s-%s" % (st["id"], name)
        veth = "pp%s%d" % (st["id"], number)
        hdir = self.path("hosts", name)
        os.makedirs(hdir)
        entry = {"netns": netns, "netns_inode": None, "veth": veth, "address": self._addr(number),
                 "address6": self._addr6(number) if host.get("ipv6", True) else None, "dir": hdir, "sshd_pid": None, "services": {},
                 "containers": [], "podman": bool(host.get("containers") or host.get("systemd") is not None)}
        st["hosts"][name] = entry
        run(["ip", "netns", "add", netns])
        entry["netns_inode"] = os.stat("/run/netns/" + netns).st_ino
        self.save()
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p"])
        run(["ip", "link", "set", veth + "p", "netns", netns])
        run(["ip", "link", "set", veth, "master", st["bridge"], "up"])
        self.ns(name, ["ip", "link", "set", "lo", "up"])
        self.ns(name, ["ip", "link", "set", veth + "p", "name", "eth0"])
        self.ns(name, ["ip", "addr", "add", entry["address"] + "/24", "dev", "eth0"])
        if entry["address6"]:
            self.ns(name, ["ip", "-6", "addr", "add", entry["address6"] + "/64", "dev", "eth0", "nodad"])
        else:  # an IPv4-only host: no IPv6 at all, not even ::1
            for key in ("all", "default", "lo", "eth0"):
                self.ns(name, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % key])
        for extra in host.get("addresses", []):
            self.ns(name, ["ip", "addr", "add", extra, "dev", "eth0"] + (["nodad"] if ":" in extra else []))
        self.ns(name, ["ip", "link", "set", "eth0", "up"])
        sysctls = {"net.ipv4.ip_unprivileged_port_start": "0"}
        sysctls.update(host.get("sysctls", {}))
        for key, value in sysctls.items():
            self.ns(name, ["sysctl", "-q", "-w", "%s=%s" % (key, value)])
        if entry["podman"]:
            self._podman_config(name)
        self._sshd_up(name, host.get("sshd", {}), number)
        for service in host.get("services", []):
            if not service.get("container"):
                self.start_service(name, service)
        for daemon in host.get("daemons", []):
            self.start_daemon(name, daemon)
        if host.get("ipset"):
            self.ns(name, ["ipset", "restore"], input_text=self.render(host["ipset"]))
        if host.get("iptables"):
            self.ns(name, ["iptables-restore"], input_text=self.render(host["iptables"]))
        if host.get("ip6tables"):
            self.ns(name, ["ip6tables-restore"], input_text=self.render(host["ip6tables"]))
        if host.get("nft"):
            self.ns(name, ["nft", "-f", "-"], input_text=self.render(host["nft"]))
        if host.get("ufw"):
            lab_firewall.ufw_up(self, name, host["ufw"])
        if host.get("firewalld") is not None:
            lab_firewall.firewalld_up(self, name, host["firewalld"])
        for container in host.get("containers", []):
            self.start_container(name, container)
        for service in host.get("services", []):
            if service.get("container"):
                self.start_service(name, service)

    def _sshd_up(self, name, options, number=0):
        entry = self.host(name)
        hdir = entry["dir"]
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", os.path.join(hdir, "ssh_host_ed25519_key")])
        env = ["PORTPROOF_LAB_HOST=" + name]
        if any(h["name"] == name and h.get("firewalld") is not None for h in self.spec["hosts"]):
            env.append("DBUS_SYSTEM_BUS_ADDRESS=" + lab_firewall.FIREWALLD_BUS)  # firewall-cmd reaches the host's firewalld
        systemd = any(h["name"] == name and h.get("systemd") is not None for h in self.spec["hosts"])
        if entry["podman"] and not systemd:
            env += ["CONTAINERS_CONF=" + os.path.join(hdir, "containers.conf"),
                    "CONTAINERS_STORAGE_CONF=" + os.path.join(hdir, "storage.conf")]
        env += lab_session.env_words(options)
        keys = self.path("id_ed25519.pub")
        if options.get("unprivileged_user"):
            keys += " " + lab_session.user_up(self, name, number, run)
        lines = [
            "ListenAddress %s" % entry["address"],
        ] + (["ListenAddress %s" % entry["address6"]] if entry["address6"] else []) + [
            "HostKey %s" % os.path.join(hdir, "ssh_host_ed25519_key"),
            "AuthorizedKeysFile %s" % keys,
            "PermitRootLogin %s" % ("yes" if options.get("password_auth") else "prohibit-password"),
            "PasswordAuthentication %s" % ("yes" if options.get("password_auth") else "no"),
            "KbdInteractiveAuthentication no",
            "UsePAM %s" % ("yes" if systemd else "no"),  # systemd: logind gives each login a session scope
            "StrictModes no",
            "PidFile none",
            "MaxStartups 100:30:200",
            "MaxSessions 50",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "SetEnv %s" % " ".join(env),
        ]
        config = os.path.join(hdir, "sshd_config")
        with open(config, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        run(["/usr/sbin/sshd", "-t", "-f", config])
        if systemd:  # sshd is a unit of the host's own systemd (lab_systemd.py)
            lab_systemd.up(self, name, [h for h in self.spec["hosts"] if h["name"] == name][0], config, run)
            return
        # nsenter --net (not ip netns exec): sessions keep the machine's /sys, so Podman works in them.
        argv = ["nsenter", "--net=/run/netns/" + entry["netns"], "/usr/sbin/sshd", "-D", "-f", config,
                "-E", os.path.join(hdir, "sshd.log")]
        if options.get("etc"):
            lab_session.etc_up(hdir, options, self.render)
        proc = subprocess.Popen(lab_session.sshd_argv(argv, options, hdir), stdin=subprocess.DEVNULL, start_new_session=True)
        entry["sshd_pid"] = proc.pid
        self.state["processes"].append(proc.pid)
        self.save()

    def _wait_ssh(self, name, deadline=20.0):
        entry = self.host(name)
        end = time.monotonic() + deadline
        while True:
            proc = run(["ssh"] + self.ssh_options() + ["root@" + entry["address"], "true"], check=False, timeout=15)
            if proc.returncode == 0:
                return
            if time.monotonic() > end:
                raise LabError("sshd of lab host %s does not answer: %s" % (name, proc.stderr.strip()))
            time.sleep(0.2)

    def ssh_options(self):
        return ["-i", self.path("id_ed25519"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5"]

    def start_service(self, name, service):
        """Start (or plant) a service process on a lab host; returns its pid once it listens."""
        entry = self.host(name)
        ready = os.path.join(entry["dir"], "ready-%s-%d" % (service["name"], len(entry["services"])))
        where = ["ip", "netns", "exec", entry["netns"]]
        if service.get("container"):
            # In the container's network namespace: it answers for the container (the image has no Python).
            pid = self.podman(name, ["inspect", "--format", "{{.State.Pid}}", service["container"]]).stdout.strip()
            where = ["nsenter", "--net=/proc/%s/ns/net" % pid]
        argv = where + [HOST_PYTHON, SERVICE, "--name", service["name"], "--ready-file", ready,
                        "--behavior", service.get("behavior", "accept")]
        for spec in service["listen"]:
            argv += ["--listen", self.render(spec)]
        for key in ("banner", "reply", "status", "body", "content_type", "delay_ms", "tls_cert", "tls_key", "user"):
            if key in service:
                argv += ["--" + key.replace("_", "-"), str(service[key])]
        for header, value in sorted(service.get("require_headers", {}).items()):
            # only a digest on the command line: the value itself is a secret the host must not show
            argv += ["--require-header", "%s=%s" % (header, hashlib.sha256(value.encode()).hexdigest())]
        log = open(os.path.join(entry["dir"], "service-%s.log" % service["name"]), "a")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.state["processes"].append(proc.pid)
        entry["services"].setdefault(service["name"], []).append(proc.pid)
        self.save()
        end = time.monotonic() + 10
        while not (os.path.exists(ready) and os.path.getsize(ready)):
            if proc.poll() is not None or time.monotonic() > end:
                with open(os.path.join(entry["dir"], "service-%s.log" % service["name"])) as handle:
                    raise LabError("service %s on lab host %s did not start: %s" % (service["name"], name, handle.read()[-2000:]))
            time.sleep(0.02)
        return proc.pid

    def start_daemon(self, name, daemon):
        """Start a real daemon (a ``daemons`` entry, see lab_daemons.py) on a lab host; its pid once it listens."""
        return lab_daemons.start(self, name, daemon, run)

    def reconfigure_daemon(self, name, daemon, config=None, files=None, listen=None, restart=False):
        """A running daemon gets a new configuration: nginx and haproxy reload in place, the others restart."""
        return lab_daemons.reconfigure(self, name, daemon, config=config, files=files, listen=listen, restart=restart,
                                       run=run)

    def stop_daemon(self, name, daemon):
        """Stop a daemon the lab started (by its recorded pid)."""
        lab_daemons.stop(self, name, daemon)

    def cut(self, name):
        """The host dies: every process in its namespace (its sshd, sessions, services) ends, its link goes down."""
        entry = self.host(name)
        if not self._netns_is_ours(entry):
            raise LabError("netns %s is not the one this lab made; left alone" % entry["netns"])
        # Processes first: their connections close, so Ansible's SSH control masters end instead of
        # waiting on a connection no packet answers any more; then the link.
        for _round in range(3):
            pids = [int(p) for p in run(["ip", "netns", "pids", entry["netns"]], check=False).stdout.split()]
            if not pids:
                break
            self._end_pids(pids, grace=1.0)
        self.ns(name, ["ip", "link", "set", "eth0", "down"])

    def stop_service(self, name, service_name):
        """Stop a service the lab started (by its recorded pids)."""
        self._end_pids(self.host(name)["services"].pop(service_name, []))
        self.save()

    # ------------------------------------------------------------------ podman
    def _podman_config(self, name):
        hdir = self.host(name)["dir"]
        pdir = os.path.join(hdir, "podman")
        for sub in ("root", "run", "tmp", "networks"):
            os.makedirs(os.path.join(pdir, sub), exist_ok=True)
        with open(os.path.join(hdir, "containers.conf"), "w") as handle:
            handle.write('[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                         'events_logfile_path = "%s/events.log"\ntmp_dir = "%s/tmp"\n'
                         '[network]\nnetwork_backend = "netavark"\nnetwork_config_dir = "%s/networks"\n'
                         % (pdir, pdir, pdir))
        with open(os.path.join(hdir, "storage.conf"), "w") as handle:
            handle.write('[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\nrunroot = "%s/run"\n' % (pdir, pdir))
        self.podman(name, ["import", "--quiet", self._busybox_tar(), PODMAN_IMAGE])

    def podman_env(self, name):
        hdir = self.host(name)["dir"]
        env = dict(os.environ)
        env.update({"CONTAINERS_CONF": os.path.join(hdir, "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": os.path.join(hdir, "storage.conf")})
        return env

    def podman(self, name, args, check=True):
        """Run podman as that lab host's own engine (its storage, its network namespace)."""
        return run(["nsenter", "--net=/run/netns/" + self.host(name)["netns"], "podman"] + args,
                   env=self.podman_env(name), check=check)

    def start_container(self, name, container):
        argv = ["run", "-d", "--name", container["name"]] + PODMAN_RUN_FLAGS
        if container.get("restart"):
            argv += ["--restart", container["restart"]]
        if container.get("rm"):
            argv += ["--rm"]
        for publish in container.get("publish", []):
            argv += ["-p", self.render(publish)]
        argv += [PODMAN_IMAGE] + list(container.get("command") or ["/bin/httpd", "-f", "-p", "80", "-h", "/www"])
        self.host(name)["containers"].append(container["name"])
        self.save()
        self.podman(name, argv)

    def _busybox_tar(self):
        tar_path = self.path("busybox-rootfs.tar")
        if os.path.exists(tar_path):
            return tar_path
        with tarfile.open(tar_path, "w") as tar:
            for directory in ("bin", "etc", "tmp", "www", "proc", "sys", "dev"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            tar.add("/bin/busybox", "bin/busybox")
            for applet in ("sh", "httpd", "nc", "sleep", "cat", "echo", "udpsvd", "ls"):
                info = tarfile.TarInfo("bin/" + applet)
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
            page = b"portproof lab\n"
            info = tarfile.TarInfo("www/index.html")
            info.size = len(page)
            tar.addfile(info, io.BytesIO(page))
        return tar_path

    # ------------------------------------------------------------------ helpers
    def render(self, text):
        """Rule text with {address:HOST} and {address6:HOST} replaced by the lab hosts' addresses, and
        {lab_address}/{lab_address6} by the machine's own addresses on the lab bridge (where Ansible connects from)."""
        text = text.replace("{lab_address}", self._addr(1)).replace("{lab_address6}", self._addr6(1))
        for name, (address, address6) in self.planned.items():
            text = text.replace("{address:%s}" % name, address)
            if address6:
                text = text.replace("{address6:%s}" % name, address6)
            elif "{address6:%s}" % name in text:
                raise LabError("rule text names the IPv6 address of %s, an IPv4-only lab host" % name)
        if re.search(r"\{address6?:[^}]*\}", text):
            raise LabError("rule text names an unknown lab host: %s" % re.search(r"\{address6?:[^}]*\}", text).group(0))
        return text

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    def _addr(self, number):
        return str(ipaddress.ip_network(self.state["subnet"])[number])

    def _addr6(self, number):
        return str(ipaddress.ip_network(self.state["subnet6"])[number])

    @staticmethod
    def _ifindex(ifname):
        with open("/sys/class/net/%s/ifindex" % ifname) as handle:
            return int(handle.read())

    def ns(self, name, argv, check=True, input_text=None, timeout=120):
        """Run a command inside a lab host's network namespace."""
        return run(["ip", "netns", "exec", self.host(name)["netns"]] + argv, check=check, input_text=input_text,
                   timeout=timeout)

    def ssh(self, name, command, check=True):
        """Run a shell command on a lab host through its sshd, as Ansible would reach it."""
        return run(["ssh"] + self.ssh_options() + ["root@" + self.address(name), command], check=check)

    def _write_inventory(self):
        hosts, groups = {}, {}
        for host in self.spec["hosts"]:
            entry = self.host(host["name"])
            hvars = {"ansible_host": entry["address"]}
            if entry["address6"]:
                hvars["portproof_lab_address6"] = entry["address6"]
            if entry.get("user"):
                hvars["ansible_user"] = entry["user"]
            hvars.update(host.get("vars", {}))
            hosts[host["name"]] = hvars
            for group in host.get("groups", []):
                groups.setdefault(group, {"hosts": {}})["hosts"][host["name"]] = {}
        inventory = {"all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": self.path("id_ed25519"),
                "ansible_python_interpreter": HOST_PYTHON,
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "ansible_control_path_dir": self.state["control_dir"],
            },
            "hosts": hosts,
            "children": groups,
        }}
        with open(self.inventory, "w") as handle:
            yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=True)

    def write_instance_config(self, path):
        """The instance list molecule's default driver builds its inventory from."""
        instances = [{"instance": name, "address": entry["address"], "user": "root", "port": 22,
                      "identity_file": self.path("id_ed25519")} for name, entry in self.state["hosts"].items()]
        with open(path, "w") as handle:
            yaml.safe_dump(instances, handle, default_flow_style=False)

    # ------------------------------------------------------------------ tear-down
    @staticmethod
    def _alive(pid):
        """True while PID runs; a zombie (exited, not yet reaped) counts as gone."""
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                return False
        except ChildProcessError:
            pass
        try:
            with open("/proc/%d/stat" % pid) as handle:
                return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def _end_pids(self, pids, grace=3.0):
        """SIGTERM the given pids (all recorded by this lab or found in its namespaces), then SIGKILL."""
        pids = [pid for pid in pids if self._alive(pid)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.monotonic() + grace
        while pids and time.monotonic() < end:
            pids = [pid for pid in pids if self._alive(pid)]
            time.sleep(0.02)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            while self._alive(pid):
                time.sleep(0.01)

    def _netns_is_ours(self, entry):
        path = "/run/netns/" + entry["netns"]
        return os.path.exists(path) and os.stat(path).st_ino == entry["netns_inode"]

    def down(self):
        """Remove everything this lab made: containers, sessions, processes, namespaces, bridge, files."""
        if self.state is None:
            return
        errors = []
        control_dir = self.state.get("control_dir")
        if control_dir and os.path.isdir(control_dir):
            for sock in os.listdir(control_dir):
                run(["ssh", "-o", "ControlPath=" + os.path.join(control_dir, sock), "-O", "exit", "lab"], check=False,
                    timeout=10)
        for name, entry in self.state["hosts"].items():
            if entry.get("podman") and entry.get("netns_inode") and self._netns_is_ours(entry):
                self.podman(name, ["rm", "--all", "--force", "--time", "0"], check=False)
                self.podman(name, ["rmi", "--all", "--force"], check=False)
        self._end_pids(self.state["processes"])
        for name, entry in self.state["hosts"].items():
            if not entry.get("netns_inode"):
                continue
            if not self._netns_is_ours(entry):
                errors.append("netns %s is not the one this lab made; left alone" % entry["netns"])
                continue
            # Whatever still runs in the namespace was started through this lab's sshd or services
            # (Ansible sessions, conmon): end it by pid so the namespace and its veth can go.
            for _round in range(3):
                pids = [int(p) for p in run(["ip", "netns", "pids", entry["netns"]], check=False).stdout.split()]
                if not pids:
                    break
                self._end_pids(pids, grace=1.0)
            run(["ip", "netns", "del", entry["netns"]], check=False)
            if os.path.exists("/run/netns/" + entry["netns"]):
                errors.append("netns %s could not be deleted" % entry["netns"])
            errors += lab_firewall.ufw_down(self, entry)
            errors += lab_daemons.down(entry)
        for entry in self.state["hosts"].values():
            errors += lab_session.user_down(entry, run)
        bridge = self.state.get("bridge")
        if bridge and os.path.exists("/sys/class/net/" + bridge):
            if self._ifindex(bridge) == self.state["bridge_ifindex"]:
                run(["ip", "link", "del", bridge], check=False)
            else:
                errors.append("bridge %s is not the one this lab made; left alone" % bridge)
        self._unmount_below(self.workdir)
        self.state["hosts"] = {name: dict(entry, netns_inode=None) for name, entry in self.state["hosts"].items()}
        if self.own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            podman_dirs = [os.path.join(e["dir"], "podman") for e in self.state["hosts"].values()]
            for pdir in podman_dirs:
                shutil.rmtree(pdir, ignore_errors=True)
            self.save()
        self.state = None
        if errors:
            raise LabError("; ".join(errors))

    @staticmethod
    def _unmount_below(directory):
        with open("/proc/self/mounts") as handle:
            mounts = [line.split()[1] for line in handle]
        for mount in sorted(mounts, key=len, reverse=True):
            mount = mount.encode().decode("unicode_escape")
            if mount.startswith(directory.rstrip("/") + "/"):
                run(["umount", "-l", mount], check=False)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False


def _teardown_on_signals(lab):
    def handler(signum, _frame):
        lab.down()
        sys.exit(128 + signum)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Bring the portproof lab up or down.")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="build the lab and print the inventory path")
    up.add_argument("spec")
    up.add_argument("--dir", required=True)
    up.add_argument("--instance-config", help="also write a molecule instance config (list of hosts) here")
    down = sub.add_parser("down", help="tear down the lab recorded in --dir")
    down.add_argument("--dir", required=True)
    cut = sub.add_parser("cut", help="the host HOST of the lab in --dir dies: its processes end, its link goes down")
    cut.add_argument("host")
    cut.add_argument("--dir", required=True)
    runp = sub.add_parser("run", help="build the lab, run the command after -- with PORTPROOF_LAB_INVENTORY set, tear down")
    runp.add_argument("spec")
    runp.add_argument("--dir")
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    try:
        if args.action == "up":
            lab = Lab.from_file(args.spec, args.dir)
            _teardown_on_signals(lab)
            lab.up()
            if args.instance_config:
                lab.write_instance_config(args.instance_config)
            print(lab.inventory)
            return 0
        if args.action == "down":
            Lab.attach(args.dir).down()
            return 0
        if args.action == "cut":
            Lab.attach(args.dir).cut(args.host)
            return 0
        lab = Lab.from_file(args.spec, args.dir)
        _teardown_on_signals(lab)
        if not command:
            parser.error("run needs a command after --")
        with lab:
            env = dict(os.environ, PORTPROOF_LAB_INVENTORY=lab.inventory, PORTPROOF_LAB_DIR=lab.workdir)
            return subprocess.call(command, env=env)
    except LabError as exc:
        print("lab: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
