"""The handoff bundle: a folder a hardware engineer takes into their own flow.

``handoff(cfg, DIR)`` (``macforge handoff DIR``) writes, for a layer engine (:class:`EngineConfig`) or a bare
array (:class:`ArrayConfig`), with ``TOP`` the Verilog module name:

==========================  ==========================================================================
file                        content
==========================  ==========================================================================
``TOP.v``                   the Verilog (``macforge gen``), one file, every submodule inside
``TOP_ecp5.v``              only for designs with multipliers: the same design for the ``ecp5`` emission
                            target (:mod:`macforge.rtl.dsp`: Lattice ``MULT18X18D`` primitives with their
                            input and output registers, engine buffers in ``DP16KD`` with the output
                            register; same cycles), the netlist ``pnr.json`` measured
``manifest.json``           ports, packet format, limits, cycle model, tool versions (:mod:`~macforge.gen.emit`)
``files.f``                 file list (one path per line, relative to the bundle)
``TOP.sdc``                 ``create_clock`` on the clock port (Synopsys/Diamond/Radiant/Quartus style)
``TOP.xdc``                 the same for Vivado
``TOP.lpf``                 ``FREQUENCY PORT`` for Lattice Diamond / nextpnr-ecp5
``TOP.vlt``                 Verilator configuration: the lint waivers a stock Verilator build needs
``TOP.core``                FuseSoC CAPI2 core: filesets (Verilog, SDC, XDC, LPF, VLT), targets
                            ``default``, ``lint`` (Verilator lint-only) and ``synth_ecp5`` (Yosys)
``pnr.json``                place-and-route figures (``macforge pnr``: Fmax best/median, utilization,
                            critical path), when measured (``pnr=True``, the default)
``vivado_package.tcl``      ``ipx::package_project`` script -- UNTESTED here (no Vivado on this machine)
``README.md``               port table, packet format, reset and clocking rules, figures, reproduce commands
==========================  ==========================================================================

The clock constraint's frequency is ``clock_mhz`` if given, else the measured best Fmax rounded down to a
multiple of 5 MHz, else 100 MHz. Every constraint names the top's real clock port (read from the
manifest's port list, the port whose role is the clock).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

CORE_VERSION = "0.1.0"


def clock_port(man: dict) -> str:
    return next(p["name"] for p in man["ports"] if p.get("role", "").startswith("clock"))


def reset_port(man: dict) -> str:
    return next(p["name"] for p in man["ports"] if p.get("role", "").startswith("synchronous reset"))


def sdc_text(port: str, mhz: float) -> str:
    period = 1000.0 / mhz
    return (f"# clock of the macforge design (rising edge); {mhz:g} MHz\n"
            f"create_clock -name {port} -period {period:.3f} [get_ports {{{port}}}]\n")


def xdc_text(port: str, mhz: float) -> str:
    period = 1000.0 / mhz
    return (f"# clock of the macforge design (rising edge); {mhz:g} MHz. Add pin/IO constraints of your board.\n"
            f"create_clock -name {port} -period {period:.3f} [get_ports {port}]\n")


def lpf_text(port: str, mhz: float) -> str:
    return f'# clock of the macforge design (rising edge)\nFREQUENCY PORT "{port}" {mhz:g} MHZ;\n'


def vlt_text(man: dict) -> str:
    """Verilator configuration file with every waiver of the manifest, each with its reason."""
    lw = man["lint_waivers"]
    reasons = lw.get("reasons", {})
    flags = lw["simulation"] + lw["lint_extra"] + lw["lint_wall_extra"]
    rules = [f[len("-Wno-"):] for f in flags if f.startswith("-Wno-")]
    lines = ["`verilator_config", "// Waivers for macforge's Amaranth-generated Verilog (see manifest.json",
             "// lint_waivers): pass this file on the verilator command line next to the Verilog."]
    for r in rules:
        lines.append(f"// {r}: {reasons.get(r, '')}")
        lines.append(f'lint_off -rule {r}')
    return "\n".join(lines) + "\n"


def core_text(man: dict, files: dict[str, str]) -> str:
    """FuseSoC CAPI2 core (YAML) naming the bundle's files (``synth_ecp5`` uses the ECP5 netlist when the
    bundle has one)."""
    top = man["top"]
    ecp5 = files.get("verilog_ecp5")
    ecp5_rtl = "rtl_ecp5" if ecp5 else "rtl"
    ecp5_fileset = (f"  rtl_ecp5:\n    files:\n      - {ecp5}\n    file_type: verilogSource\n" if ecp5 else "")
    return f"""CAPI=2:
# FuseSoC core of a macforge design (generated; see README.md)
name: macforge:ip:{top}:{CORE_VERSION}
description: "macforge {man.get('kind', 'array')} {top} (Amaranth-generated Verilog, verified against the macforge golden model)"

filesets:
  rtl:
    files:
      - {files['verilog']}
    file_type: verilogSource
  sdc:
    files:
      - {files['sdc']}
    file_type: SDC
  xdc:
    files:
      - {files['xdc']}
    file_type: xdc
  lpf:
    files:
      - {files['lpf']}
    file_type: LPF
  verilator_waivers:
    files:
      - {files['vlt']}
    file_type: vlt
{ecp5_fileset}
targets:
  default:
    filesets: [rtl]
    toplevel: {top}
  lint:
    default_tool: verilator
    filesets: [rtl, verilator_waivers]
    toplevel: {top}
    tools:
      verilator:
        mode: lint-only
  synth_ecp5:
    default_tool: yosys
    filesets: [{ecp5_rtl}, lpf]
    toplevel: {top}
    tools:
      yosys:
        arch: ecp5
"""


def vivado_tcl(man: dict, files: dict[str, str]) -> str:
    top = man["top"]
    rst = reset_port(man)
    clk = clock_port(man)
    axis = [p["stream"] for p in man["ports"] if p.get("stream") in ("s_axis", "m_axis")]
    busifs = sorted(set(axis))
    assoc = "\n".join(f"ipx::associate_bus_interfaces -busif {b} -clock {clk} [ipx::current_core]"
                      for b in busifs)
    return f"""# UNTESTED: written by macforge, never run here (no Vivado on the build machine).
# Packages {top} as a Vivado IP (as hls4ml and FINN do): vivado -mode batch -source {files['tcl']}
# Part: change PART to yours. Reset `{rst}` is synchronous and ACTIVE HIGH (not an AXI aresetn).
set PART xc7z020clg400-1
create_project -force pkg_{top} ./vivado_pkg -part $PART
add_files -norecurse {files['verilog']}
add_files -fileset constrs_1 -norecurse {files['xdc']}
set_property top {top} [current_fileset]
update_compile_order -fileset sources_1
ipx::package_project -root_dir ./ip_{top} -vendor macforge -library user -taxonomy /UserIP -import_files
ipx::infer_bus_interfaces xilinx.com:interface:axis_rtl:1.0 [ipx::current_core]
{assoc}
set_property core_revision 1 [ipx::current_core]
ipx::create_xgui_files [ipx::current_core]
ipx::update_checksums [ipx::current_core]
ipx::check_integrity [ipx::current_core]
ipx::save_core [ipx::current_core]
close_project
"""


def _port_table(man: dict) -> str:
    rows = ["| port | direction | width | role |", "| --- | --- | --- | --- |"]
    for p in man["ports"]:
        role = p.get("role", "")
        if p.get("stream") and not role.startswith(("clock", "synchronous")):
            role = f"{p['stream']} {role}"
        rows.append(f"| `{p['name']}` | {p['direction']} | {p['width']} | {role} |")
    return "\n".join(rows)


def _word_fields(word: dict) -> str:
    """``[7:0]` opcode (...)``-style list of a header word's fields, from the manifest's packet format."""
    parts = []
    for name, f in word.items():
        if not isinstance(f, dict) or "bits" not in f:
            continue
        lo, hi = f["bits"]
        rng = f"[{hi}:{lo}]" if hi != lo else f"[{lo}]"
        extra = []
        if "values" in f:
            extra.append(", ".join(f"{k} 0x{v:02X}" for k, v in f["values"].items()))
        if "range" in f:
            extra.append(f"{f['range'][0]}..{f['range'][1]}")
        if "rule" in f:
            extra.append(f["rule"])
        parts.append(f"`{rng}` {name}" + (f" ({'; '.join(extra)})" if extra else ""))
    return ", ".join(parts)


def readme_text(man: dict, pnr: dict | None, files: dict[str, str], mhz: float, reproduce: str) -> str:
    top = man["top"]
    clk, rst = clock_port(man), reset_port(man)
    engine = man.get("kind") == "engine"
    cfg = man["config"]
    arr = cfg["array"] if engine else cfg
    out = [f"# {top}", "",
           f"macforge {'layer engine' if engine else 'systolic array'}: {arr['rows']}x{arr['cols']} "
           f"{arr['mac']} MAC, {arr['dataflow'].upper()} dataflow, a{arr['a_width']} w{arr['w_width']} "
           f"acc{arr['acc_width']}. Generated by macforge from one frozen configuration "
           f"(`manifest.json` `config`, digest `{man['config_digest']}`); the same Verilog is verified bit- and "
           "cycle-exact against macforge's NumPy golden model with cocotb on Verilator.", "",
           "## Files", "", "| file | what |", "| --- | --- |",
           f"| `{files['verilog']}` | Verilog, module `{top}` (all submodules inside), portable |"]
    if files.get("verilog_ecp5"):
        out.append(f"| `{files['verilog_ecp5']}` | the same module for Lattice ECP5: its multipliers are "
                   "`MULT18X18D` primitives with input and output registers, and for the engine `DP16KD` "
                   "buffers with their output register (same cycles; the netlist the figures below were "
                   "measured on; simulators need models of those primitives, e.g. "
                   "`macforge.sim.ecp5_models.ECP5_MODELS`) |")
    out += [
           f"| `{files['filelist']}` | file list |",
           f"| `{files['sdc']}`, `{files['xdc']}`, `{files['lpf']}` | clock constraint on `{clk}`, {mhz:g} MHz "
           "(SDC, Xilinx XDC, Lattice LPF) |",
           f"| `{files['vlt']}` | Verilator waivers: `verilator --lint-only -Wall {files['vlt']} {files['verilog']}` "
           "is clean |",
           f"| `{files['core']}` | FuseSoC CAPI2 core (targets `default`, `lint`, `synth_ecp5`) |",
           "| `manifest.json` | ports and payload layouts, limits, packet format, cycle model, tool versions |"]
    if pnr is not None:
        out.append("| `pnr.json` | place-and-route figures (nextpnr report) |")
    out.append(f"| `{files['tcl']}` | Vivado `ipx::package_project` script: **UNTESTED** (no Vivado here) |")
    out += ["", "## Ports", "", _port_table(man), "",
            "## Clock and reset", "",
            f"* One clock, `{clk}`, rising edge; every register of the design is in this domain. No internal "
            "clock gating, no multicycle or false paths: constrain only the clock period.",
            f"* `{rst}`: synchronous, active high; hold it for at least one rising edge. After reset every "
            "register is at its initial value (the Verilog also declares those values, so an FPGA bitstream "
            "starts there without a reset). A reset at any time abandons the job in flight; the design is "
            "idle afterwards.",
            "* Streams follow AXI4-Stream: a beat transfers in a cycle with `valid & ready`; `valid` of an "
            "output never waits for `ready`; inputs may idle and outputs may be backpressured at any time "
            "(nothing is lost, duplicated or reordered).", ""]
    if engine:
        pf = man["packet_format"]
        lim = man["limits"]
        out += ["## Packet format (version %d)" % pf["version"], "",
                "The full contract (every field, error codes and precedence, padding, raw mode, status timing, "
                "capabilities) is `docs/engine.md` of macforge; the essentials:", "",
                "* Command word (beat 0, low 64 bits): " + _word_fields(pf["command_word"]) + "."]
        if "budget_word" in pf:
            out.append(f"* tMAC budget word (beat {pf['budget_word']['beat']}, low 64 bits): "
                       + _word_fields(pf["budget_word"]) + ".")
        out += ["* Then parameters, weights, activation blocks, each section on a fresh beat: " +
                "; ".join(pf["sections"]) + ".",
                f"* Packing: {pf['word_packing']}. {pf['lane_packing']}.",
                f"* Output: {pf['output']}. Errors: one extra beat with `tuser = 1`, `tlast = 1`, `tdata` = "
                "code; codes: " + ", ".join(f"{k} {v}" for k, v in pf["errors"].items()) + ".",
                f"* Limits of this instance: M <= {lim['max_m']}, K <= {lim['max_k']}, N <= {lim['max_n']}, "
                f"block height B = {lim['block_rows']}, activations {lim['activation_range']}, weights "
                f"{lim['weight_range']}, M0 {lim['m0_range']}, S {lim['shift_range']} (also readable from the "
                "hardware: capabilities query).", ""]
    else:
        out += ["## Stream payloads", "",
                "Bit layouts of every payload are in `manifest.json` (`ports[].layout`); element `i` of an "
                "array field sits at `offset + i * elem_width`, two's complement.", ""]
    if pnr is not None:
        util = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in pnr["utilization"].items())
        sp = f" speed grade {pnr['speed']}" if pnr.get("speed") is not None else ""
        mode = ("out-of-context (no IO buffers)" if pnr.get("out_of_context")
                else "inside the minimal IO wrapper")
        out += ["## Measured (nextpnr)", "",
                f"{pnr['family'].upper()} {pnr['device']}{sp}, {mode}: Fmax best **{pnr['fmax_best_mhz']:.1f} MHz**, "
                f"median {pnr['fmax_median_mhz']:.1f} MHz over {pnr['seeds']} seed(s); {util}. "
                "nextpnr does not check the DSP blocks' datasheet clock limits.", ""]
    cm = man.get("cycle_model", {}).get("per_precision", [])
    pb = man.get("cycle_model", {}).get("per_budget", [])
    if pb:
        rows = ["| k | k_x | layer | cycles | useful MACs/cycle | term-pair slot utilization |",
                "| --- | --- | --- | --- | --- | --- |"]
        for e in pb:
            lay = e["layer"]
            rows.append(f"| {e['k']} | {e['k_x']} | {lay['M']}x{lay['K']}x{lay['N']} | {e['cycles']} | "
                        f"{e['useful_macs_per_cycle']:.2f} | {100 * e['utilization']:.1f} % |")
        out += ["## Cycle model", "",
                "Exact (`macforge.golden.engine_cycles`), per run-time budget (the corners of the range; "
                f"{man['cycle_model'].get('formula', '')}):", ""] + rows + [""]
    elif cm:
        e = cm[-1]
        if engine:
            lay = e["layer"]
            out += ["## Cycle model", "",
                    f"{lay['M']}x{lay['K']}x{lay['N']} layer at precision {e['precision']}: {e['cycles']} cycles "
                    f"(useful MACs per cycle {e['useful_macs_per_cycle']:.2f}, utilization "
                    f"{100 * e['utilization']:.1f} %), exact (`macforge.golden.engine_cycles`).", ""]
        else:
            g = e["gemm"]
            out += ["## Cycle model", "",
                    f"{g['M']}x{g['K']}x{g['N']} GEMM: {g['cycles']} cycles (utilization "
                    f"{100 * g['utilization']:.1f} %), exact (`macforge.golden.cycles`).", ""]
    out += ["## Reproduce", "", "```sh", reproduce, "```", ""]
    return "\n".join(out)


def handoff(cfg, out_dir, *, pnr: bool = True, speed: int = 8, seeds: int = 1, clock_mhz: float | None = None,
            reproduce: str | None = None) -> dict:
    """Write the bundle for ``cfg`` (an :class:`ArrayConfig` or :class:`EngineConfig`) into ``out_dir``.

    Returns ``{"dir", "top", "files": {...}, "pnr": pnr figures or None, "clock_mhz"}``. The configuration
    is validated (by constructing it) before anything is written; ``clock_mhz`` must be in (1, 1000].
    """
    from macforge.gen.emit import emit, verilog_of

    if clock_mhz is not None and not (1.0 < float(clock_mhz) <= 1000.0):
        raise ValueError(f"clock_mhz={clock_mhz!r} is out of range: allowed (1, 1000]")
    d = Path(out_dir)
    man = emit(cfg, d)
    top = man["top"]
    ecp5_text = verilog_of(cfg, "ecp5")
    ecp5_file = f"{top}_ecp5.v" if "MULT18X18D" in ecp5_text else None
    if ecp5_file:
        (d / ecp5_file).write_text(ecp5_text)
    figures = None
    if pnr:
        from macforge.gen.pnr import pnr_dir
        figures = pnr_dir(d, speed=speed, seeds=seeds)
        # keep the bundle lean: drop the intermediate netlist and per-seed logs of the measurement; the
        # ECP5 netlist pnr re-emitted is the bundle's TOP_ecp5.v (same configuration, same text)
        for f in d.glob("pnr_ecp5*"):
            if f.suffix in (".log", ".v") or f.name.endswith(".netlist.json") or f.name.endswith(".stat.json"):
                f.unlink()
        if figures.get("verilog") == "pnr_ecp5.v":
            figures["verilog"] = ecp5_file or man["verilog"]
        path = Path(figures.pop("path"))
        path.write_text(json.dumps(figures, indent=2) + "\n")
    if clock_mhz is not None:
        mhz = float(clock_mhz)
    elif figures is not None:
        mhz = max(5.0, math.floor(figures["fmax_best_mhz"] / 5.0) * 5.0)
    else:
        mhz = 100.0
    clk = clock_port(man)
    files = {"verilog": man["verilog"], "filelist": "files.f", "sdc": f"{top}.sdc", "xdc": f"{top}.xdc",
             "lpf": f"{top}.lpf", "vlt": f"{top}.vlt", "core": f"{top}.core", "tcl": "vivado_package.tcl",
             "readme": "README.md", "manifest": "manifest.json"}
    if ecp5_file:
        files["verilog_ecp5"] = ecp5_file
    (d / files["filelist"]).write_text(man["verilog"] + "\n")
    (d / files["sdc"]).write_text(sdc_text(clk, mhz))
    (d / files["xdc"]).write_text(xdc_text(clk, mhz))
    (d / files["lpf"]).write_text(lpf_text(clk, mhz))
    (d / files["vlt"]).write_text(vlt_text(man))
    (d / files["core"]).write_text(core_text(man, files))
    (d / files["tcl"]).write_text(vivado_tcl(man, files))
    if figures is not None:
        files["pnr"] = "pnr.json"
    if reproduce is None:
        reproduce = f"macforge handoff {d} --config {d}/manifest.json"
    (d / files["readme"]).write_text(readme_text(man, figures, files, mhz, reproduce))
    return {"dir": str(d), "top": top, "files": files, "pnr": figures, "clock_mhz": mhz}
