"""Counts and distances as people read them (facerec.wording, used by the CLI and the GUI)."""

from __future__ import annotations

from facerec.wording import distance, plural


def test_plural():
    assert plural(1, "sample") == "1 sample"
    assert plural(0, "sample") == "0 samples" and plural(2, "sample") == "2 samples"
    assert plural(1, "person", "people") == "1 person" and plural(3, "person", "people") == "3 people"


def test_distance_never_negative_zero():
    assert distance(-1e-7) == "0.000" and distance(-0.0) == "0.000"
    assert distance(0.4567) == "0.457" and distance(0.4567, 2) == "0.46"
    assert distance(None) == distance(float("nan")) == distance(float("inf")) == "-"
