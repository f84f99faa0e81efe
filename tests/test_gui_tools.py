"""Tools menu: personalise matching (``facerec adapt``) from the GUI, and undo it."""

from __future__ import annotations

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
from guikit import close_messages, messages, wait_tasks
from test_adapt import nuisance_gallery

from facerec.personalisation import head_path


def test_personalise_and_undo_from_the_menu(gui, qtbot, monkeypatch):  # noqa: F811
    from ui import prompts

    window, ctx = gui
    emb, labels = nuisance_gallery()
    for vec, label in zip(emb, labels):
        ctx.store.add_sample(f"person {label}", vec, ctx.analyzer.model_id)
    monkeypatch.setattr(prompts, "confirm", lambda *a, **k: True)
    menu = {a.text().replace("&", ""): a for m in window.menuBar().actions() for a in m.menu().actions()}

    menu["Personalise matching to my gallery…"].trigger()
    wait_tasks(qtbot, ctx)
    qtbot.waitUntil(lambda: any(title == "Personalise matching" for title, _ in messages()), timeout=10_000)
    (text,) = [t for title, t in messages() if title == "Personalise matching"]
    assert text.startswith("Kept") and "Cross-checked identification" in text
    head = head_path(ctx.store.path, ctx.analyzer.model_id)
    assert head.exists()
    close_messages()

    menu["Undo personalisation"].trigger()
    wait_tasks(qtbot, ctx)
    qtbot.waitUntil(lambda: any(t == "Personalisation removed." for _, t in messages()), timeout=10_000)
    assert not head.exists()
    close_messages()
