"""``macforge handoff``: the bundle parses as a FuseSoC CAPI2 core (with fusesoc itself), every file the core
names exists, every constraint names the top's real clock port, and a stock Verilator lints the Verilog
clean with only the bundle's ``.vlt`` file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from macforge.gen.cli import main


def _fusesoc_files(core: Path) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str]]:
    from fusesoc.capi2.core import CoreInterface
    from fusesoc.capi2.coreparser import Core2Parser

    c = CoreInterface(Core2Parser(), core)
    files, tops = {}, {}
    for target in ("default", "lint", "synth_ecp5"):
        flags = {"target": target, "is_toplevel": True}
        files[target] = [(f["name"], f.get("file_type", "")) for f in c.get_files(flags)]
        tops[target] = c.get_toplevel(flags)
    return files, tops


def _check_bundle(d: Path, top: str) -> dict:
    man = json.loads((d / "manifest.json").read_text())
    assert man["top"] == top
    core = d / f"{top}.core"
    files, tops = _fusesoc_files(core)
    assert set(tops.values()) == {top}
    named = {n for fl in files.values() for n, _ in fl}
    assert named >= {f"{top}.v", f"{top}.vlt", f"{top}.lpf"}
    for n in named:
        assert (d / n).is_file(), f"{n} named by the core is missing"
    types = dict(x for fl in files.values() for x in fl)
    assert types[f"{top}.v"] == "verilogSource" and types[f"{top}.vlt"] == "vlt" and types[f"{top}.lpf"] == "LPF"
    # fusesoc's own command line finds and describes the core
    env = dict(os.environ, HOME=str(d))          # no user fusesoc.conf
    p = subprocess.run([str(Path(sys.executable).parent / "fusesoc"), "--cores-root", str(d), "core-info",
                        f"macforge:ip:{top}"], capture_output=True, text=True, env=env, cwd=d)
    assert p.returncode == 0, p.stdout + p.stderr
    assert top in p.stdout
    # constraints name the real clock port of the Verilog
    clk = next(pt["name"] for pt in man["ports"] if pt.get("role", "").startswith("clock"))
    assert f"input {clk};" in (d / f"{top}.v").read_text() or f"input wire {clk}" in (d / f"{top}.v").read_text()
    assert f"[get_ports {{{clk}}}]" in (d / f"{top}.sdc").read_text()
    assert f"[get_ports {clk}]" in (d / f"{top}.xdc").read_text()
    assert f'FREQUENCY PORT "{clk}"' in (d / f"{top}.lpf").read_text()
    assert (d / "files.f").read_text().split() == [f"{top}.v"]
    # stock Verilator with nothing but the .vlt: clean, with and without -Wall
    from macforge.sim.runner import verilator_env, verilator_root
    exe = str(verilator_root() / "bin" / "verilator")
    for extra in (["-Wall"], []):
        q = subprocess.run([exe, "--lint-only", *extra, f"{top}.vlt", f"{top}.v", "--top-module", top],
                           capture_output=True, text=True, cwd=d, env=dict(os.environ, **verilator_env()))
        assert q.returncode == 0, q.stdout + q.stderr
    readme = (d / "README.md").read_text()
    assert "## Ports" in readme and "## Clock and reset" in readme and "## Reproduce" in readme
    assert "UNTESTED" in (d / "vivado_package.tcl").read_text() and "ipx::package_project" in (d / "vivado_package.tcl").read_text()
    return man


@pytest.mark.parametrize("mac", ["parallel", "bitserial"])
def test_handoff_engine_bundle(mac, tmp_path):
    d = tmp_path / "bundle"
    assert main(["handoff", str(d), "--mac", mac, "--rows", "2", "--cols", "2", "--dataflow", "ws",
                 "--max-k", "16", "--max-m", "4", "--max-batch", "8", "--max-n", "4", "--no-pnr",
                 "--clock-mhz", "125"]) == 0
    top = f"macforge_engine_{mac}_ws_2x2"
    man = _check_bundle(d, top)
    assert man["kind"] == "engine"
    assert "create_clock -name clk -period 8.000" in (d / f"{top}.sdc").read_text()
    readme = (d / "README.md").read_text()
    assert "## Packet format (version" in readme and "0x43" in readme and "M <= 8" in readme
    assert not (d / "pnr.json").exists()


def test_handoff_rejects_bad_input(tmp_path, capsys):
    d = tmp_path / "b"
    assert main(["handoff", str(d), "--rows", "0", "--no-pnr"]) == 2
    assert "rows=0 is out of range" in capsys.readouterr().err
    assert main(["handoff", str(d), "--clock-mhz", "0.5", "--no-pnr"]) == 2
    assert "clock_mhz=0.5 is out of range" in capsys.readouterr().err
    assert main(["handoff", str(d), "--speed", "4"]) == 2
    assert "speed=4 is out of range" in capsys.readouterr().err
    assert not d.exists()


@pytest.mark.slow
def test_handoff_array_with_pnr(tmp_path):
    d = tmp_path / "bundle"
    assert main(["handoff", str(d), "--top", "array", "--rows", "2", "--cols", "2"]) == 0
    top = "macforge_parallel_os_2x2"
    _check_bundle(d, top)
    pnr = json.loads((d / "pnr.json").read_text())
    assert pnr["fmax_best_mhz"] > 20 and pnr["out_of_context"]
    mhz = float((d / f"{top}.lpf").read_text().split()[-2])
    assert mhz % 5 == 0 and mhz <= pnr["fmax_best_mhz"]
    assert f"{pnr['fmax_best_mhz']:.1f} MHz" in (d / "README.md").read_text()
    # the figures were measured on the ECP5 netlist (registered MULT18X18D), which the bundle ships
    assert pnr["target"] == "ecp5" and pnr["verilog"] == f"{top}_ecp5.v"
    assert "MULT18X18D" in (d / f"{top}_ecp5.v").read_text()
    assert "MULT18X18D" not in (d / f"{top}.v").read_text()
    assert f"{top}_ecp5.v" in (d / f"{top}.core").read_text()
    assert not list(d.glob("pnr_ecp5*.v"))
