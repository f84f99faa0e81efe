"""Icons and the style sheet, from ``facerec.config.resources_dir()`` (SVG, so they stay sharp on high-DPI)."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QPushButton

from facerec.config import resources_dir


@cache
def icon(name: str) -> QIcon:
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def icon_button(text: str, icon_name: str, slot, tip: str) -> QPushButton:
    """A push button with an icon and a tooltip, calling ``slot`` when clicked."""
    b = QPushButton(icon(icon_name), text)
    b.setToolTip(tip)
    b.clicked.connect(slot)
    return b


def style_sheet() -> str:
    d = resources_dir()
    path = d / "style.qss"
    if not path.exists():
        return ""
    return path.read_text(encoding="utf-8").replace("@ICONS@", (d / "icons").as_posix())
