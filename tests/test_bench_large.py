"""The large-array benchmark's bookkeeping (gen/bench_large.py): resumable JSON, --record, the table.

No design is built here (the measuring stages are exercised by ``make bench-large``)."""

from __future__ import annotations

import json

import pytest

from macforge.gen import bench_large as bl


def test_record_and_table(tmp_path):
    out = tmp_path / "large"
    assert bl.main(["--out", str(out), "--record", "ws,128,build,build_s=1675.4,source=tests/test_large.py"]) == 0
    rows = json.loads((out / "large.json").read_text())["rows"]
    assert rows == [{"rows": 128, "cols": 128, "dataflow": "ws", "mac": "parallel",
                     "build_source": "tests/test_large.py", "build_s": 1675.4}]
    rows.append({"rows": 8, "cols": 8, "dataflow": "ws", "mac": "parallel", "emit_s": 0.5, "verilog_bytes": 10**5,
                 "modules": 10, "synth_s": 7.1, "synth_error": "abc9", "not_measured": {"build": "above --build-max 4"}})
    t = bl.table(rows)
    assert "| 1675.4 (from tests/test_large.py) |" in t
    line8 = next(l for l in t.splitlines() if l.startswith("| WS 8x8 |"))
    assert "| 0.50 | 0.10 | 10 | not measured (stage not run) | not measured (above --build-max 4) |" in line8
    assert line8.count(" failed ") == 2 and "7.1" not in line8      # synth s and cells; a failed time is no figure
    assert bl._val(rows[1], "synth_s") is None and bl._val(rows[1], "emit_s") == 0.5


def test_growth_exponent():
    assert bl._growth([(64, 1.0), (256, 4.0), (1024, 16.0)]) == 1.0
    assert bl._growth([(64, 2.0)]) is None


def test_unknown_stage_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bl.main(["--out", str(tmp_path), "--stages", "emit,place"])
    assert "unknown stage(s) place; allowed: emit, lint, build, synth" in capsys.readouterr().err
