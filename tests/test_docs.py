"""``make docs``: the API reference builds from the docstrings with warnings treated as errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_api_reference_builds_without_warnings(tmp_path):
    out = tmp_path / "html"
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        str(REPO / "docs" / "api"), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    page = (out / "api.html").read_text()
    for name in ("macforge.simulate", "macforge.Accelerator", "macforge.SimResult", "macforge.train"):
        assert f'id="{name}"' in page, name
    assert 'id="macforge.ArrayConfig"' in (out / "hardware.html").read_text()
    quick = re.sub(r"<[^>]+>", "", (out / "quickstart.html").read_text())   # the example's code, as text
    assert "mf.train(" in quick and "acc.simulate(" in quick
