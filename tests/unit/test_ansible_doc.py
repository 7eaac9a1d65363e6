# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-doc shows every module, filter and role of the collection, completely documented.

The plugins and roles are listed with ``ansible-doc -l`` (so new ones are picked up), then each
one's documentation is read with ``ansible-doc --json``, as a user would see it."""

from __future__ import annotations

import glob
import importlib
import json
import os
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
COLLECTION = "portproof.validate"
PLUGIN_TYPES = ("module", "filter")
# task files of a role that are not entry points: the steps of the role validate, private to the collection's roles
PRIVATE_TASKS = {"validate": ("checks", "drift", "fail", "gather", "live", "record", "slice"), "restart_drill": ("drill",)}


def ansible_env(**extra):
    """ansible-doc's environment: this checkout as the only portproof.validate (a link, made once)."""
    collections = os.path.join(REPO, ".build", "collections")
    link = os.path.join(collections, "ansible_collections", "portproof", "validate")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(REPO, os.path.dirname(link)), link)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR="1", **extra)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def ansible_doc(*argv):
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-doc")] + list(argv), capture_output=True, text=True,
                          env=ansible_env(ANSIBLE_DEPRECATION_WARNINGS="True"), check=False)
    assert proc.returncode == 0, "ansible-doc %s failed:\n%s%s" % (" ".join(argv), proc.stdout, proc.stderr)
    # Any warning or deprecation about our documentation is a defect too.
    assert "[WARNING]" not in proc.stderr and "[DEPRECATION WARNING]" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def listed(plugin_type):
    return sorted(ansible_doc("-t", plugin_type, "--json", "-l", COLLECTION))


@pytest.fixture(scope="module")
def docs():
    """{type: {fqcn: ansible-doc --json output}} for every plugin and role that ansible-doc lists."""
    found = {}
    for plugin_type in PLUGIN_TYPES + ("role",):
        names = listed(plugin_type)
        found[plugin_type] = ansible_doc("-t", plugin_type, "--json", *names) if names else {}
    return found


def plugin_files(kind, pattern):
    return sorted(os.path.basename(path).rsplit(".", 1)[0]
                  for path in glob.glob(os.path.join(REPO, "plugins", kind, pattern))
                  if not os.path.basename(path).startswith("_"))


def filter_names():
    """Every filter that a plugins/filter/*.py file exports."""
    names = set()
    for path in glob.glob(os.path.join(REPO, "plugins", "filter", "*.yml")):
        names.add(os.path.basename(path)[:-4])
    return sorted(names)


def test_everything_in_the_tree_is_listed(docs):
    assert sorted(docs["module"]) == ["%s.%s" % (COLLECTION, name) for name in plugin_files("modules", "*.py")]
    assert sorted(docs["filter"]) == ["%s.%s" % (COLLECTION, name) for name in filter_names()]
    roles = sorted(os.path.basename(os.path.dirname(os.path.dirname(path)))
                   for path in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")))
    assert roles == sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, "roles", "*")))
    assert sorted(docs["role"]) == ["%s.%s" % (COLLECTION, name) for name in roles]
    assert len(docs["module"]) >= 2 and len(docs["role"]) >= 8
    assert {"%s.firewall_verdict" % COLLECTION, "%s.port_spec" % COLLECTION} <= set(docs["filter"])


def test_filters_each_have_a_documentation_file():
    """A filter that a plugin file exports but no plugins/filter/NAME.yml documents is invisible to ansible-doc."""
    exported = []
    for name in plugin_files("filter", "*.py"):
        module = importlib.import_module("ansible_collections.portproof.validate.plugins.filter." + name)
        exported.extend(module.FilterModule().filters())
    assert sorted(exported) == filter_names()


def options_typed(options, where):
    """Every option (and suboption) has a description and a type; lists name their elements."""
    problems = []
    for name, spec in (options or {}).items():
        here = "%s: option %s" % (where, name)
        if not spec.get("description"):
            problems.append(here + " has no description")
        if not spec.get("type"):
            problems.append(here + " has no type")
        if spec.get("type") == "list" and not spec.get("elements"):
            problems.append(here + " is a list without elements")
        problems.extend(options_typed(spec.get("suboptions"), here))
    return problems


def examples_parse(text, where):
    tasks = yaml.safe_load(text or "")
    assert isinstance(tasks, list) and tasks, "%s: EXAMPLES is not a YAML list of tasks" % where
    for task in tasks:
        assert isinstance(task, dict) and task.get("name"), "%s: every example task has a name: %r" % (where, task)


PRIVATE = "Private to the roles of this collection: not a public interface, may change without notice."


def test_modules(docs):
    problems = []
    for fqcn, entry in docs["module"].items():
        doc = entry["doc"]
        assert doc.get("short_description"), fqcn
        assert doc.get("description"), fqcn
        assert doc.get("version_added"), fqcn
        # a private action of the roles reads the task's variables and may take no option
        assert doc.get("options") or PRIVATE in " ".join(doc["description"]), fqcn
        assert set(doc.get("attributes", {})) >= {"check_mode", "diff_mode", "platform"}, fqcn
        problems.extend(options_typed(doc["options"], fqcn))
        examples_parse(entry["examples"], fqcn)
        # Examples use the FQCN of the module.
        assert fqcn + ":" in entry["examples"], fqcn
        assert entry["return"], "%s has no RETURN" % fqcn
        for key, value in entry["return"].items():
            if not value.get("description") or not value.get("type") or not value.get("returned"):
                problems.append("%s: return value %s lacks description, type or returned" % (fqcn, key))
    assert problems == []


def test_filters(docs):
    problems = []
    for fqcn, entry in docs["filter"].items():
        doc = entry["doc"]
        assert doc.get("short_description"), fqcn
        assert doc.get("description"), fqcn
        assert doc.get("version_added"), fqcn
        # The value piped into a filter is its _input option.
        assert "_input" in doc.get("options", {}), fqcn
        problems.extend(options_typed(doc["options"], fqcn))
        examples_parse(entry["examples"], fqcn)
        assert fqcn in entry["examples"], fqcn
        returned = entry["return"] or {}
        assert set(returned) == {"_value"}, fqcn
        if not returned["_value"].get("description") or not returned["_value"].get("type"):
            problems.append("%s: _value lacks description or type" % fqcn)
    assert problems == []


def test_roles(docs):
    problems = []
    for fqcn, entry in docs["role"].items():
        role = fqcn.rsplit(".", 1)[1]
        entry_points = entry["entry_points"]
        # Every tasks file a play may start the role with (tasks_from) is an entry point; the steps of
        # the role validate are its private task files (only its own entry point and roles include them).
        tasks = sorted(os.path.basename(path)[:-4] for path in glob.glob(os.path.join(REPO, "roles", role, "tasks", "*.yml")))
        assert sorted(entry_points) == [name for name in tasks if name not in PRIVATE_TASKS.get(role, ())], fqcn
        for name, spec in entry_points.items():
            where = "%s (entry point %s)" % (fqcn, name)
            if not spec.get("short_description") or not spec.get("description"):
                problems.append(where + " lacks short_description or description")
            problems.extend(options_typed(spec.get("options"), where))
            if spec.get("options") and not all(key.startswith("portproof_") for key in spec["options"]):
                problems.append(where + " has options without the portproof_ prefix")
    assert problems == []


def test_text_output_renders():
    """The text a user reads (not only the JSON) renders without an error for one of each kind."""
    for argv in (["%s.port_facts" % COLLECTION], ["-t", "filter", "%s.firewall_verdict" % COLLECTION],
                 ["-t", "role", "%s.validate" % COLLECTION]):
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-doc")] + argv, capture_output=True, text=True,
                              env=ansible_env(), check=False)
        assert proc.returncode == 0, proc.stderr
        assert argv[-1] in proc.stdout and ("OPTIONS" in proc.stdout or "Options" in proc.stdout), proc.stdout[:2000]


# What the action attribute of a private action says when no module runs on any host (the fragment controller_step).
NO_MODULE = "there is no module to run on a host"
# What it says when the action runs a module on the host it runs for.
ON_THE_HOST = "M(portproof.validate.port_probe) on the host"
STEP_FRAGMENTS = ("portproof.validate.controller_step", "portproof.validate.live_step")


def test_private_actions_say_whether_they_run_a_module_on_the_host(docs):
    """Each private action's documentation (as ansible-doc shows it) says that a module runs on the host exactly when
    its action plugin connects to the host, and takes the shared attributes from a fragment instead of repeating them."""
    wrong = []
    for fqcn, entry in sorted(docs["module"].items()):
        doc, name = entry["doc"], fqcn.split(".")[-1]
        if PRIVATE not in " ".join(doc["description"]) or not os.path.exists(os.path.join(REPO, "plugins", "action", name + ".py")):
            continue
        plugin = importlib.import_module("ansible_collections.portproof.validate.plugins.action." + name).ActionModule
        connects = bool(plugin._requires_connection)  # pylint: disable=protected-access
        details = (doc.get("attributes", {}).get("action") or {}).get("details") or ""
        if (NO_MODULE in details, ON_THE_HOST in details) != (not connects, connects):
            wrong.append("%s (connects to the host: %s) says: %r" % (fqcn, connects, details))
        with open(os.path.join(REPO, "plugins", "modules", name + ".py")) as handle:
            source = handle.read()
        own = yaml.safe_load(source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])
        if not set(own.get("extends_documentation_fragment") or []) & set(STEP_FRAGMENTS):
            wrong.append("%s extends neither of %s" % (fqcn, ", ".join(STEP_FRAGMENTS)))
    assert wrong == [], "\n".join(wrong)
