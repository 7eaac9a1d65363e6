# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""results.json (the summary and every result) and facts/<host>.json (the evidence of one host).

The shape of results.json is described by docs/results.schema.json of the collection.
"""

from __future__ import annotations

import json

from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import Report, _plain

from typing import Any, Mapping, Optional

FACTS_VERSION = 1


def render_json(report: Report) -> str:
    """{"summary": ..., "results": [...]} as indented JSON text."""
    return json.dumps({"summary": report["summary"], "results": report["results"]}, indent=2, ensure_ascii=False) + "\n"


def render_facts(host: object, hostvars_of_host: Optional[Mapping[str, Any]], generated: object = None) -> str:
    """The evidence kept for triage: the host's contract and everything port_facts gathered on it."""
    hvars = hostvars_of_host or {}
    facts = (hvars.get("ansible_facts") or {}).get("portproof")
    document = {
        "version": FACTS_VERSION,
        "host": str(host),
        "generated": None if generated is None else str(generated),
        "address": _plain(hvars.get("portproof_address") or hvars.get("ansible_host")),
        "gathered": facts is not None,
        "contract": _plain(hvars.get("portproof_contract")),
        "facts": _plain(facts),
    }
    return json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
