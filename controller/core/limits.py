"""Request size limits of the API, in one place (pure constants).

Measured on 2 cores (tests/unit/test_api.py, tests/e2e/test_limits.py): a policy of
2 x MAX_POLICY_ENTRIES IPv6 prefixes is ~0.6 MB of JSON and ~0.1-0.2 s to take, validated in
an executor so that another request waits for a fraction of that (18-102 ms), not all of it.
"""

from __future__ import annotations

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: larger request bodies are 413
MAX_POLICY_ENTRIES = 10_000  # per prefix list (prefix_filter_in, prefix_filter_out): else 400
# A body above this is decoded in an executor, not on the event loop.
OFFLOAD_BODY_BYTES = 64 * 1024
