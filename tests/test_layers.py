"""The package never loads code from bench/ (benchmarks use the package, not the other way round). The import
contract itself (Qt-free core, layers) is checked by ``lint-imports`` in CI (pyproject.toml)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_facerec_and_ui_load_nothing_from_bench():
    pattern = re.compile(r"sys\.path\.(insert|append)|spec_from_file_location|^\s*(from|import)\s+bench\b|[\"']bench[/\"']", re.M)
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("facerec", "ui")
        for p in sorted((REPO / folder).rglob("*.py"))
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
