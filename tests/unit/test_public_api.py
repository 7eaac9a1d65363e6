# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plugins use ansible-core only through its public interface, which every supported release
(meta/runtime.yml: requires_ansible) has: no private package (ansible._internal), no module whose
classes change between minor releases (ansible.vars.hostvars: HostVarsVars took a new argument in
2.19), no raw_get of hostvars (the raw variables of a host, a method of the HostVars class)."""

from __future__ import annotations

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(REPO, "plugins")
# What the plugins may import from ansible-core: documented for plugin and module authors.
PUBLIC = (
    "ansible.errors",
    "ansible.module_utils.",
    "ansible.plugins.action",
    "ansible.plugins.filter",
    "ansible.plugins.lookup",
    "ansible.utils.display",
)
PRIVATE_ATTRIBUTES = {"raw_get"}


def _sources():
    for top, _dirs, files in os.walk(PLUGINS):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(top, name)


def internals(path):
    """[(line, what)] of PATH's uses of ansible-core outside of PUBLIC, and of PRIVATE_ATTRIBUTES."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if (name == "ansible" or name.startswith("ansible.")) and not any(
                    name == public or (public.endswith(".") and name.startswith(public)) for public in PUBLIC):
                found.append((node.lineno, "import of %s" % name))
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            found.append((node.lineno, "attribute %s" % node.attr))
    return found


def test_the_plugins_use_only_the_public_interface_of_ansible_core():
    found = dict((os.path.relpath(path, REPO), internals(path)) for path in _sources())
    assert dict((path, uses) for path, uses in found.items() if uses) == {}


def test_the_check_catches_an_internal(tmp_path):
    source = tmp_path / "action.py"
    source.write_text("from ansible.vars.hostvars import HostVarsVars\nimport ansible._internal._templating\n"
                      "from ansible.module_utils.basic import AnsibleModule\n\ndef f(h):\n    return h.raw_get('x')\n")
    assert internals(str(source)) == [(1, "import of ansible.vars.hostvars"), (2, "import of ansible._internal._templating"),
                                      (6, "attribute raw_get")]
