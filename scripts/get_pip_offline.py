# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the pip bootstrap script ansible-test downloads from a host we cannot reach.

ansible-test runs it inside each sanity virtualenv with pip's own arguments (for example
``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``). It puts pip in place
with the standard library's ``ensurepip`` and then lets that pip install what was asked for
from the package index.
"""

from __future__ import annotations

import subprocess
import sys

# In a child process: ensurepip points pip at no configuration file in its own environment,
# which would hide the machine's pip settings (index, certificates) from the install below.
if subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL) != 0:
    sys.exit("ensurepip failed")
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q"] + args))
