"""Packaging: one import name (``macforge``), and the quickstart runs from a wheel installed outside the repo.

The wheel is built with pip (PEP 517, build isolation, like any user's ``pip install .``), installed into a
fresh virtual environment under pytest's temporary folder, and ``examples/quickstart.py`` runs there with
that folder as its working directory, so nothing from the checkout can be imported by accident.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("golden", "rtl", "sim", "gen")


def _sources() -> list[Path]:
    return sorted(p for d in PACKAGES for p in (REPO / d).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
                   check=True, capture_output=True, text=True)
    (whl,) = out.glob("macforge-*.whl")
    return whl


def test_wheel_holds_one_top_level_name_and_every_module(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"macforge"}, f"the wheel installs other top-level names: {sorted(top)}"
    (info,) = dist_info
    top_level = zipfile.ZipFile(wheel).read(f"{info}/top_level.txt").decode().split()
    assert top_level == ["macforge"]
    # every module of the design card's folders is in the wheel, under macforge.<folder>
    missing = [str(p.relative_to(REPO)) for p in _sources()
               if f"macforge/{p.relative_to(REPO).as_posix()}" not in names]
    assert not missing, f"modules missing from the wheel (add their package to pyproject.toml): {missing}"
    assert "macforge/__init__.py" in names and "macforge/api.py" in names


def test_every_import_uses_the_macforge_namespace():
    """No module imports ``golden``/``rtl``/``sim``/``gen`` as top-level names (they are not installed)."""
    files = _sources() + sorted((REPO / "tests").glob("*.py")) + sorted((REPO / "macforge").glob("*.py")) \
        + sorted((REPO / "examples").glob("*.py"))
    bad = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            bad += [f"{f.relative_to(REPO)}:{node.lineno}: {m}" for m in mods if m.split(".")[0] in PACKAGES]
    assert not bad, "imports outside the macforge namespace:\n" + "\n".join(bad)
