# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The changelog fragments lint, and CHANGELOG.rst is what antsibull-changelog makes of them.

Until a version is published its fragments stay in changelogs/fragments (``keep_fragments``), and
``antsibull-changelog release --reload-plugins --refresh`` adds new fragments, edits and plugins to
the release of galaxy.yml's version. The test runs that command on a copy of the checkout and
compares the result with the committed changelog."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
REGENERATE = "antsibull-changelog release --reload-plugins --refresh"
# What antsibull-changelog reads: the collection's metadata, plugins and roles, and the changelog.
COPIED = ("galaxy.yml", "meta", "plugins", "roles", "playbooks", "changelogs", "CHANGELOG.rst")
GENERATED = ("CHANGELOG.rst", os.path.join("changelogs", "changelog.yaml"))


def run(argv, cwd):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    return subprocess.run([os.path.join(VENV_BIN, argv[0])] + list(argv[1:]), cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_fragments_lint():
    proc = run(["antsibull-changelog", "lint"], REPO)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_changelog_yaml_lints():
    proc = run(["antsibull-changelog", "lint-changelog-yaml", os.path.join("changelogs", "changelog.yaml")], REPO)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_release_is_the_galaxy_version():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    with open(os.path.join(REPO, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        releases = yaml.safe_load(handle)["releases"]
    assert version in releases
    assert "\nv%s\n%s\n" % (version, "=" * (len(version) + 1)) in read(os.path.join(REPO, "CHANGELOG.rst"))


def test_changelog_is_generated_from_the_fragments(tmp_path):
    copy = tmp_path / "validate"
    copy.mkdir()
    for name in COPIED:
        source = os.path.join(REPO, name)
        if os.path.isdir(source):
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif os.path.exists(source):
            shutil.copy2(source, copy / name)
    proc = run(REGENERATE.split(), str(copy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stale = [name for name in GENERATED
             if not os.path.exists(os.path.join(REPO, name)) or read(os.path.join(REPO, name)) != read(copy / name)]
    if stale:
        pytest.fail("%s not up to date with changelogs/fragments: run `%s` in the checkout and commit the result"
                    % (" and ".join(stale), REGENERATE), pytrace=False)
