"""Helpers shared by the GUI tests (imported by tests/test_gui_*.py; not a test module)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402


def make_ctx(db: Path, analyzer):
    from facerec.config import Settings
    from ui.context import AppContext

    settings = Settings(db_path=db)
    ctx = AppContext(settings, settings_path=db.parent / "settings.json")
    ctx._analyzer = analyzer  # share the session's loaded models
    return ctx


def wait_tasks(qtbot, ctx, timeout: int = 120_000) -> None:
    qtbot.waitUntil(lambda: ctx.tasks.running == 0, timeout=timeout)


def messages():
    from ui import prompts

    return [(b.windowTitle(), b.text()) for b in prompts.open_messages()]


def close_messages() -> None:
    from ui import prompts

    for b in prompts.open_messages():
        b.done(0)
