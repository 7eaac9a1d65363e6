# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fact cache as a slice reads it (action/live_plan.py FactCache), over ansible-core's real jsonfile cache plugin in a
directory of the test: the facts another slice's Ansible cached, read fresh each round, and the mark of a host its
slice could not gather, kept beside the host's other facts; the in-memory cache refused."""

from __future__ import annotations

import os
import sys
import types

import pytest

from ansible import constants
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import cache_loader, lookup_loader
from ansible.template import Templar

from ansible_collections.portproof.validate.plugins.action.live_plan import FactCache
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import lost_marker

LOADERS = types.SimpleNamespace(cache_loader=cache_loader, lookup_loader=lookup_loader)


@pytest.fixture(autouse=True)
def collection_loader():
    """Ansible's collection loader, as every Ansible command installs it (plugins are loaded by their FQCN), for the test."""
    # pylint: disable-next=import-outside-toplevel
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
    import ansible_collections  # pylint: disable=import-outside-toplevel
    before = list(sys.meta_path), list(sys.path_hooks), dict(sys.modules)
    _AnsibleCollectionFinder(paths=[os.path.dirname(list(ansible_collections.__path__)[0])])._install()
    try:
        yield
    finally:
        sys.meta_path[:], sys.path_hooks[:] = before[0], before[1]
        sys.path_importer_cache.clear()
        for name in set(sys.modules) - set(before[2]):
            if name.startswith("ansible_collections.ansible"):
                del sys.modules[name]


def fact_cache():
    loader = DataLoader()
    return FactCache(LOADERS, loader, Templar(loader=loader))


@pytest.fixture(scope="module")
def jsonfile(tmp_path_factory):
    """The jsonfile cache in one directory for the module (ansible-core reads a plugin's settings once a process)."""
    directory = tmp_path_factory.mktemp("facts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANSIBLE_CACHE_PLUGIN", "ansible.builtin.jsonfile")
        patch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(directory))
        patch.setenv("ANSIBLE_CACHE_PLUGIN_PREFIX", "pp_")
        # ansible-core before 2.19: the config lookup answers the base settings from ansible.constants, read at import
        for name, value in (("CACHE_PLUGIN", "ansible.builtin.jsonfile"), ("CACHE_PLUGIN_CONNECTION", str(directory)),
                            ("CACHE_PLUGIN_PREFIX", "pp_")):
            patch.setattr(constants, name, value, raising=False)
        yield directory


def test_facts_another_slice_cached_are_read_fresh_each_round(jsonfile):
    cache = fact_cache()
    assert cache.name == "ansible.builtin.jsonfile"
    assert cache.read("db1") is None
    # what another slice's Ansible writes, as Ansible's own instance of the plugin does
    cache_loader.get("ansible.builtin.jsonfile").set("db1", {"portproof": {"run_id": "r0"}, "ansible_distribution": "Debian"})
    assert cache.read("db1") == {"run_id": "r0"}
    cache_loader.get("ansible.builtin.jsonfile").set("db1", {"portproof": {"run_id": "r1"}, "ansible_distribution": "Debian"})
    assert cache.read("db1") == {"run_id": "r0"}  # one instance keeps what it read
    cache.refresh()
    assert cache.read("db1") == {"run_id": "r1"}


def test_a_host_not_gathered_is_marked_beside_its_other_facts(jsonfile):
    cache = fact_cache()
    cache_loader.get("ansible.builtin.jsonfile").set("db2", {"ansible_distribution": "Debian"})
    marker = lost_marker("r1")
    cache.mark_lost("db2", marker)
    cache.mark_lost("db3", marker)
    # as Ansible's own instance of the plugin reads it back: the other facts kept
    assert cache_loader.get("ansible.builtin.jsonfile").get("db2") == {"ansible_distribution": "Debian", "portproof": marker}
    assert len([name for name in os.listdir(str(jsonfile)) if name.endswith("db2")]) == 1
    cache.refresh()
    assert cache.read("db3") == marker


def test_the_in_memory_cache_is_refused(monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN", "memory")
    monkeypatch.setattr(constants, "CACHE_PLUGIN", "memory", raising=False)  # before 2.19 (see jsonfile)
    with pytest.raises(AnsibleActionFail, match=r"^sliced run: the fact cache is Ansible's in-memory one, which the other slices cannot read"):
        fact_cache()
