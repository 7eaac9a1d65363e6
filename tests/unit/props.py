# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Strategies of the property-based tests: mostly near-valid input made from captured fixtures.

``mutated_text`` and ``mutated_bytes`` start from real tool output and apply a few edits that a
broken, newer or hostile tool could produce: lines deleted, duplicated or inserted, tokens
swapped or replaced by odd values (huge and negative numbers, unicode, control characters,
quotes), truncation. ``mutated_json`` does the same to a parsed JSON document. Fully random input
comes from hypothesis's own text/binary strategies in the tests.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

ODD_TOKENS = [
    "", " ", "-", "!", "--", "0", "-1", "65535", "65536", "4294967295", "4294967296", "99999999999999999999999",
    "0x", "0xffffffffffffffff", "1:", ":1", "1-0", "10:5", "::", ":::", "fe80::1%eth0", "256.1.1.1", "1.2.3.4/33",
    "\"", "'", "\\", "\"unterminated", "'it''s'", "a b", "\x00", "\t", "\u00e9", "\u202e", "\U0001f525", "\ufffd",
    "ø" * 40, "x" * 300, "{", "}", "[", "]", ",", ";", "#", "*", "%", "null", "true", "NaN",
]


def _line_edit(draw, lines, unit):
    op = draw(st.sampled_from(("delete", "duplicate", "insert", "swap", "replace", "truncate", "chars")))
    if not lines:
        lines.append(unit(""))
    i = draw(st.integers(0, len(lines) - 1))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(draw(st.integers(0, len(lines))), lines[i])
    elif op == "insert":
        lines.insert(i, unit(draw(st.text(max_size=40))))
    elif op == "truncate":
        lines[i] = lines[i][:draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
    elif op == "chars":
        pos = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:pos] + unit(draw(st.text(min_size=1, max_size=4))) + lines[i][pos:]
    else:
        tokens = lines[i].split(unit(" "))
        j = draw(st.integers(0, len(tokens) - 1))
        if op == "swap":
            k = draw(st.integers(0, len(tokens) - 1))
            tokens[j], tokens[k] = tokens[k], tokens[j]
        else:
            tokens[j] = unit(draw(st.one_of(st.sampled_from(ODD_TOKENS), st.text(max_size=12),
                                            st.integers(-2 ** 70, 2 ** 70).map(str))))
        lines[i] = unit(" ").join(tokens)


@st.composite
def mutated_text(draw, sources, max_edits=4):
    """One of SOURCES (texts) with 1..MAX_EDITS line or token edits."""
    lines = draw(st.sampled_from(sources)).split("\n")
    for _edit in range(draw(st.integers(1, max_edits))):
        _line_edit(draw, lines, str)
    return "\n".join(lines)


@st.composite
def mutated_bytes(draw, sources, max_edits=4):
    """One of SOURCES (bytes) with byte flips, cuts, insertions and overwrites by odd values."""
    data = bytearray(draw(st.sampled_from(sources)))
    for _edit in range(draw(st.integers(1, max_edits))):
        op = draw(st.sampled_from(("flip", "cut", "insert", "overwrite", "truncate")))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            pos = min(pos, len(data) - 1)
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos:pos + draw(st.integers(1, 8))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "overwrite":
            value = draw(st.sampled_from((b"\xff\xff", b"\xff\xff\xff\xff", b"\x00\x00", b"\x00\x00\x00\x00", b"\x7f\xff",
                                          b"\x80")))
            data[pos:pos + len(value)] = value
        else:
            del data[pos:]
    return bytes(data)


ODD_JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 64, 2 ** 64), st.sampled_from([0, 65535, 65536, -1, 1.5, float("inf")]),
    st.text(max_size=20), st.sampled_from(ODD_TOKENS), st.just([]), st.just({}), st.lists(st.integers(0, 70000), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, prefix + (index,))


@st.composite
def mutated_json(draw, sources, max_edits=4):
    """One of SOURCES (parsed JSON documents) with values replaced, keys deleted, items duplicated."""
    doc = json.loads(json.dumps(draw(st.sampled_from(sources))))
    for _edit in range(draw(st.integers(1, max_edits))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return draw(ODD_JSON_VALUES)
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(("replace", "delete", "duplicate")))
        if op == "replace":
            parent[path[-1]] = draw(ODD_JSON_VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[path[-1]])))
        else:
            parent[draw(st.text(max_size=6))] = json.loads(json.dumps(parent[path[-1]]))
    return doc


def as_json_text(strategy):
    """JSON text of documents drawn from STRATEGY, sometimes cut short."""
    return st.tuples(strategy, st.integers(0, 40)).map(
        lambda pair: json.dumps(pair[0])[:-pair[1]] if pair[1] > 35 else json.dumps(pair[0]))
