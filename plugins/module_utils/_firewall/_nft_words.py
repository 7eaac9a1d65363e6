# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The words of an nft script: tokens with their file and line, and the error that names them
(_nft_script.py reads the script, _nft_rule.py its rules)."""

from __future__ import annotations

from typing import List

MAX_TOKENS = 2000000
_SPECIAL = "{},;=\n"


class NftScriptError(ValueError):
    """A script that is not understood or cannot be read; the message names the file and line."""


class Token(object):
    __slots__ = ("text", "path", "line", "quoted")

    def __init__(self, text: str, path: str, line: int, quoted: bool = False) -> None:
        self.text, self.path, self.line, self.quoted = text, path, line, quoted

    def where(self) -> str:
        return "%s line %d" % (self.path, self.line)


def tokenize(text: str, path: str) -> List[Token]:
    """Words, quoted strings and the separators of _SPECIAL ("\\n" ends a statement as ";" does)."""
    out: List[Token] = []
    line, i, size = 1, 0, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            out.append(Token("\n", path, line))
            line += 1
            i += 1
        elif char in " \t\r":
            i += 1
        elif char == "\\" and text[i + 1:i + 2] == "\n":
            line += 1
            i += 2
        elif char == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0 or "\n" in text[i:end]:
                raise NftScriptError("%s line %d: a quoted string is not closed" % (path, line))
            out.append(Token(text[i + 1:end], path, line, True))
            i = end + 1
        elif text.startswith(("!=", "=="), i):
            out.append(Token(text[i:i + 2], path, line))
            i += 2
        elif char in _SPECIAL:
            out.append(Token(char, path, line))
            i += 1
        else:
            start = i
            while i < size and text[i] not in _SPECIAL and text[i] not in ' \t\r"#':
                i += 1
            out.append(Token(text[start:i], path, line))
        if len(out) > MAX_TOKENS:
            raise NftScriptError("%s: more than %d tokens: not read" % (path, MAX_TOKENS))
    out.append(Token("\n", path, line))
    return out


def shown(words: List[Token]) -> str:
    text = " ".join('"%s"' % w.text if w.quoted else w.text for w in words)
    return "'%s'" % (text if len(text) <= 80 else text[:77] + "...")
