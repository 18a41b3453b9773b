"""Packaging: one import name (``macforge``), and the quickstart runs from a wheel installed outside the repo.

The wheel is built with pip (PEP 517, build isolation, like any user's ``pip install .``), installed into a
fresh virtual environment under pytest's temporary folder, and ``examples/quickstart.py`` runs there with
that folder as its working directory, so nothing from the checkout can be imported by accident.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
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
    # build from a clean copy of the sources: setuptools' build/lib in the checkout may hold stale modules
    src = tmp_path_factory.mktemp("src") / "macforge"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                             ".pytest_cache", "sim_build"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
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
    assert not missing, f"modules missing from the wheel (is the folder a package, with __init__.py?): {missing}"
    # and nothing else: a module deleted from the source must not linger in the wheel (stale build/lib)
    shipped = {n for n in names if n.endswith(".py") and n.split("/")[1] in PACKAGES}
    extra = shipped - {f"macforge/{p.relative_to(REPO).as_posix()}" for p in _sources()}
    assert not extra, f"the wheel ships modules that are not in the source: {sorted(extra)}"
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


def test_quickstart_from_an_installed_wheel(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MACFORGE_BUILD")}
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True, env=env,
                   capture_output=True, text=True)
    # the only top-level import name the macforge distribution adds
    probe = ("import json, importlib.metadata as m; d = m.packages_distributions(); "
             "print(json.dumps(sorted(n for n, ds in d.items() if 'macforge' in ds)))")
    names = json.loads(subprocess.run([str(py), "-c", probe], check=True, env=env, cwd=tmp_path,
                                      capture_output=True, text=True).stdout)
    assert names == ["macforge"]
    # the installed package, not the checkout, is what runs
    where = subprocess.run([str(py), "-c", "import macforge; print(macforge.__file__)"], check=True, env=env,
                           cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    run = subprocess.run([str(py), str(REPO / "examples" / "quickstart.py"), "--out", "qs"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    print(run.stdout[-4000:], run.stderr[-4000:])
    assert run.returncode == 0
    assert " 0 mismatches" in run.stdout
    report = json.loads((tmp_path / "qs" / "sim" / "report.json").read_text())
    assert report["images"] == 50 and report["mismatches"] == 0
    assert report["cycles"] == report["cycles_model_total"]
    assert (tmp_path / "qs" / "engine" / "manifest.json").is_file()
