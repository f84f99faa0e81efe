"""Icons and the style sheet, from ``resources/`` next to the package (SVG, so they stay sharp on high-DPI)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

_CANDIDATES = [Path(__file__).resolve().parent.parent / "resources", Path(__file__).resolve().parent / "resources"]


def resources_dir() -> Path | None:
    for d in _CANDIDATES:
        if (d / "icons").is_dir():
            return d
    return None


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    d = resources_dir()
    if d is None:
        return QIcon()
    path = d / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def style_sheet() -> str:
    d = resources_dir()
    path = d / "style.qss" if d else None
    if not path or not path.exists():
        return ""
    icons = (d / "icons").as_posix()
    return path.read_text(encoding="utf-8").replace("@ICONS@", icons)
