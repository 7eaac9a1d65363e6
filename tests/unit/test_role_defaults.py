# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each role's variables have one source of truth, and the public roles are the ones the docs name.

- ``defaults/main.yml`` of every role holds every option of its argument specs (every entry point)
  with exactly the spec's default, and nothing else (dev-sec's hardening roles do this).
- A variable that several roles (or entry points) read has one type, default, choices, elements and
  description everywhere.
- No role task file gives a role variable an inline ``default()`` that could disagree with the spec.
- The public roles are validate, baseline, report and discover; validate, report and discover with the one entry point
  ``main``; the others are deprecated wrappers, and say so.
- A wrong kind in ``portproof_checks`` fails before anything runs, naming it (``ansible-playbook`` on
  the implicit localhost: the argument validation is the role's first task).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, "roles", "*")) if os.path.isdir(path))
PUBLIC = {"validate": ["main"], "baseline": ["drift", "main"], "report": ["main", "merge"], "discover": ["main"], "restart_drill": ["main"]}
DEPRECATED = {"listeners", "firewall", "mappings", "reachability", "endpoints"}
KEYS = ("type", "default", "choices", "elements", "description")
# an option's default when its spec gives none (Ansible's role argument validation)
NO_DEFAULT = None


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def specs(role):
    return _load(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml"))["argument_specs"]


def spec_defaults(role):
    """{variable: default} over every entry point of ROLE, and the entry points that disagree."""
    found, clashes = {}, []
    for entry, spec in sorted(specs(role).items()):
        for name, option in (spec.get("options") or {}).items():
            default = option.get("default", NO_DEFAULT)
            if name in found and found[name] != default:
                clashes.append("%s: %s has default %r in %s and %r before" % (role, name, default, entry, found[name]))
            found.setdefault(name, default)
    return found, clashes


def test_every_role_is_checked():
    assert ROLES == sorted(set(PUBLIC) | DEPRECATED)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_equal_the_argument_specs(role):
    expected, clashes = spec_defaults(role)
    assert clashes == []
    defaults = _load(os.path.join(REPO, "roles", role, "defaults", "main.yml"))
    missing = sorted(set(expected) - set(defaults))
    extra = sorted(set(defaults) - set(expected))
    differ = ["%s: defaults %r, spec %r" % (name, defaults[name], expected[name])
              for name in sorted(set(defaults) & set(expected))
              if (defaults[name], type(defaults[name])) != (expected[name], type(expected[name]))]
    assert (missing, extra, differ) == ([], [], []), "defaults/main.yml of %s: missing %s, not in the spec %s, differ %s" % (
        role, missing, extra, differ)


def test_shared_variables_are_described_once():
    seen, problems = {}, []
    for role in ROLES:
        for entry, spec in sorted(specs(role).items()):
            for name, option in (spec.get("options") or {}).items():
                shape = dict((key, option.get(key)) for key in KEYS)
                where = "%s (%s)" % (role, entry)
                if name not in seen:
                    seen[name] = (where, shape)
                elif seen[name][1] != shape:
                    first, known = seen[name]
                    problems.append("%s: %s differs from %s in %s" % (
                        name, where, first, [key for key in KEYS if known[key] != shape[key]]))
    assert problems == []


INLINE_DEFAULT = re.compile(r"\b(portproof_\w+)\s*\|\s*default\s*\(")


def test_no_inline_default_for_a_role_variable():
    variables = set()
    for role in ROLES:
        variables |= set(spec_defaults(role)[0])
    found = []
    for path in sorted(glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                for name in INLINE_DEFAULT.findall(line):
                    if name in variables:
                        found.append("%s:%d: %s" % (os.path.relpath(path, REPO), number, name))
    assert found == []


def test_public_roles_and_their_entry_points():
    for role in ROLES:
        entries = specs(role)
        if role in PUBLIC:
            assert sorted(entries) == PUBLIC[role], role
        else:
            assert sorted(entries) == ["main"], role
        for entry, spec in entries.items():
            deprecated = role in DEPRECATED or (role, entry) == ("baseline", "drift")
            assert spec["short_description"].startswith("Deprecated") == deprecated, (role, entry)
            assert spec["description"][0].startswith("Deprecated: use the role C(portproof.validate.validate)") == deprecated, (
                role, entry)
        with open(os.path.join(REPO, "roles", role, "README.md"), encoding="utf-8") as handle:
            assert ("**Deprecated**" in handle.read()) == (role in DEPRECATED), role


def test_validate_chooses_every_kind_by_default():
    """Every kind but persist, which is chosen on purpose (docs/reboot.md: it needs a saved firewall in a covered format)."""
    option = specs("validate")["main"]["options"]["portproof_checks"]
    kinds = ["listen", "bind", "process", "undeclared", "firewall_allow", "firewall_deny", "mapping", "persist",
             "reach", "isolation", "response", "tls", "protocol", "load", "dns", "drift"]
    opt_in = ["persist"]
    assert (option["type"], option["elements"], option["choices"]) == ("list", "str", kinds)
    assert option["default"] == [kind for kind in kinds if kind not in opt_in]


def test_a_wrong_kind_is_refused_naming_it(tmp_path):
    """Runs on the implicit localhost with no contract: the role's argument validation must stop the
    run before its first own task (which would refuse the play for declaring no service)."""
    import ansible_collections.portproof.validate as collection  # pylint: disable=import-outside-toplevel
    root = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "A typo in portproof_checks", "hosts": "localhost", "gather_facts": False,
        "vars": {"portproof_checks": ["listen", "firewal_allow"]},
        "roles": [{"role": "portproof.validate.validate"}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=root, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert re.search(r"portproof_checks must be one or more of: listen, bind, .*mapping, persist, .*dns, drift\. "
                     r"Got no match for: firewal_allow", output), output
    assert "declares a service" not in output, output
