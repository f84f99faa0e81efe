"""The rescan offer: after the model or the minimum face size changed, offer "Rescan everything" or "Only what's
missing" (``Library.rescan_offer`` and ``facerec.library.rescan.rescan`` in workers; decisions are kept)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from . import library_jobs
from .context import AppContext

EVERYTHING = "Rescan everything"
MISSING = "Only what's missing"


def check_rescan(parent: QWidget, ctx: AppContext) -> None:
    """Ask the library (in a worker) whether photos were scanned with other settings; if so, offer a rescan."""
    ctx.tasks.start(library_jobs.rescan_offer, ctx.library, on_result=lambda offer: offer_rescan(parent, ctx, offer))


def offer_rescan(parent: QWidget, ctx: AppContext, offer) -> QMessageBox | None:
    """A non-blocking question with the two rescans and "Not now"; None when every photo is up to date."""
    if not offer.outdated:
        return None
    box = QMessageBox(QMessageBox.Question, "Rescan the library?",
                      f"{offer.outdated} of {offer.total} photos were scanned with other settings "
                      f"(model {offer.model_id}, minimum face size {offer.min_face_size} px now). "
                      "Rescan them so every photo is found with the same settings? Your decisions are kept.",
                      QMessageBox.NoButton, parent)
    box.setObjectName("rescanOffer")
    everything = box.addButton(EVERYTHING, QMessageBox.AcceptRole)
    missing = box.addButton(MISSING, QMessageBox.AcceptRole)
    box.addButton("Not now", QMessageBox.RejectRole)
    box.setDefaultButton(missing)
    box.setAttribute(Qt.WA_DeleteOnClose)

    def clicked(button) -> None:
        if button in (everything, missing):
            run_rescan(parent, ctx, everything=button is everything)

    box.buttonClicked.connect(clicked)
    box.open()
    parent.rescan_box = box  # type: ignore[attr-defined]
    return box


def run_rescan(parent: QWidget, ctx: AppContext, everything: bool) -> None:
    status = parent.statusBar() if hasattr(parent, "statusBar") else None

    def say(text: str) -> None:
        if status is not None:
            status.showMessage(text)

    def done(result) -> None:
        say(f"Rescan done: {result.photos} photos, {result.faces} faces, {result.errors} unreadable.")
        ctx.libraryChanged.emit()

    say("Rescanning the library…")
    ctx.tasks.start(library_jobs.rescan, ctx.store, ctx.analyzer, everything, on_result=done,
                    on_progress=lambda p: say(f"Rescanning… {p}"),
                    on_error=lambda e: say(f"Rescan failed: {e.message}"))
