"""``macforge pnr``: Yosys + nextpnr (PyPI wheels), figures from nextpnr's ``--report`` JSON.

Default tier: one tiny design (a 2x2 array, ECP5, one seed, ~30 s) and the option/report parsing
units. The iCE40 run (IO wrapper) is in the slow tier.
"""

from __future__ import annotations

import json

import pytest

from macforge.gen.cli import main
from macforge.gen.pnr import check_options, ice40_wrapper, parse_report


def test_check_options_names_parameter():
    assert check_options("ecp5", None, None, 1) == ("85k", 8)
    assert check_options("ice40", None, None, 3) == ("up5k", None)
    for args, words in [(("ecp5", None, 9, 1), "speed=9 is out of range: allowed 6, 7, 8"),
                        (("ecp5", "99k", None, 1), "device='99k' is not a ecp5 device"),
                        (("ice40", None, 8, 1), "speed=8"),
                        (("ecp5", None, None, 0), "seeds=0 is out of range: allowed [1, 32]"),
                        (("xilinx", None, None, 1), "family='xilinx' is not supported")]:
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            check_options(*args)


def test_parse_report_takes_min_fmax_and_used_bels():
    rep = {"fmax": {"clk": {"achieved": 210.5, "constraint": 250}, "clk2": {"achieved": 190.25, "constraint": 200}},
           "utilization": {"MULT18X18D": {"used": 3, "available": 156}, "DP16KD": {"used": 0, "available": 208}},
           "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
               {"type": "clk-to-q", "delay": 0.4, "from": {"cell": "a"}, "to": {"cell": "a"}},
               {"type": "routing", "delay": 1.5, "from": {"cell": "a"}, "to": {"cell": "b"}},
               {"type": "setup", "delay": 0.1, "from": {"cell": "b"}, "to": {"cell": "b"}}]}]}
    r = parse_report(rep)
    assert r["fmax_mhz"] == 190.25
    assert r["utilization"] == {"MULT18X18D": {"used": 3, "available": 156}}
    cp = r["critical_path"]
    assert (cp["from"], cp["to"], cp["steps"]) == ("a", "b", 3)
    assert cp["routing_ns"] == 1.5 and cp["logic_ns"] == 0.5
    with pytest.raises(ValueError, match="no fmax"):
        parse_report({"fmax": {}})


def test_slow_endpoints_group_register_bits_and_keep_each_endpoints_worst_path():
    """``--detailed-timing-report`` data: per endpoint the worst delay over the nets reaching it, grouped by
    register (indices dropped), slowest group first, near-critical counted against the achieved period."""
    ep = lambda cell, port, d: {"cell": cell, "port": port, "event": "posedge clk", "delay": [d / 2, d]}
    rep = {"fmax": {"clk": {"achieved": 125.0, "constraint": 250}},
           "detailed_net_timings": [
               {"net": "n1", "driver": "lut_a", "port": "F", "event": "posedge clk",
                "endpoints": [ep("acc_TRELLIS_FF_Q_3", "DI", 7.9), ep("acc_TRELLIS_FF_Q_4", "DI", 6.0),
                              ep("ram.b12", "ADA3", 2.0)]},
               {"net": "n2", "driver": "lut_b", "port": "F", "event": "posedge clk",
                "endpoints": [ep("acc_TRELLIS_FF_Q_4", "DI", 7.5)]}]}
    rows = parse_report(rep)["slow_endpoints"]
    assert [r["group"] for r in rows] == ["acc.DI", "ram.b#.ADA#"]
    assert rows[0] == {"group": "acc.DI", "worst_ns": 7.9, "endpoints": 2, "near_critical": 2, "driver": "lut_a"}
    assert rows[1]["endpoints"] == 1 and rows[1]["near_critical"] == 0
    assert "slow_endpoints" not in parse_report({"fmax": rep["fmax"]})


def test_ice40_wrapper_connects_every_port():
    ports = [{"name": "a", "direction": "input", "width": 3}, {"name": "b", "direction": "input", "width": 1},
             {"name": "y", "direction": "output", "width": 5}, {"name": "clk", "direction": "input", "width": 1},
             {"name": "rst", "direction": "input", "width": 1}]
    text, nregs = ice40_wrapper("top", ports)
    assert nregs == 4 + 5
    assert ".a(isr[2:0])" in text and ".b(isr[3:3])" in text and ".y(ov[4:0])" in text
    assert ".clk(clk)" in text and "module pnr_wrap(input clk, input rst, input sin, input load, output sout)" in text


def test_pnr_2x2_array_ecp5(tmp_path):
    """A real Yosys + nextpnr-ecp5 run (out-of-context, under /tmp: the tools run with cwd + relative names)."""
    out = tmp_path / "a2"
    assert main(["gen", "--top", "array", "--rows", "2", "--cols", "2", "--out", str(out)]) == 0
    assert main(["pnr", str(out), "--speed", "8"]) == 0
    r = json.loads((out / "pnr.json").read_text())
    assert r["family"] == "ecp5" and r["device"] == "85k" and r["speed"] == 8 and r["out_of_context"]
    assert not r["io_wrapper"] and r["clock_port"] == "clk"
    assert (out / r["constraints"]).read_text() == 'FREQUENCY PORT "clk" 250 MHZ;\n'
    assert 20 < r["fmax_best_mhz"] < 1000 and r["fmax_median_mhz"] == r["fmax_best_mhz"]
    assert r["utilization"]["MULT18X18D"]["used"] == 4         # one DSP per PE
    assert r["utilization"]["TRELLIS_FF"]["used"] > 0
    rep = json.loads((out / r["runs"][0]["report"]).read_text())   # the figure is the report's
    assert min(v["achieved"] for v in rep["fmax"].values()) == pytest.approx(r["fmax_best_mhz"], abs=1e-3)
    assert r["critical_path"]["delay_ns"] > 0 and r["critical_path"]["steps"] >= 2
    assert r["command"].endswith("--seeds 1")
    # --reuse: the seed's marker matches (same netlist, same arguments), so nothing is placed again; a
    # new clock target changes the arguments, so that seed is placed anew
    before = (out / r["runs"][0]["report"]).stat().st_mtime_ns
    assert main(["pnr", str(out), "--speed", "8", "--reuse"]) == 0
    r2 = json.loads((out / "pnr.json").read_text())
    assert (out / r["runs"][0]["report"]).stat().st_mtime_ns == before
    assert r2["fmax_best_mhz"] == r["fmax_best_mhz"] and r2["runs"][0]["pnr_s"] < 1
    assert main(["pnr", str(out), "--speed", "8", "--reuse", "--target-mhz", "200"]) == 0
    r3 = json.loads((out / "pnr.json").read_text())
    assert (out / r["runs"][0]["report"]).stat().st_mtime_ns != before
    assert r3["target_mhz"] == 200 and r3["command"].endswith("--seeds 1 --target-mhz 200")


def test_pnr_cli_errors(tmp_path, capsys):
    assert main(["pnr", str(tmp_path / "none")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["pnr", str(tmp_path), "--speed", "5"]) == 2
    assert "speed=5 is out of range" in capsys.readouterr().err


@pytest.mark.slow
def test_pnr_2x2_array_ice40_wrapper(tmp_path):
    out = tmp_path / "a2"
    assert main(["gen", "--top", "array", "--rows", "2", "--cols", "2", "--out", str(out)]) == 0
    assert main(["pnr", str(out), "--family", "ice40", "--seeds", "2"]) == 0
    r = json.loads((out / "pnr_ice40.json").read_text())
    assert r["io_wrapper"] and r["wrapper"]["file"] == "pnr_wrap.v" and (out / "pnr_wrap.v").is_file()
    assert r["utilization"]["SB_IO"]["used"] == 5            # clk, rst, sin, load, sout
    assert len(r["fmax_all_mhz"]) == 2 and r["fmax_best_mhz"] >= r["fmax_median_mhz"] > 0


def test_fpga_bench_import_checks_the_folder(tmp_path):
    """``fpga_bench --import NAME=DIR`` takes figures only from a folder that holds NAME's configuration,
    emitted by the current RTL, with a ``pnr.json``; anything else is refused with the reason."""
    from macforge.gen.emit import emit
    from macforge.gen.fpga_bench import import_pnr
    from macforge.golden.config import ArrayConfig
    cfg = ArrayConfig(rows=2, cols=2, dataflow="os", mac="parallel")    # ecp5 target: MULT18X18D instances
    d = tmp_path / "d"
    emit(cfg, d)
    with pytest.raises(ValueError, match="no pnr.json"):
        import_pnr("x", cfg, d)
    v = next(d.glob("*.v"))
    fake = {"top": "t", "speed": 8, "seeds": 1, "synth": {"lut": 10, "ff": 5, "carry": 1, "dsp": 0, "bram": 0},
            "utilization": {}, "fmax_best_mhz": 250.0, "fmax_median_mhz": 250.0, "critical_path": {},
            "wall_s": 1.0, "config": cfg.to_dict(), "family": "ecp5", "device": "85k", "out_of_context": True,
            "verilog": v.name, "target": "generic"}
    (d / "pnr.json").write_text(json.dumps(fake))
    r = import_pnr("x", cfg, d)
    assert (r["fmax_mhz"], r["lut"], r["lut4_equiv"], r["speed"]) == (250.0, 10, 12, 8)
    with pytest.raises(ValueError, match="measured configuration"):
        import_pnr("x", ArrayConfig(rows=2, cols=3, dataflow="os", mac="parallel"), d)
    (d / "pnr.json").write_text(json.dumps({**fake, "family": "ice40", "device": "up5k"}))
    with pytest.raises(ValueError, match="family/device"):
        import_pnr("x", cfg, d)
    (d / "pnr.json").write_text(json.dumps({**fake, "target": "ecp5"}))   # placed text differs from ecp5's
    with pytest.raises(ValueError, match="not what the current RTL emits"):
        import_pnr("x", cfg, d)
    (d / "pnr.json").write_text(json.dumps(fake))
    v.write_text(v.read_text() + "\n// edited\n")
    with pytest.raises(ValueError, match="not what the current RTL emits"):
        import_pnr("x", cfg, d)
