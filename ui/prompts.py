"""Every question the application asks the user, in one place (tests replace these functions).

Error and information messages are shown without blocking (``QMessageBox.open``), so a failing background
job never freezes the window and nothing the user did is lost.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from facerec.imaging import IMAGE_EXTENSIONS

IMAGE_FILTER = "Images (" + " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS)) + ");;All files (*)"
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v);;All files (*)"

_open_boxes: list[QMessageBox] = []


def _show(parent: QWidget | None, icon, title: str, text: str, details: str | None = None) -> QMessageBox:
    box = QMessageBox(icon, title, text, QMessageBox.Ok, parent)
    box.setObjectName("messageBox")
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WA_DeleteOnClose)
    _open_boxes.append(box)
    box.finished.connect(lambda _=0, b=box: _open_boxes.remove(b) if b in _open_boxes else None)
    box.open()
    return box


def error(parent: QWidget | None, title: str, text: str, details: str | None = None) -> QMessageBox:
    return _show(parent, QMessageBox.Critical, title, text, details)


def info(parent: QWidget | None, title: str, text: str, details: str | None = None) -> QMessageBox:
    return _show(parent, QMessageBox.Information, title, text, details)


def open_messages() -> list[QMessageBox]:
    """Message boxes currently shown (tests read them); boxes deleted with their window are forgotten."""
    import shiboken6

    _open_boxes[:] = [b for b in _open_boxes if shiboken6.isValid(b)]
    return list(_open_boxes)


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text, QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
    return answer == QMessageBox.Yes


def ask_text(parent: QWidget | None, title: str, label: str, text: str = "") -> str | None:
    value, ok = QInputDialog.getText(parent, title, label, QLineEdit.Normal, text)
    value = value.strip()
    return value if ok and value else None


def ask_choice(
    parent: QWidget | None, title: str, label: str, choices: list[str], editable: bool = False, current: str | None = None
) -> str | None:
    """One of ``choices`` (or, ``editable``, a typed one). ``current`` is pre-selected (the most likely answer,
    e.g. the face's suggested person); without it an editable chooser starts empty, never on the first name."""
    if not choices and not editable:
        return None
    if current is not None and current not in choices:
        choices = [current, *choices]
    if current is not None:
        index = choices.index(current)
    elif editable:
        choices, index = ["", *choices], 0
    else:
        index = 0
    value, ok = QInputDialog.getItem(parent, title, label, choices, index, editable)
    value = value.strip()
    return value if ok and value else None


def ask_files(parent: QWidget | None, title: str = "Choose photos") -> list[str]:
    files, _ = QFileDialog.getOpenFileNames(parent, title, "", IMAGE_FILTER)
    return files


def ask_folder(parent: QWidget | None, title: str = "Choose a folder", start: str = "") -> str | None:
    folder = QFileDialog.getExistingDirectory(parent, title, start)
    return folder or None


def ask_video(parent: QWidget | None) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a video file", "", VIDEO_FILTER)
    return path or None


def ask_save(parent: QWidget | None, title: str, name: str, filter_: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, name, filter_)
    return path or None


def pick_face(parent: QWidget | None, image, faces) -> int | None:
    """Ask which of several faces in a photo to use; ``None`` if the user cancels."""
    from .dialogs import FacePickerDialog

    dlg = FacePickerDialog(image, faces, parent)
    return dlg.selected_index() if dlg.exec() else None
