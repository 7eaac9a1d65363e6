# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The portproof.validate.port_spec filter (documentation: port_spec.yml)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Union

from ansible.errors import AnsibleFilterError

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import parse_port_spec


def port_spec_filter(spec: Any) -> Dict[str, Union[int, List[str]]]:
    """'8000-8010/tcp' -> {first, last, protos}."""
    try:
        first, last, protos = parse_port_spec(spec)
    except ValueError as exc:
        raise AnsibleFilterError("port_spec: %s" % exc)
    return {"first": first, "last": last, "protos": list(protos)}


class FilterModule(object):
    """Parse a port spec."""

    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {"port_spec": port_spec_filter}
