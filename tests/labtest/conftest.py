# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests on real lab hosts (tests/lab)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from portproof_lab import Lab  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def make_lab(tmp_path):
    """Build labs from descriptions (dicts); every one is torn down after the test."""
    labs = []

    def factory(spec, name="lab"):
        lab = Lab(spec, str(tmp_path / name), keep_workdir=True)
        labs.append(lab)
        return lab.up()

    yield factory
    for lab in reversed(labs):
        lab.down()
