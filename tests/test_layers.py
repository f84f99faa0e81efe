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


def test_every_facerec_module_is_in_a_layer_of_the_import_contract():
    """lint-imports only checks the modules its layers name: a new top-level module must be given a layer."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    listed = {name.strip() for layer in layers for name in re.split(r"[:|]", layer)}
    modules = {
        f"facerec.{p.stem if p.is_file() else p.name}"
        for p in (REPO / "facerec").iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()
    }
    assert sorted(modules - listed) == []
