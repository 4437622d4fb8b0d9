"""Suggestions for misspelt names: processes, inputs, outputs, configuration keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The known name nearest to ``word``, if one is near enough to be a likely typo."""
    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if not found:  # a difference of case only is a typo too
        found = [c for c in choices if c.lower() == word.lower()][:1]
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the closest known name, or nothing."""
    hint = closest(word, list(choices))
    return f"; did you mean {hint}?" if hint else ""
