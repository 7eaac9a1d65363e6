# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""patch_module_args on every supported ansible-core: the public helper from 2.19 on
(ansible.module_utils.testing); before it, the way ansible-core's own unit tests hand arguments to
an AnsibleModule (the JSON of ANSIBLE_MODULE_ARGS in basic._ANSIBLE_ARGS)."""

from __future__ import annotations

import contextlib
import json

from typing import Any, Dict, Iterator, Optional
from unittest import mock

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19
    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager  # type: ignore[no-redef]
    def patch_module_args(args: Optional[Dict[str, Any]] = None) -> Iterator[None]:
        """Expose ARGS to the AnsibleModule instances made within this context."""
        data = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with mock.patch.object(basic, "_ANSIBLE_ARGS", data):
            yield

__all__ = ["patch_module_args"]
