# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Text that is inert on a terminal: control characters shown as escapes.

Process names, rule comments, banners and HTTP answers come from the hosts; a process named
``\\x1bc`` would reset the terminal of whoever prints a file or a log that holds it as it is.
Every text output of the report (summary.md, junit.xml, report.html, metrics.prom) and every
console message shows each C0 control character (but tab and newline, where the format keeps
them), DEL and each C1 control character as ``\\xNN``. results.json and the facts files are JSON,
whose encoder escapes them already (``\\u001b``).
"""

from __future__ import annotations

import re

# C0 but tab and newline, DEL, C1.
CONTROL = re.compile(u"[\u0000-\u0008\u000b-\u001f\u007f-\u009f]")
# The same and tab and newline too: for a single line.
CONTROL_LINE = re.compile(u"[\u0000-\u001f\u007f-\u009f]")


def _escape(match: re.Match) -> str:
    return "\\x%02x" % ord(match.group(0))


def inert(value: object, one_line: bool = False) -> str:
    """VALUE as text with every control character (C0, DEL, C1) shown as \\xNN; ONE_LINE: tab and newline too."""
    text = "" if value is None else str(value)
    return (CONTROL_LINE if one_line else CONTROL).sub(_escape, text)
