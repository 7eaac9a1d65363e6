# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Secrets a probe sends, in every form a peer can send back: a service that echoes its request
# (a debug endpoint, a misconfigured proxy, an error page quoting the headers) returns the
# Authorization header with base64(user:password), cookies and bearer tokens. Ansible's no-log
# masks exact values only, so the module scrubs every derived form from what it returns, on the
# probing host, and registers them with Ansible's masking too. Pure functions, no I/O.

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus
from typing import Any, Dict, List, Optional, Sequence, Set

MASK = '********'
MIN_PART = 8  # parts of a header value (a cookie value, a bearer token) masked on their own from this length
_SPLIT = re.compile(r'[\s;,=]+')


def _variants(value: str) -> Set[str]:
    """VALUE and the forms an echoing peer commonly re-encodes it in: a JSON string (ASCII-only or
    not, and with ``\\/`` as PHP writes it), HTML text or attribute (``&amp;``, ``&quot;``, ``&#39;``,
    as a page like phpinfo() shows request headers), a URL (percent-encoded, ``+`` for spaces)."""
    escaped = json.dumps(value)[1:-1]
    markup = html.escape(value)
    return set([
        value, escaped, escaped.replace('/', '\\/'), json.dumps(value, ensure_ascii=False)[1:-1],
        markup, markup.replace('&#x27;', '&#39;'), markup.replace('&#x27;', '&#039;'), html.escape(value, False),
        quote(value, safe=''), quote(value), quote_plus(value, safe=''),
    ])


def secret_forms(http: Optional[Dict[str, Any]]) -> List[str]:
    """Every string derived from the secrets of normalised HTTP options: header values and their
    long parts (a bearer token, each cookie value), the basic-auth password, ``user:password``, its
    base64 and the ``Basic`` credentials built from it. Longest first. A whole header line needs no
    form of its own: its value is masked in it, which keeps the header's name readable
    (``Authorization: ********``)."""
    forms: Set[str] = set()
    if not http:
        return []
    for _name, value in http.get('headers') or []:
        if not value:
            continue
        forms.update(_variants(value))
        # what went on the wire (header lines are sent as Latin-1, other characters as '?'), read
        # back as Latin-1 (an echo that decodes it so) or as UTF-8 (how received bytes are decoded)
        wire = value.encode('latin-1', 'replace')
        forms.update(_variants(wire.decode('latin-1')))
        forms.add(wire.decode('utf-8', 'replace'))
        for part in _SPLIT.split(value):
            if len(part) >= MIN_PART:
                forms.update(_variants(part))
    password = http.get('password')
    if http.get('user') is not None:
        pair = '%s:%s' % (http['user'], password or '')
        token = base64.b64encode(pair.encode('utf-8')).decode('ascii')
        for form in (pair, token, 'Basic %s' % token):
            forms.update(_variants(form))
    if password:
        forms.update(_variants(password))
    return sorted((form for form in forms if form), key=lambda form: (-len(form), form))


def scrub(text: str, forms: Sequence[str]) -> str:
    """TEXT with every secret form replaced by the mask."""
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def scrub_tail(text: str, forms: Sequence[str], minimum: int = 3) -> str:
    """TEXT whose end may be a secret cut short (a body truncated at its cap): mask such a tail."""
    for form in forms:
        for size in range(min(len(form) - 1, len(text)), minimum - 1, -1):
            if text.endswith(form[:size]):
                return text[:-size] + MASK
    return text


def scrub_data(value: Any, forms: Sequence[str]) -> Any:
    """A copy of VALUE (any JSON-like structure) with every string scrubbed, keys included."""
    if not forms:
        return value
    if isinstance(value, str):
        return scrub(value, forms)
    if isinstance(value, dict):
        return dict((scrub_data(key, forms), scrub_data(item, forms)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub_data(item, forms) for item in value]
    return value
