# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""execution-environment.yml: ansible-builder (the pinned one) accepts it and builds a context from
the collection's own requirements.txt and bindep.txt, whose default profile holds what a controller
needs and whose profile "test" holds the lab's packages; scripts/bootstrap still reads bindep.txt."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def read(*parts):
    with open(os.path.join(*parts)) as handle:
        return handle.read()


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The build context `ansible-builder create` makes from the repository's execution-environment.yml."""
    out = str(tmp_path_factory.mktemp("ee") / "context")
    proc = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", os.path.join(REPO, "execution-environment.yml"),
                           "-c", out, "--output-filename", "Containerfile"], capture_output=True, text=True, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Complete! The build context can be found at: %s" % out in proc.stdout
    return out


def test_the_definition_is_version_3_with_the_collections_requirements():
    definition = yaml.safe_load(read(REPO, "execution-environment.yml"))
    assert definition["version"] == 3
    assert definition["dependencies"]["python"] == "requirements.txt"
    assert definition["dependencies"]["system"] == "bindep.txt"
    assert definition["dependencies"]["galaxy"] == {"collections": [
        {"name": "portproof.validate", "version": ">=0.1.0"}, {"name": "community.general", "version": ">=11.4.0,<12.0.0"}]}
    pinned = re.search(r"^ansible-core==(\S+)$", read(REPO, "requirements.txt"), re.M).group(1)
    assert definition["dependencies"]["ansible_core"] == {"package_pip": "ansible-core==%s" % pinned}


def test_the_context_holds_the_collections_requirements_and_bindep(context):
    assert read(context, "_build", "requirements.txt") == read(REPO, "requirements.txt")
    assert read(context, "_build", "bindep.txt") == read(REPO, "bindep.txt")
    assert yaml.safe_load(read(context, "_build", "requirements.yml")) == {
        "collections": [{"name": "portproof.validate", "version": ">=0.1.0"},
                        {"name": "community.general", "version": ">=11.4.0,<12.0.0"}]}
    containerfile = read(context, "Containerfile")
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile


def test_the_build_finds_the_collections_own_requirements(context, tmp_path):
    """The context's introspect script (run in the build on the installed collections) reads this collection's files."""
    collections = tmp_path / "collections" / "ansible_collections" / "portproof"
    collections.mkdir(parents=True)
    os.symlink(REPO, str(collections / "validate"))
    pip, bindep = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    proc = subprocess.run([sys.executable, os.path.join(context, "_build", "scripts", "introspect.py"), "introspect",
                           str(tmp_path / "collections"), "--write-pip=%s" % pip, "--write-bindep=%s" % bindep],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert pip.read_text().splitlines() == ["jmespath==1.1.0  # from collection portproof.validate",
                                            "netaddr==1.3.0  # from collection portproof.validate",
                                            "paramiko==5.1.0  # from collection portproof.validate",
                                            "redis==8.2.0  # from collection portproof.validate"]
    lines = bindep.read_text().splitlines()
    assert lines[:2] == ["openssh-client [platform:dpkg]  # from collection portproof.validate",
                         "openssh-clients [platform:rpm]  # from collection portproof.validate"]
    assert len(lines) == len([line for line in read(REPO, "bindep.txt").splitlines() if line and not line.startswith("#")])


def _packages(profiles):
    from bindep.depends import Depends  # pylint: disable=import-outside-toplevel
    depends = Depends(read(REPO, "bindep.txt"))
    return sorted(rule[0] for rule in depends.active_rules(profiles))


@pytest.mark.parametrize("profiles, packages", [
    (["default", "platform:dpkg", "platform:debian"], ["openssh-client"]),
    (["default", "platform:rpm", "platform:redhat"], ["openssh-clients"]),
    (["test", "platform:rpm", "platform:redhat"], ["openssh-clients"]),  # an entry without a profile is in every profile
])
def test_bindep_profiles(profiles, packages):
    assert _packages(profiles) == packages


def test_scripts_bootstrap_installs_every_debian_entry():
    script = read(REPO, "scripts", "bootstrap")
    line = re.search(r"^mapfile -t pkgs < <\((.*?)\)$", script, re.M | re.S).group(1).replace("\\\n", " ")
    proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True, cwd=REPO)
    debian = sorted(set(_packages(["default", "platform:dpkg", "platform:debian"]) + _packages(["test", "platform:dpkg", "platform:debian"])))
    assert sorted(proc.stdout.split()) == debian
    assert "openssh-clients" not in proc.stdout.split()
    assert {"iptables", "nftables", "podman", "openssh-server"} <= set(debian)
