# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running this checkout's Ansible against a lab, as a user of the collection would."""

from __future__ import annotations

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The virtualenv whose Ansible runs: the project's .venv, or PORTPROOF_ANSIBLE_VENV (an older ansible-core's, such as
# .venv-2.17, made by scripts/bootstrap; relative to this checkout).
VENV_BIN = os.path.join(REPO, os.environ.get("PORTPROOF_ANSIBLE_VENV") or ".venv", "bin")
COLLECTIONS = os.path.join(REPO, ".build", "collections")


def collections_path():
    """A collections path holding this checkout as portproof.validate (a link, made once)."""
    link = os.path.join(COLLECTIONS, "ansible_collections", "portproof", "validate")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(REPO, os.path.dirname(link)), link)
    return COLLECTIONS


def ansible_env(lab=None, **extra):
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = collections_path()
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_DEPRECATION_WARNINGS"] = "False"
    if lab is not None:
        env["PORTPROOF_LAB_DIR"] = lab.workdir
    env.update(extra)
    return env


def ansible(lab, argv, **kwargs):
    """Run an ansible command (argv[0] from the project venv) against the lab's inventory."""
    cmd = [os.path.join(VENV_BIN, argv[0]), "-i", lab.inventory] + list(argv[1:])
    return subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(lab), check=False, **kwargs)


def module_result(lab, host, module, args="", extra=(), tree_dir=None):
    """Run one module on one lab host with `ansible`; return its result (the tree callback's JSON)."""
    import json
    import tempfile
    tree = tree_dir or tempfile.mkdtemp(prefix="pptree-", dir=lab.workdir)
    env = ansible_env(lab, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                      ANSIBLE_CALLBACK_TREE_DIR=tree)
    cmd = [os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, host, "-m", module] + (["-a", args] if args else []) \
        + list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    path = os.path.join(tree, host)
    if not os.path.exists(path):
        raise AssertionError("no result from %s on %s:\n%s%s" % (module, host, proc.stdout, proc.stderr))
    with open(path) as handle:
        return json.load(handle)


def timed(argv, env):
    """(seconds, stdout) of a command that must succeed: how the benchmarks time playbook runs."""
    import time
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(argv), proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, proc.stdout


def command_wrappers(directory, scripts):
    """A directory of shell scripts {name: body} to put first on a lab host's PATH (sshd env), standing in for
    the real commands of those names (a tool that hangs or fails)."""
    os.makedirs(directory)
    for name, body in scripts.items():
        path = os.path.join(directory, name)
        with open(path, "w") as handle:
            handle.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
    return directory
