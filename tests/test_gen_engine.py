"""``macforge gen --top engine`` (the default top): Verilog of the AXI4-Stream layer engine for every MAC
family, lint-clean with the documented waivers, and a manifest with ports, packet format, limits and the
engine cycle model (which must equal :mod:`macforge.golden.engine_cycles`)."""

from __future__ import annotations

import json

import pytest

from macforge.gen.cli import main
from macforge.golden.config import ArrayConfig
from macforge.golden.engine import PACKET_FORMAT_VERSION, capability_words
from macforge.golden.engine_config import EngineConfig
from macforge.golden.engine_cycles import job_cycles


@pytest.mark.parametrize("mac", ["parallel", "bitserial"])
def test_gen_engine_default_top_lint_and_manifest(mac, tmp_path):
    from macforge.gen.lint import lint_dir

    out = tmp_path / "eng"
    args = ["gen", "--mac", mac, "--rows", "3", "--cols", "2", "--dataflow", "ws", "--max-k", "32",
            "--max-m", "8", "--max-batch", "40", "--max-n", "8", "--out", str(out)]
    assert main(args) == 0
    man = json.loads((out / "manifest.json").read_text())
    e = EngineConfig(ArrayConfig(rows=3, cols=2, dataflow="ws", mac=mac, max_k=32, max_m=8), max_m=40, max_n=8)
    assert man["kind"] == "engine" and man["top"] == e.top_name
    assert EngineConfig.from_dict(man["config"]) == e
    ports = {p["name"]: (p["direction"], p["width"]) for p in man["ports"]}
    assert ports == {
        "s_axis_tdata": ("input", 64), "s_axis_tvalid": ("input", 1), "s_axis_tready": ("output", 1),
        "s_axis_tlast": ("input", 1), "m_axis_tdata": ("output", 64), "m_axis_tvalid": ("output", 1),
        "m_axis_tready": ("input", 1), "m_axis_tlast": ("output", 1), "m_axis_tuser": ("output", 1),
        "status": ("output", 8), "clk": ("input", 1), "rst": ("input", 1)}
    assert f"module {e.top_name}(" in (out / man["verilog"]).read_text()
    lim = man["limits"]
    assert (lim["max_m"], lim["max_k"], lim["max_n"], lim["block_rows"]) == (40, 32, 8, 8)
    assert lim["weight_range"] == [-128, 127] and lim["shift_range"] == [1, 62]
    assert man["packet_format"]["version"] == PACKET_FORMAT_VERSION
    assert man["packet_format"]["capabilities"]["values"] == capability_words(e)
    cm = man["cycle_model"]["per_precision"]
    assert len(cm) == (8 if mac == "bitserial" else 1)
    for ent in cm:
        lay = ent["layer"]
        p = ent["precision"] if mac == "bitserial" else None
        assert ent["cycles"] == job_cycles(e, lay["M"], lay["K"], lay["N"], p)
    for wall in (True, False):
        r = lint_dir(out, wall=wall)
        assert r.ok, r.output[-3000:]


def test_gen_engine_errors_name_the_parameter(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["gen", "--axis-width", "48", "--out", str(out)]) == 2
    assert "axis_width=48" in capsys.readouterr().err
    assert main(["gen", "--max-batch", "0", "--out", str(out)]) == 2
    assert "max_m=0 is out of range: allowed [1, 65535]" in capsys.readouterr().err
    assert main(["gen", "--top", "array", "--max-n", "4", "--out", str(out)]) == 2
    assert "--max-n only apply to --top engine" in capsys.readouterr().err
    assert not out.exists()


def test_gen_engine_config_roundtrip(tmp_path):
    out = tmp_path / "e1"
    assert main(["gen", "--rows", "2", "--cols", "2", "--max-batch", "9", "--axis-width", "128",
                 "--out", str(out)]) == 0
    out2 = tmp_path / "e2"
    assert main(["gen", "--config", str(out / "manifest.json"), "--out", str(out2)]) == 0
    a = json.loads((out / "manifest.json").read_text())["config"]
    b = json.loads((out2 / "manifest.json").read_text())["config"]
    assert a == b and a["max_m"] == 9 and a["axis_width"] == 128
