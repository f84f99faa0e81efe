"""Each model pack owns its thresholds and every view takes them from the pack: the Live strictness slider
and the Settings threshold box span the selected pack's range (dlib's distances are ten times smaller than
SFace's: at "Strict" with SFace's fixed 0.20, strangers were named), grouping uses the pack's threshold,
and the GUI warns, as the CLI does, when the gallery has no samples for the selected model."""

from __future__ import annotations

import copy

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import numpy as np
import pytest

from facerec.embedders.packs import PACKS
from facerec.library.grouping import grouping_threshold


def _use_model(ctx, model: str) -> None:
    new = copy.deepcopy(ctx.settings)
    new.model, new.threshold = model, None
    ctx.apply_settings(new)


@pytest.mark.parametrize("model", ["dlib", "sface", "compact"])
def test_live_slider_spans_the_packs_range(gui, model):  # noqa: F811
    window, ctx = gui
    pack = PACKS[model]
    _use_model(ctx, model)
    live = window.live
    live.strictness.setValue(100)  # "Strict"
    assert live.threshold <= pack.threshold, f"Strict must be at least as strict as {model}'s calibrated threshold"
    live.strictness.setValue(0)  # "Lenient"
    assert pack.verification_threshold <= live.threshold <= 2 * pack.verification_threshold
    live.strictness.setValue(50)
    assert pack.threshold * 0.5 < live.threshold < pack.verification_threshold * 1.25


def test_settings_threshold_box_spans_the_packs_range(gui):  # noqa: F811
    window, ctx = gui
    _use_model(ctx, "dlib")
    box = window.settings.threshold
    assert box.minimum() < PACKS["dlib"].threshold < box.maximum() <= 1.0
    box.setValue(0.03)
    assert abs(box.value() - 0.03) < 1e-9, "dlib's thresholds must be settable"
    _use_model(ctx, "sface")
    assert box.minimum() < 0.2 and box.maximum() >= 0.8


def test_grouping_threshold_is_the_packs():
    for name, pack in PACKS.items():
        expected = pack.grouping_threshold if pack.grouping_threshold is not None else pack.verification_threshold
        assert grouping_threshold(name) == pytest.approx(expected)
    assert grouping_threshold("dlib") < 0.2  # never a fixed 0.5


def test_live_warns_when_the_gallery_has_no_samples_for_the_model(gui):  # noqa: F811
    window, ctx = gui
    ctx.store.add_sample("Ann", np.ones(128, np.float32), PACKS["sface"].model_id)
    _use_model(ctx, "sface")
    assert "No samples" not in window.live.status.text()
    _use_model(ctx, "dlib")
    text = window.live.status.text()
    assert "No samples for the model dlib" in text and "every face will be unknown" in text
