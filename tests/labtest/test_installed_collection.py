# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users get it: the tarball built by ``ansible-galaxy collection build``, installed
offline into a clean collections path, runs ``portproof.validate.post_deploy`` and ``ansible-doc``
from there, with no link to this checkout on any collections path."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import tarfile

import pytest

from lab_ansible import REPO, VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "db1", "groups": ["db"],
     "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}],
     "vars": {"portproof_probe_timeout": 2,
              "portproof_services": [{"name": "postgres", "port": 5432, "process": "postgres", "allow_from": ["app"]}]}},
]}

# Every result of the run: the postgres contract holds on db1, statically and live from app1.
EXPECTED = [("db1", "postgres", "firewall_allow", "app1", "pass"), ("db1", "postgres", "listen", "", "pass"),
            ("db1", "postgres", "process", "", "pass"), ("db1", "postgres", "reach", "app1", "pass")]


def run(argv, env, cwd):
    return subprocess.run([os.path.join(VENV_BIN, argv[0])] + list(argv[1:]), cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(collections path, tarball): the built tarball installed offline into an empty directory."""
    build = tmp_path_factory.mktemp("build")
    clean = tmp_path_factory.mktemp("collections")
    env = ansible_env()
    proc = run(["ansible-galaxy", "collection", "build", "--output-path", str(build), REPO], env, str(build))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarballs = glob.glob(str(build / "portproof-validate-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    proc = run(["ansible-galaxy", "collection", "install", "--offline", "-p", str(clean), tarballs[0]], clean_env(clean),
               str(build))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "portproof.validate:" in proc.stdout and "was installed successfully" in proc.stdout, proc.stdout
    return clean, tarballs[0]


def clean_env(collections, lab=None):
    # Only the clean path: no link to the checkout, no collections in the Python path.
    return ansible_env(lab, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False")


def test_tarball_holds_the_collection_and_nothing_of_the_workplace(installed):
    _collections, tarball = installed
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["dependencies"]) == ("portproof", "validate", {})
    assert info["version"] in os.path.basename(tarball)
    for needed in ("README.md", "COPYING", "CHANGELOG.rst", "meta/runtime.yml", "plugins/modules/port_facts.py",
                   "plugins/modules/port_probe.py", "roles/validate/meta/argument_specs.yml",
                   "playbooks/post_deploy.yml", "playbooks/baseline.yml", "changelogs/changelog.yaml"):
        assert needed in names, needed
    leaked = sorted(name for name in names
                    if name.split("/")[0] in (".venv", ".venv-bench", ".build", ".git", ".ansible", ".pytest_cache",
                                              "portproof-report", "portproof-baseline", "bench")
                    or "__pycache__" in name or name.endswith((".pyc", ".tar.gz", ".plugin-cache.yaml")))
    assert leaked == []


def test_installed_collection_is_the_only_one_found(installed, tmp_path):
    collections, _tarball = installed
    proc = run(["ansible-galaxy", "collection", "list", "portproof.validate", "--format", "json"],
               clean_env(collections), str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads(proc.stdout)
    assert list(found) == [os.path.join(str(collections), "ansible_collections")], found
    installed_dir = os.path.join(str(collections), "ansible_collections", "portproof", "validate")
    assert not os.path.islink(installed_dir) and os.path.isfile(os.path.join(installed_dir, "MANIFEST.json"))


def test_ansible_doc_from_the_installed_collection(installed, tmp_path):
    collections, _tarball = installed
    env = clean_env(collections)
    proc = run(["ansible-doc", "portproof.validate.port_facts"], env, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    module = os.path.join(str(collections), "ansible_collections", "portproof", "validate", "plugins", "modules",
                          "port_facts.py")
    assert "(%s)" % module in proc.stdout.splitlines()[0], proc.stdout[:500]
    assert "EXAMPLES:" in proc.stdout and "RETURN VALUES:" in proc.stdout
    proc = run(["ansible-doc", "-t", "role", "portproof.validate.validate"], env, str(tmp_path))
    assert proc.returncode == 0 and "portproof.validate.validate" in proc.stdout, proc.stdout + proc.stderr


def test_post_deploy_runs_from_the_installed_collection(installed, make_lab, tmp_path):
    collections, _tarball = installed
    lab = make_lab(SPEC)
    workdir = tmp_path / "run"
    workdir.mkdir()
    proc = run(["ansible-playbook", "-i", lab.inventory, "portproof.validate.post_deploy"], clean_env(collections, lab),
               str(workdir))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "failed=0" in proc.stdout and "unreachable=0" in proc.stdout, proc.stdout[-2000:]
    report_dir = workdir / "portproof-report"
    results = json.loads((report_dir / "results.json").read_text())
    summary = results["summary"]
    assert (summary["status"], summary["report_dir"]) == ("pass", str(report_dir)), summary
    checks = sorted((r["host"], r["service"], r["check"], r["source"] or "", r["status"]) for r in results["results"])
    assert checks == EXPECTED, checks
    for name in ("results.json", "junit.xml", "summary.md", "report.html", "metrics.prom"):
        assert (report_dir / name).stat().st_size > 0, name
    assert (report_dir / "facts" / "db1.json").is_file()
