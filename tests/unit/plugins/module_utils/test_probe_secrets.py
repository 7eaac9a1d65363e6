# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The forms of a probe's secrets that a peer can send back, and their masking.

from __future__ import annotations

import base64

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import excerpt, safe_excerpt
from ansible_collections.portproof.validate.plugins.module_utils._probe._secrets import scrub_data, secret_forms


def test_secret_forms_of_headers_and_basic_auth():
    token = base64.b64encode(b'probe:pa"ss').decode()
    forms = secret_forms({'headers': [('Cookie', 'a=1; sid=0123456789'), ('Authorization', 'Bearer tok-abcdefgh')],
                          'user': 'probe', 'password': 'pa"ss'})
    assert forms == sorted(forms, key=lambda form: (-len(form), form))
    assert set(forms) == {
        'a=1; sid=0123456789', '0123456789', 'Bearer tok-abcdefgh', 'tok-abcdefgh',
        'pa"ss', 'pa\\"ss', 'probe:pa"ss', 'probe:pa\\"ss', token, 'Basic ' + token,
        # percent-encoded (a URL, form encoding) and HTML-escaped (an echoing page)
        'Basic%20cHJvYmU6cGEic3M%3D', 'Basic+cHJvYmU6cGEic3M%3D', 'Bearer%20tok-abcdefgh', 'Bearer+tok-abcdefgh',
        'a%3D1%3B%20sid%3D0123456789', 'a%3D1%3B+sid%3D0123456789', 'cHJvYmU6cGEic3M%3D', 'pa%22ss', 'probe%3Apa%22ss',
        'pa&quot;ss', 'probe:pa&quot;ss',
    }
    # a header line keeps its name, its value masked
    assert excerpt(b'Cookie: a=1; sid=0123456789\r\nAuthorization: Basic ' + token.encode(), secrets=forms) == (
        'Cookie: ********\r\nAuthorization: ********')


def test_no_secret_no_form():
    assert secret_forms(None) == []
    assert secret_forms({'headers': [], 'user': None, 'password': None}) == []


def test_excerpt_masks_before_cutting_and_masks_a_cut_tail():
    forms = secret_forms({'headers': [('X-Key', 'k-0123456789')], 'user': None, 'password': None})
    assert excerpt(b'x-key: k-0123456789\r\n', secrets=forms) == 'x-key: ********\r\n'
    assert excerpt(b'A' * 10 + b'k-0123456789', 12, forms) == 'AAAAAAAAAA**...'
    assert excerpt(b'echo: k-0123', secrets=forms) == 'echo: ********'
    assert safe_excerpt(b'\x1bc k-0123456789\x07', secrets=forms) == "'\\x1bc ********\\x07'"


def test_scrub_data_walks_keys_and_values():
    forms = ['s3cr3t-value']
    assert scrub_data({'a s3cr3t-value': ['x s3cr3t-value', 3, None]}, forms) == {'a ********': ['x ********', 3, None]}
