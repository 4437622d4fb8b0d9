"""A missing engine skips its tests, except where WPS_REQUIRE_ENGINES=1 says it must be there (CI)."""

from __future__ import annotations

import pytest

from tests.engines.required import REQUIRE, require_engine


def test_a_missing_engine_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE, raising=False)
    require_engine(True, "sshd is missing")  # there: nothing happens
    with pytest.raises(pytest.skip.Exception, match="sshd is missing"):
        require_engine(False, "sshd is missing")
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match=r"sshd is missing \(WPS_REQUIRE_ENGINES=1"):
        require_engine(False, "sshd is missing")
