# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings of the property-based tests (hypothesis): deterministic and bounded.

The profile ``portproof`` (the default) runs the same examples on every run (``derandomize``),
keeps no example database, and tries ``PORTPROOF_HYPOTHESIS_EXAMPLES`` examples per property
(default 150), which keeps the whole property suite under a minute on two cores. The profile
``deep`` (``--hypothesis-profile=deep``) tries 2,000 per property with fresh randomness, for
hunting by hand.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "portproof",
    max_examples=int(os.environ.get("PORTPROOF_HYPOTHESIS_EXAMPLES", "150")),
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "deep", max_examples=2000, derandomize=False, database=None, deadline=None, suppress_health_check=_SLOW_OK,
)
settings.load_profile("portproof")
