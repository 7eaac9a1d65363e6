# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What runs on the targets (plugins/modules, plugins/module_utils) needs no Python newer than 3.8.

ansible-test sanity compiles these files only for the Pythons installed on the machine, so the floor
is checked here: every file parses with the 3.8 grammar, and vermin finds no syntax, module or
standard-library name newer than 3.8.
"""

from __future__ import annotations

import ast
import glob
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET_DIRS = [os.path.join(REPO, "plugins", "modules"), os.path.join(REPO, "plugins", "module_utils")]
TARGET_FILES = sorted(path for directory in TARGET_DIRS for path in glob.glob(os.path.join(directory, "**", "*.py"), recursive=True))
VERMIN = shutil.which("vermin", path=os.path.dirname(sys.executable)) or shutil.which("vermin")


def test_there_are_target_files():
    assert len(TARGET_FILES) > 20


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: os.path.relpath(p, REPO))
def test_parses_with_the_python_3_8_grammar(path):
    with open(path, encoding="utf-8") as handle:
        ast.parse(handle.read(), filename=path, feature_version=(3, 8))


def test_the_3_8_grammar_check_rejects_newer_syntax():
    with pytest.raises(SyntaxError):
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 8))
    with pytest.raises(SyntaxError):
        ast.parse("with (open('a') as a, open('b') as b):\n    pass\n", feature_version=(3, 8))


def _vermin(paths):
    if VERMIN is None:
        pytest.fail("vermin is not installed: run scripts/bootstrap (it is in requirements-dev.txt)")
    return subprocess.run([VERMIN, "--target=3.8-", "--no-tips", "--violations", "--eval-annotations"] + list(paths),
                          capture_output=True, text=True, check=False)


def test_no_standard_library_name_newer_than_3_8():
    proc = _vermin(TARGET_DIRS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Minimum required versions: 3." in proc.stdout


def test_vermin_catches_a_name_newer_than_3_8(tmp_path):
    newer = tmp_path / "newer.py"
    newer.write_text("import math\n\nprint(math.lcm(4, 6), 'x'.removeprefix('y'))\n")
    proc = _vermin([str(newer)])
    assert proc.returncode == 1
    assert "'math.lcm' member requires !2, 3.9" in proc.stdout
