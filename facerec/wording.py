"""How numbers are written for people, in one place (CLI and GUI): counts with the right plural, distances
without a minus sign."""

from __future__ import annotations

import math


def noun(n: int, word: str, many: str | None = None) -> str:
    """The form of ``word`` that goes with ``n``: ``noun(1, "sample") == "sample"``, else ``"samples"`` (or ``many``)."""
    return word if n == 1 else (many or word + "s")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 sample"``, ``"2 samples"``, ``"0 samples"``; ``many`` for irregular plurals (``plural(2, "person", "people")``)."""
    return f"{n} {noun(n, word, many)}"


def distance(d: float | None, digits: int = 3) -> str:
    """A cosine distance as text: ``"-"`` when there is none (no gallery, NaN, infinite); never ``"-0.000"``
    (rounding noise below zero is shown as 0)."""
    if d is None or not math.isfinite(d):
        return "-"
    return f"{max(0.0, d):.{digits}f}"
