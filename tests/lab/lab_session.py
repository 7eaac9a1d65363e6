# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a lab host's SSH sessions see: their environment, hidden commands, an unprivileged login.

The ``sshd`` options of a lab host (see README.md):

- ``env``: variables set for the host's sessions (``SetEnv``), for example ``PATH`` with a
  directory of wrappers first, or a locale;
- ``hide``: commands the host's sessions do not have. The host's sshd runs in a mount namespace
  of its own (``unshare --mount --propagation slave``: later mounts of the machine, such as the network
  namespaces Podman mounts under ``/run/netns``, still reach it) in which the file behind each command
  (symlinks resolved, in the usual bin directories) is covered by a bind mount of ``/dev/null``:
  not executable, so a lookup skips it and running it fails. Nothing outside that sshd and its
  sessions sees the mounts, and they end with it;
- ``pid_max``: the host's sshd runs in a PID namespace of its own (``unshare --pid --fork
  --kill-child --mount-proc``, so its sessions' ``/proc`` shows that namespace only), whose
  ``kernel.pid_max`` is set to this number (per namespace since Linux 6.14; at least 301): pids
  wrap after a few hundred processes. Everything started in the sessions ends with that sshd;
- ``etc``: files the host's sessions see under ``/etc`` instead of the machine's (for example
  ``hosts``, ``resolv.conf``, ``iptables/rules.v4``, ``nftables.conf``), path relative to ``/etc``
  mapped to the file's text (``{address:HOST}`` works there). The host's sshd runs in a mount
  namespace of its own in which an overlay covers ``/etc``: the machine's ``/etc`` below, the
  host's files (written to ``etc-upper/`` in the host's directory) above. Every other file reads
  through; what a session writes under ``/etc`` lands in the host's directory, never on the machine;
- ``unprivileged_user``: Ansible logs in as a system user the lab creates for the host
  (``pp<lab id>u<number>``, shell ``/bin/sh``, home a fresh directory in ``/tmp``) and removes
  with its home at tear-down.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import tempfile

SSHD_KEYS = {"password_auth", "env", "hide", "unprivileged_user", "pid_max", "etc"}
BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# Covering these would break the sessions themselves (login shell, sshd re-exec, Python, the wrapper).
_NEEDED = ("/bin/sh", "/usr/sbin/sshd", "/usr/bin/python3", "/usr/bin/nsenter", "/usr/bin/unshare", "/usr/bin/mount")
_HIDE_SCRIPT = 'while [ "$1" != -- ]; do mount --bind /dev/null "$1" || exit 1; shift; done; shift; exec "$@"'
_ETC_SCRIPT = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0/etc-upper,workdir=$0/etc-work" /etc || exit 1; exec "$@"'
_PID_SCRIPT = 'echo "$0" > /proc/sys/kernel/pid_max || exit 1; exec "$@"'
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_VALUE = re.compile(r"^[^\s\"'\\]*$")


def validate_host(host, error):
    """Check a host's ``sshd`` options; ``error(message)`` raises."""
    options = host.get("sshd", {})
    where = "%s.sshd" % host["name"]
    if not isinstance(options, dict):
        error("%s must be a mapping" % where)
    unknown = set(options) - SSHD_KEYS
    if unknown:
        error("%s: unknown keys %s" % (where, sorted(unknown)))
    env = options.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and _ENV_NAME.match(k) and isinstance(v, str)
                                            and _ENV_VALUE.match(v) for k, v in env.items()):
        error("%s.env must map variable names to values without spaces or quotes" % where)
    pid_max = options.get("pid_max")
    if pid_max is not None and (not isinstance(pid_max, int) or isinstance(pid_max, bool) or not 301 <= pid_max <= 4194304):
        error("%s.pid_max must be a number of pids from 301 to 4194304" % where)
    etc = options.get("etc", {})
    if not isinstance(etc, dict) or not all(
            isinstance(k, str) and k and not k.startswith("/") and ".." not in k.split("/") and isinstance(v, str)
            for k, v in etc.items()):
        error("%s.etc must map paths relative to /etc (no leading / and no ..) to file texts" % where)
    hide = options.get("hide", [])
    if not isinstance(hide, list) or not all(isinstance(n, str) and n and "/" not in n for n in hide):
        error("%s.hide must be a list of command names" % where)
    for name in hide:
        for path in hidden_files([name]):
            if path in [os.path.realpath(p) for p in _NEEDED]:
                error("%s.hide: %s is %s, which the sessions need" % (where, name, path))


def hidden_files(names):
    """The files behind the commands NAMES in the bin directories, symlinks resolved, each once."""
    files = []
    for name in names:
        for directory in BIN_DIRS:
            path = os.path.join(directory, name)
            if os.path.lexists(path):
                real = os.path.realpath(path)
                if os.path.isfile(real) and real not in files:
                    files.append(real)
    return files


def etc_up(hdir, options, render):
    """Write the host's ``etc`` files (texts passed through RENDER) below HDIR/etc-upper."""
    for relative, text in sorted(options.get("etc", {}).items()):
        path = os.path.join(hdir, "etc-upper", relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(render(text))
    os.makedirs(os.path.join(hdir, "etc-upper"), exist_ok=True)
    os.makedirs(os.path.join(hdir, "etc-work"), exist_ok=True)


def sshd_argv(argv, options, hdir=None):
    """ARGV (the sshd command) in a mount namespace of its own that covers the hidden commands and
    overlays the host's ``etc`` files (from HDIR), and in a PID namespace of its own with ``pid_max``."""
    if options.get("etc"):
        if hdir is None:
            raise ValueError("sshd option etc needs the host's directory")
        # slave: the network namespaces Podman mounts under /run/netns later still reach the sessions
        argv = ["unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c", _ETC_SCRIPT, hdir] + list(argv)
    files = hidden_files(options.get("hide", []))
    if files:
        argv = ["unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c", _HIDE_SCRIPT, "sh"] + files + ["--"] + list(argv)
    if options.get("pid_max"):
        argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "--mount-proc",
                "/bin/sh", "-c", _PID_SCRIPT, str(options["pid_max"])] + list(argv)
    return argv


def env_words(options):
    return ["%s=%s" % (name, value) for name, value in sorted(options.get("env", {}).items())]


def user_up(lab, name, number, run):
    """Create the host's unprivileged login user; returns its sshd AuthorizedKeysFile entry."""
    entry = lab.host(name)
    user = "pp%su%d" % (lab.state["id"], number)
    home = tempfile.mkdtemp(prefix="pplab-%s-" % user)
    entry["user_home"] = home
    lab.save()
    run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh",
         "--password", "*", user])
    entry["user"] = user
    lab.save()
    keys = os.path.join(home, "authorized_keys")
    shutil.copyfile(lab.path("id_ed25519.pub"), keys)
    record = pwd.getpwnam(user)
    for path in (home, keys):
        os.chown(path, record.pw_uid, record.pw_gid)
    os.chmod(home, 0o700)
    return keys


def user_down(entry, run):
    """Remove the host's login user (its processes have ended) and its home; the errors, if any."""
    errors = []
    user = entry.get("user")
    if user:
        proc = run(["userdel", user], check=False)
        if proc.returncode != 0:
            errors.append("user %s could not be deleted: %s" % (user, proc.stderr.strip()))
        else:
            entry["user"] = None
    if entry.get("user_home"):
        shutil.rmtree(entry["user_home"], ignore_errors=True)
        entry["user_home"] = None
    return errors
