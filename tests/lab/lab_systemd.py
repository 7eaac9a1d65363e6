# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab host whose init system is systemd: a Podman container booting ``/lib/systemd/systemd`` as PID 1.

The ``systemd`` option of a lab host (see README.md)::

    systemd:
      units:                  # unit files written to /etc/systemd/system of the host
        api.service: |
          [Service]
          ExecStart={lab_service} --name api --listen tcp:0.0.0.0:8080
          [Install]
          WantedBy=multi-user.target
      enable: [api.service]   # `systemctl enable` before the host boots (so they start at boot)
      start: [batch.service]  # started once the host has booted, not enabled

The host's root file system is an overlay: the machine's ``/`` read-only below, the host's own
files above (``systemd-root/upper`` in the lab directory), so nothing the host or its sessions
write reaches the machine. Before the boot the lab masks, in that overlay, every unit the machine
itself enables (its own nginx, PostgreSQL, ssh, timers, SysV scripts...), sets ``multi-user.target`` as the
default target, writes the description's units and enables the lab's sshd unit
(``pplab-sshd.service``, ``UsePAM yes``, so logins get a ``session-N.scope`` from
systemd-logind as on a real host). The container (unprivileged, ``--systemd=always``, the
host's network namespace, the host's private Podman storage) is removed at tear-down like the
host's other containers, and the overlay is unmounted with the lab directory's mounts.

Placeholders in unit text: ``{lab_service}`` (the lab's service program, see lab_service.py),
``{python}``, ``{address}``/``{address6}`` (the host's own) and ``{address:HOST}``.
"""

from __future__ import annotations

import os
import re
import time

SYSTEMD_KEYS = {"units", "enable", "start"}
CONTAINER = "pplab-systemd"
_UNIT_NAME = re.compile(r"^[A-Za-z0-9@_.\-]+\.(service|socket|target|timer|path)$")
_SSHD_UNIT = "pplab-sshd.service"
BOOT_TIMEOUT = 60.0

# This directory: the lab service program the units run is in it.
HERE = os.path.dirname(os.path.abspath(__file__))


def validate_host(host, error):
    """Check a host's ``systemd`` option; ``error(message)`` raises."""
    if "systemd" not in host:
        return
    options = host["systemd"]
    where = "%s.systemd" % host["name"]
    if not isinstance(options, dict):
        error("%s must be a mapping" % where)
    unknown = set(options) - SYSTEMD_KEYS
    if unknown:
        error("%s: unknown keys %s" % (where, sorted(unknown)))
    units = options.get("units", {})
    if not isinstance(units, dict) or not all(isinstance(k, str) and _UNIT_NAME.match(k) and isinstance(v, str)
                                              for k, v in units.items()):
        error("%s.units must map unit names (NAME.service, NAME.socket...) to unit file text" % where)
    for key in ("enable", "start"):
        names = options.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and _UNIT_NAME.match(n) for n in names):
            error("%s.%s must be a list of unit names" % (where, key))
    for key in ("services", "daemons", "containers", "firewalld", "ufw"):
        if host.get(key):
            error("%s: a systemd host runs its services as units; '%s' is not supported there" % (host["name"], key))
    sshd = host.get("sshd", {})
    if set(sshd) - {"env", "password_auth"}:
        error("%s: a systemd host supports sshd options env and password_auth only" % host["name"])


def sshd_unit(hdir, config):
    return ("[Unit]\nDescription=portproof lab sshd\nAfter=network.target\n\n"
            "[Service]\nRuntimeDirectory=sshd\nExecStart=/usr/sbin/sshd -D -f %s -E %s\n\n"
            "[Install]\nWantedBy=multi-user.target\n" % (config, os.path.join(hdir, "sshd.log")))


def prepare_root(lab, name, run):
    """Mount the host's root overlay and write its units; returns the merged root."""
    entry = lab.host(name)
    base = lab.path("systemd-" + name)
    upper, work, root = (os.path.join(base, sub) for sub in ("upper", "work", "root"))
    for directory in (upper, work, root):
        os.makedirs(directory)
    run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=/,upperdir=%s,workdir=%s" % (upper, work), root])
    entry["systemd_root"] = root
    lab.save()
    etc = os.path.join(root, "etc", "systemd", "system")
    # Mask what the machine enables for itself: the host boots with the lab's units only.
    masked = set()
    for wants in os.listdir("/etc/systemd/system"):
        directory = os.path.join("/etc/systemd/system", wants)
        if wants.endswith((".wants", ".requires")) and os.path.isdir(directory):
            masked.update(unit for unit in os.listdir(directory) if not unit.endswith(".target"))
    for runlevel in ("2", "3", "4", "5", "S"):  # SysV scripts systemd would run through its generator
        directory = "/etc/rc%s.d" % runlevel
        if os.path.isdir(directory):
            # a script with a native unit of its name (dbus...) is that unit, which the machine enables or not above
            masked.update(link[3:] + ".service" for link in os.listdir(directory) if re.match(r"^S\d\d", link)
                          and not os.path.exists("/lib/systemd/system/%s.service" % link[3:]))
    for unit in sorted(masked):
        path = os.path.join(etc, unit)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink("/dev/null", path)
    # root's shell start-up files of the machine (a pyenv that rehashes under a lock...) are not the host's
    for name_ in (".bashrc", ".profile"):
        with open(os.path.join(root, "root", name_), "w") as handle:
            handle.write("# portproof lab systemd host\n")
    default = os.path.join(etc, "default.target")
    if os.path.lexists(default):
        os.unlink(default)
    os.symlink("/lib/systemd/system/multi-user.target", default)
    return root


def up(lab, name, host, sshd_config, run):
    """Boot the host's systemd container in its network namespace; returns once its sshd unit runs."""
    entry = lab.host(name)
    options = host.get("systemd", {})
    root = prepare_root(lab, name, run)
    etc = os.path.join(root, "etc", "systemd", "system")
    units = dict(options.get("units", {}))
    units[_SSHD_UNIT] = sshd_unit(entry["dir"], sshd_config)
    for unit, text in units.items():
        with open(os.path.join(etc, unit), "w") as handle:
            handle.write(render(lab, name, text))
    for unit in [_SSHD_UNIT] + list(options.get("enable", [])):
        run(["systemctl", "--root=" + root, "--quiet", "enable", unit])
    argv = ["run", "-d", "--name", CONTAINER, "--hostname", name, "--systemd=always",
            "--network", "ns:/run/netns/" + entry["netns"],
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=512:512",
            "--tmpfs", "/tmp:rw,notmpcopyup", "--tmpfs", "/run:rw,notmpcopyup",
            "-v", "%s:%s" % (entry["dir"], entry["dir"]),
            "-v", "%s:%s:ro" % (lab.path("id_ed25519.pub"), lab.path("id_ed25519.pub")),
            # the lab's service program, where the units name it: a checkout under /tmp is hidden by the tmpfs above
            "-v", "%s:%s:ro" % (HERE, HERE),
            "--rootfs", root, "/lib/systemd/systemd"]
    entry["containers"].append(CONTAINER)
    lab.save()
    lab.podman(name, argv)
    state = wait_booted(lab, name)
    for unit in options.get("start", []):
        systemctl(lab, name, ["start", unit])
    return state


def wait_booted(lab, name, timeout=BOOT_TIMEOUT):
    """Wait (bounded) until the host's boot is over and the lab's sshd unit is active."""
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        proc = lab.podman(name, ["exec", CONTAINER, "systemctl", "is-system-running"], check=False)
        last = (proc.stdout + proc.stderr).strip()
        if last in ("running", "degraded"):
            active = lab.podman(name, ["exec", CONTAINER, "systemctl", "is-active", _SSHD_UNIT], check=False)
            if active.stdout.strip() == "active":
                return last
        time.sleep(0.2)
    failed = lab.podman(name, ["exec", CONTAINER, "systemctl", "--failed", "--no-legend", "--plain"], check=False)
    raise lab.Error("systemd host %s did not finish booting within %.0f s (state %r; failed units: %s)"
                    % (name, timeout, last, failed.stdout.strip() or "none"))


def systemctl(lab, name, args, check=True):
    """Run systemctl as the host's own init system sees it (through ``podman exec``)."""
    return lab.podman(name, ["exec", CONTAINER, "systemctl"] + list(args), check=check)


def render(lab, name, text):
    entry = lab.host(name)
    text = text.replace("{lab_service}", "/usr/bin/python3 " + os.path.join(HERE, "lab_service.py"))
    text = text.replace("{python}", "/usr/bin/python3").replace("{address}", entry["address"])
    if entry.get("address6"):
        text = text.replace("{address6}", entry["address6"])
    return lab.render(text)
