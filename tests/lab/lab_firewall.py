# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Firewall managers on a lab host: ipset sets, ufw and firewalld, each the host's own.

Used by the lab tool (``portproof_lab.py``) for the host keys ``ipset``, ``ufw`` and
``firewalld``. Everything started here is recorded in the lab's state (pids, directories) and
removed by the lab's tear-down.

- ufw keeps its configuration in ``/etc/ufw`` and ``/etc/default/ufw``: ``ip netns exec`` bind
  mounts ``/etc/netns/NETNS/<entry>`` over ``/etc/<entry>``, so each host gets its own copy
  (``sysctl.conf`` emptied: ufw changes no kernel setting) and its commands write the host's
  own rules.
- firewalld needs a system D-Bus: each host gets a private ``dbus-daemon`` listening on an
  abstract socket of the host's network namespace, and ``firewalld --nofork`` reading a copy
  of ``/etc/firewalld`` (plus the files the description gives) from the host's directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time

ETC_NETNS = "/etc/netns"
# An abstract unix socket belongs to its network namespace: one name serves every host.
FIREWALLD_BUS = "unix:abstract=portproof-lab-system-bus"
FIREWALLD_KEYS = {"files", "commands"}
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def _argv(command):
    """A command as the description gives it: a list is argv, a string is split like a shell would."""
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def validate_host(host, error):
    """Check the ipset/ufw/firewalld keys of one host description; ``error(msg)`` raises."""
    name = host["name"]
    if "ipset" in host and not isinstance(host["ipset"], str):
        error("%s.ipset must be ipset-restore text" % name)
    if "ufw" in host and not (isinstance(host["ufw"], list) and all(isinstance(c, (str, list)) for c in host["ufw"])):
        error("%s.ufw must be a list of ufw commands" % name)
    spec = host.get("firewalld")
    if spec is None:
        return
    if not isinstance(spec, dict) or set(spec) - FIREWALLD_KEYS:
        error("%s.firewalld must be a mapping with the keys %s" % (name, sorted(FIREWALLD_KEYS)))
    for path in (spec.get("files") or {}):
        if os.path.isabs(path) or ".." in path.split("/"):
            error("%s.firewalld.files: %s must be a path inside the firewalld configuration directory" % (name, path))
    if not all(isinstance(c, (str, list)) for c in spec.get("commands") or []):
        error("%s.firewalld.commands must be a list of firewall-cmd argument lists or strings" % name)


def ufw_up(lab, name, commands):
    """Give the host its own ufw configuration, then run the ufw commands in order inside it."""
    entry = lab.host(name)
    if not os.path.isdir(ETC_NETNS):
        os.makedirs(ETC_NETNS)
        lab.state["made_etc_netns"] = True
    etc = os.path.join(ETC_NETNS, entry["netns"])
    if os.path.exists(etc):
        raise lab.Error("%s exists already: not the lab's, left alone" % etc)
    os.mkdir(etc)
    entry["etc_netns"] = etc
    lab.save()
    shutil.copytree("/etc/ufw", os.path.join(etc, "ufw"), symlinks=True)
    shutil.copytree("/etc/default", os.path.join(etc, "default"), symlinks=True)
    with open(os.path.join(etc, "ufw", "sysctl.conf"), "w"):
        pass
    for command in commands:
        lab.ns(name, ["ufw"] + [lab.render(part) for part in _argv(command)])


def ufw_down(lab, entry):
    """Remove the host's ufw files (after its namespace is gone); returns what could not be removed."""
    etc = entry.get("etc_netns")
    if not etc:
        return []
    if os.path.dirname(etc) != ETC_NETNS or os.path.basename(etc) != entry["netns"]:
        return ["%s is not the lab's ufw directory of %s; left alone" % (etc, entry["netns"])]
    shutil.rmtree(etc, ignore_errors=True)
    entry["etc_netns"] = None
    if lab.state.get("made_etc_netns"):
        try:
            os.rmdir(ETC_NETNS)  # only when empty: other tools may use it too
        except OSError:
            pass
    return ["%s could not be removed" % etc] if os.path.exists(etc) else []


def _start(lab, name, argv, log, env=None):
    with open(log, "a") as handle:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle, env=env,
                                start_new_session=True)
    lab.state["processes"].append(proc.pid)
    lab.host(name).setdefault("firewalld_pids", []).append(proc.pid)
    lab.save()
    return proc


def _wait(lab, what, proc, log, check, deadline=60.0):
    end = time.monotonic() + deadline
    while True:
        if check():
            return
        if proc.poll() is not None or time.monotonic() > end:
            with open(log) as handle:
                raise lab.Error("%s did not come up: %s" % (what, handle.read()[-2000:]))
        time.sleep(0.2)


def firewalld_up(lab, name, spec):
    """Start the host's private D-Bus and firewalld with the given files, then run the firewall-cmd commands."""
    entry = lab.host(name)
    fdir = os.path.join(entry["dir"], "firewalld")
    config = os.path.join(fdir, "etc")
    os.makedirs(fdir)
    shutil.copytree("/etc/firewalld", config, symlinks=True)
    for path, content in sorted((spec.get("files") or {}).items()):
        target = os.path.join(config, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as handle:
            handle.write(lab.render(content))
    with open(os.path.join(fdir, "bus.conf"), "w") as handle:
        handle.write(_BUS_CONFIG % FIREWALLD_BUS)
    netns = ["ip", "netns", "exec", entry["netns"]]
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=FIREWALLD_BUS)
    log = os.path.join(fdir, "dbus.log")
    bus = _start(lab, name, netns + ["dbus-daemon", "--config-file=" + os.path.join(fdir, "bus.conf"), "--nofork",
                                     "--nopidfile"], log)
    _wait(lab, "the D-Bus of lab host %s" % name, bus, log,
          lambda: lab.ns(name, ["ss", "-H", "-xl"], check=False).stdout.find("@portproof-lab-system-bus") >= 0)
    log = os.path.join(fdir, "firewalld.log")
    daemon = _start(lab, name, netns + ["firewalld", "--nofork", "--nopid", "--system-config", config,
                                        "--log-target", "file", "--log-file", log], log, env=env)
    state = netns + ["firewall-cmd", "--state"]
    _wait(lab, "firewalld of lab host %s" % name, daemon, log,
          lambda: subprocess.run(state, capture_output=True, env=env, check=False, timeout=30).returncode == 0)
    for command in spec.get("commands") or []:
        lab.ns(name, ["env", "DBUS_SYSTEM_BUS_ADDRESS=" + FIREWALLD_BUS, "firewall-cmd"] + [lab.render(p) for p in _argv(command)])
