# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Runs port_probe's layer with the module parameters read (as JSON) from stdin and prints the
# result as JSON: what the module returns, without Ansible around it. Started by probe_lab.py
# inside the lab's source namespace, with any Python (the .venv one, or a stdlib-only one).

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def main():
    root = tempfile.mkdtemp(prefix='ppprb-runner-')
    try:
        os.makedirs(os.path.join(root, 'ansible_collections', 'portproof'))
        for part in ('ansible_collections', os.path.join('ansible_collections', 'portproof')):
            open(os.path.join(root, part, '__init__.py'), 'w').close()
        os.symlink(REPO, os.path.join(root, 'ansible_collections', 'portproof', 'validate'))
        sys.path.insert(0, root)
        from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run  # pylint: disable=import-outside-toplevel
        params = json.load(sys.stdin)
        json.dump(run(params), sys.stdout)
    finally:
        shutil.rmtree(root)


if __name__ == '__main__':
    main()
