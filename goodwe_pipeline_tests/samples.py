"""Where the captured GoodWe response frames are: ``shared/goodwe-samples/et`` beside the clone.

They are the ``goodwe`` library's own test data (MIT), used read-only and not copied into this
repository. ``GOODWE_SAMPLES_DIR`` points at a ``goodwe-samples`` folder elsewhere (for a clone
that is not beside ``shared/``); without them the tests that replay them are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "goodwe-samples"
SAMPLES = Path(os.environ.get("GOODWE_SAMPLES_DIR") or _DEFAULT) / "et"

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"captured GoodWe frames not found at {SAMPLES} (shared/goodwe-samples beside the "
    "clone, or set GOODWE_SAMPLES_DIR)",
)
