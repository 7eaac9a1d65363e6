# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_podman_state: whether running podman would change the host, from Podman's files under a root.

The store layouts are those Podman 4.3.1 (Debian 12) leaves: ``overlay-containers/containers.json``
holds a list of containers, absent in a store that was never used; ``alive`` in ``tmp_dir``
once the runtime ran since boot.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._mappings import _podman_state

STORAGE_CONF = '# comment\n[storage]\ndriver = "overlay"\ngraphroot = "/srv/podman/root"  # custom\nrunroot = "/srv/podman/run"\n'
CONTAINERS_CONF = '[containers]\ntmp_dir = "/wrong"\n[engine]\nruntime = "runc"\ntmp_dir = "/srv/podman/tmp"\n'
ONE = '[{"id":"5f5bda13425d","names":["web"],"image":"7b29","layer":"a1b2","metadata":"{}","created":"2026-12-06T13:47:00Z"}]'


def _write(root, path, text):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def test_configuration_from_the_environment(tmp_path):
    _write(tmp_path, "/conf/storage.conf", STORAGE_CONF)
    _write(tmp_path, "/conf/containers.conf", CONTAINERS_CONF)
    env = {"CONTAINERS_STORAGE_CONF": "/conf/storage.conf", "CONTAINERS_CONF": "/conf/containers.conf"}
    assert _podman_state.storage_root(env, str(tmp_path)) == ("/srv/podman/root", "overlay")
    assert _podman_state.runtime_tmp_dir(env, str(tmp_path)) == "/srv/podman/tmp"


def test_defaults_without_configuration(tmp_path):
    assert _podman_state.storage_root({}, str(tmp_path)) == ("/var/lib/containers/storage", None)
    assert _podman_state.runtime_tmp_dir({}, str(tmp_path)) == "/run/libpod"


@pytest.mark.parametrize("store, alive, expected", [
    (None, False, "Podman's store /var/lib/containers/storage holds no container"),
    ("[]", True, "Podman's store /var/lib/containers/storage holds no container"),
    (ONE, False, "Podman's runtime has not run since boot (/run/libpod/alive is missing): no container runs"),
    (ONE, True, None),
    ("not json", True, None),  # podman itself says what is wrong
])
def test_nothing_to_read(tmp_path, monkeypatch, store, alive, expected):
    monkeypatch.setattr(_podman_state.os, "geteuid", lambda: 0)
    if store is not None:
        _write(tmp_path, "/var/lib/containers/storage/overlay-containers/containers.json", store)
    if alive:
        _write(tmp_path, "/run/libpod/alive", "")
    assert _podman_state.nothing_to_read({}, str(tmp_path)) == expected


def test_not_root_runs_podman(tmp_path, monkeypatch):
    monkeypatch.setattr(_podman_state.os, "geteuid", lambda: 1000)
    assert _podman_state.nothing_to_read({}, str(tmp_path)) is None
