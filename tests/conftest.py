# Copyright: contributors to the portproof.validate collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this checkout importable as ``ansible_collections.portproof.validate`` for pytest."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _expose_collection():
    try:
        import ansible_collections.portproof.validate  # noqa: F401 pylint: disable=unused-import
        return
    except ImportError:
        pass
    root = tempfile.mkdtemp(prefix="portproof-collections-")
    atexit.register(shutil.rmtree, root, True)
    os.makedirs(os.path.join(root, "ansible_collections", "portproof"))
    os.symlink(_REPO, os.path.join(root, "ansible_collections", "portproof", "validate"))
    sys.path.insert(0, root)


_expose_collection()
