# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running this checkout's Ansible against a lab, as a user of the collection would."""

from __future__ import annotations

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
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
