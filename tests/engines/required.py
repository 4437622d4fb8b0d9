"""Engines that are missing: a skip on a developer's machine, a failure where they must be there.

``.ci/run`` sets ``WPS_REQUIRE_ENGINES=1``: a broken install (no root, a package missing) then fails
the per-job cluster tests instead of leaving them skipped behind a green run."""

from __future__ import annotations

import os

import pytest

REQUIRE = "WPS_REQUIRE_ENGINES"


def require_engine(available: bool, missing: str) -> None:
    """Skip the test (fail it under ``WPS_REQUIRE_ENGINES=1``), saying ``missing``, unless ``available``."""
    if available:
        return
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{missing} ({REQUIRE}=1: the engines must be there)", pytrace=False)
    pytest.skip(missing)
