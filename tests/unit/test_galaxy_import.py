# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built collection passes galaxy-importer, the import checks of Ansible Galaxy and Automation Hub.

galaxy-importer runs from its own virtualenv .venv-galaxy (scripts/bootstrap, requirements-galaxy.txt)
with Automation Hub's tag check on. Its ansible-test step needs a container engine and its
ansible-lint step repeats the project's own lint step (production profile, stricter): both are off."""

from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
IMPORTER_PYTHON = os.path.join(REPO, ".venv-galaxy", "bin", "python")
CONFIG = """[galaxy-importer]
check_required_tags = True
check_changelog = True
run_ansible_doc = True
run_ansible_lint = False
run_ansible_test = False
run_flake8 = False
"""


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    if not os.path.exists(IMPORTER_PYTHON):
        pytest.fail(".venv-galaxy is missing: run scripts/bootstrap", pytrace=False)
    work = tmp_path_factory.mktemp("galaxy")
    env = {"PATH": os.path.join(REPO, ".venv", "bin") + os.pathsep + "/usr/bin:/bin", "HOME": str(work),
           "LC_ALL": "C.UTF-8", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-galaxy"), "collection", "build", "--output-path",
                           str(work), REPO], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tarball,) = glob.glob(str(work / "portproof-validate-*.tar.gz"))
    (work / "galaxy-importer.cfg").write_text(CONFIG)
    env = {"PATH": os.path.dirname(IMPORTER_PYTHON) + os.pathsep + "/usr/bin:/bin", "HOME": str(work),
           "LC_ALL": "C.UTF-8", "GALAXY_IMPORTER_CONFIG": str(work / "galaxy-importer.cfg")}
    proc = subprocess.run([IMPORTER_PYTHON, "-m", "galaxy_importer.main", tarball, "--print-result"], cwd=str(work),
                          env=env, capture_output=True, text=True, check=False)
    return proc


def test_import_succeeds(imported):
    output = imported.stdout + imported.stderr
    assert imported.returncode == 0, output[-4000:]
    assert "Importer processing completed successfully" in output
    # the importer's log comes before the JSON result (whose rendered docs may quote a warning)
    log = imported.stdout[:imported.stdout.index("\n{")] + imported.stderr
    assert [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line] == []


def test_import_finds_every_module_filter_role_and_playbook(imported):
    result = json.loads(imported.stdout[imported.stdout.index("\n{") + 1:])
    found = set((item["content_type"], item["name"]) for item in result["contents"])
    expected = set()
    for path in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")):
        expected.add(("module", os.path.basename(path)[:-3]))
    for path in glob.glob(os.path.join(REPO, "plugins", "filter", "*.yml")):
        expected.add(("filter", os.path.basename(path)[:-4]))
    for path in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")):
        expected.add(("role", path.split(os.sep)[-3]))
    for path in glob.glob(os.path.join(REPO, "playbooks", "*.yml")):
        expected.add(("playbook", os.path.basename(path)))
    assert expected - found == set()
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        assert result["requires_ansible"] == yaml.safe_load(handle)["requires_ansible"]
    documented = set((item["content_type"], item["content_name"]) for item in result["docs_blob"]["contents"]
                     if item.get("doc_strings") or item.get("readme_file"))
    missing = sorted(item for item in expected if item[0] in ("module", "filter") and item not in documented)
    assert missing == []
