"""Benchmarks of the generator, the simulation flow and the hardware: ``python -m macforge.gen.bench``.

Writes into ``build/bench/`` (``--out``):

``array.json`` -- parallel-MAC arrays 4x4, 8x8, 16x16, both dataflows:

* ``emit_s`` (measured): wall time of :func:`macforge.rtl.verilog.to_verilog` (Amaranth elaboration + Yosys
  back end), in-process, Amaranth already imported.
* ``verilator_build_fresh_s`` (measured): wall time of :func:`macforge.sim.runner.build` of a design never built
  before, in a build root wiped at start (``build/bench/simcache``): Verilation plus C++ compile. The
  design-independent Verilator runtime objects, which the runner compiles once and shares, are
  compiled by an untimed 2x2 warm-up build first (its time: ``sim_build.warmup_build_s``).
  ``verilator_build_cached_s``: the same call again, answered from the cache.
* ``sim`` (measured): a random ``64 x 64 x 64`` GEMM through :func:`macforge.sim.runner.run` and the cocotb
  testbench (:mod:`macforge.sim.tb.array_tb`: bit-exact check of every output, cycle count checked against the
  model); ``cycles_per_s = cycles / wall_s`` where ``cycles`` is the job's measured cycle count and
  ``wall_s`` the wall time of the testbench's clock loop for that job (simulator start-up excluded;
  ``process_wall_s`` includes it); the job runs 3 times in one simulation, the best sample is reported
  and all are kept (``samples_cycles_per_s``).
* ``gemm_256``: cycles and utilization ``M*N*K / (R*C*cycles)`` of a ``256 x 256 x 256`` GEMM run as
  back-to-back tiles; ``source`` says ``measured`` (simulated, bit-exact, and its ``model_cycles``
  alongside) or ``model`` (:func:`macforge.golden.cycles.gemm_cycles`, which the regressions and the measured
  entries here show to be exact).
* ``public_flat_rw``: build time and simulation speed of cocotb's default ``--public-flat-rw`` build
  (``public_all=True``) against :mod:`macforge.sim.runner`'s control-file build, same design and job, 3
  alternating rounds (best sample each); ratios.

``bitserial.json`` + ``bitserial_cycles.png`` -- the bit-serial MAC against the parallel one (8x8):

* ``model_256``: cycles of a ``256^3`` GEMM vs precision ``p = 1..8`` (parallel: independent of ``p``),
  and ``cycles(p) / cycles(8)`` next to ``p / 8``;
* ``measured``: every ``p`` on a smaller GEMM in one simulation run (one build per dataflow), with the
  model's figure and ``model_equals_measured``;
* ``synth``: Yosys ``synth_ecp5`` cells (LUT4, FF, CCU2C carry, DSP) of one PE and of the whole 8x8 array
  for both MAC kinds, with DSP mapping (default) and without (``-nodsp``, all-fabric). The ``-nodsp``
  synthesis of the parallel 8x8 array is slow (~2 min each: 64 multipliers in LUTs); until the budget
  allows it, its entry is an ``estimate`` (array default + R*C * (PE -nodsp - PE default)), marked so;
* ``efficiency``: ``macs_per_cycle_per_lut4 = (M*N*K / cycles(p)) / LUT4(array)`` for the 256^3 GEMM,
  i.e. useful MACs per clock cycle per LUT4 of the complete array, at ``p = 8`` and ``p = 4`` (the parallel
  array takes the same cycles at every ``p``; the bit-serial one ``~p`` times more, so the ``1/p`` is
  inside ``cycles(p)``, not applied again); also per ``lut4_equiv = LUT4 + 2 * CCU2C``.

``summary.md`` -- the key figures in tables.

``tmac.json`` + ``tmac.md`` -- the tMAC table of :mod:`macforge.gen.bench_tmac` (digits MLP on 8x8: parallel,
bit-serial, tMAC; accuracy, cycles, ECP5 area, LUT x cycles, ratios), unless ``--no-tmac``/``--quick``.

Order and time budget (``--budget-s``, default 840 s): required items first (arrays 4x4/8x8 both
dataflows and 16x16 OS; measured 256^3 GEMMs on 8x8 and 16x16; the public-flat-rw comparison on 8x8 OS;
the bit-serial OS sweep; all PE and default-mapped array synthesis), then optional items in priority
order -- bit-serial WS sweep, ``-nodsp`` parallel OS array, 16x16 WS array, ``-nodsp`` parallel WS array,
measured 256^3 GEMMs on 4x4 -- each skipped, and listed under ``skipped``, when the time used plus its
estimate would exceed the budget. ``--quick`` is a smoke run (4x4 only, small GEMMs, no budget), about
three minutes. Timings on a shared machine are noisy; ``host`` records the CPU count and the load
average at start and end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

from macforge.golden.config import ArrayConfig
from macforge.golden.cycles import gemm_cycles

DEFAULT_OUT = Path("build") / "bench"     # relative to the working directory (make runs from the checkout)
REF = (256, 256, 256)
SEED = 1


class Clock:
    """Time budget bookkeeping and the progress bar."""

    def __init__(self, budget_s: float, total_steps: int):
        self.t0 = time.monotonic()
        self.budget = budget_s
        self.bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True, file=sys.stderr)
        self.skipped: list[dict] = []

    def used(self) -> float:
        return time.monotonic() - self.t0

    def fits(self, estimate_s: float, what: str) -> bool:
        if self.used() + estimate_s <= self.budget:
            return True
        self.skipped.append({"item": what, "reason": f"time budget: {self.used():.0f} s used + "
                                                     f"~{estimate_s:.0f} s estimated > {self.budget:.0f} s"})
        self.bar.write(f"skipping {what} (time budget)")
        return False

    def step(self, desc: str) -> None:
        self.bar.set_description(desc)

    def done(self, n: int = 1) -> None:
        self.bar.update(n)


# ----- simulation helpers -------------------------------------------------------------------------------
def build_fresh(cfg: ArrayConfig, *, public_all: bool = False) -> tuple[object, dict]:
    """Emit, then build into the (wiped) bench build root; then the cached lookup. Returns model, figures."""
    from macforge.rtl.verilog import to_verilog
    from macforge.sim import runner

    t = time.perf_counter()
    text = to_verilog(cfg)
    emit_s = time.perf_counter() - t
    t = time.perf_counter()
    model = runner.build(text, cfg.top_name, public_all=public_all)
    fresh_s = time.perf_counter() - t
    if model.cached:
        raise RuntimeError(f"{cfg.top_name}: expected a fresh build in {runner.BUILD_ROOT}")
    t = time.perf_counter()
    again = runner.build(text, cfg.top_name, public_all=public_all)
    cached_s = time.perf_counter() - t
    return model, {
        "emit_s": round(emit_s, 3),
        "verilog_bytes": len(text),
        "verilator_build_fresh_s": round(fresh_s, 2),
        "verilator_build_runner_s": round(model.build_s, 2),
        "verilator_build_cached_s": round(cached_s, 4),
        "cache_hit": bool(again.cached),
    }


def simulate(model, cfg: ArrayConfig, jobs: list[dict], name: str) -> tuple[list[dict], float]:
    from macforge.sim import runner

    t = time.perf_counter()
    res = runner.run(model, "macforge.sim.tb.array_tb", {"config": cfg.to_dict(), "seed": SEED, "jobs": jobs},
                     name=name)
    wall = time.perf_counter() - t
    out = []
    for r in res["results"]:
        out.append({
            "gemm": [r["job"]["M"], r["job"]["K"], r["job"]["N"]],
            "precision": r["job"].get("precision"),
            "cycles": r["cycles"],
            "model": r["model"],
            "model_equals_measured": r["cycles"] == r["model"],
            "wall_s": round(r["wall_s"], 4),
            "cycles_per_s": round(r["cycles"] / r["wall_s"], 1) if r["wall_s"] > 0 else None,
        })
    return out, wall


def gemm_job(M, K, N, **kw) -> dict:
    return {"M": M, "K": K, "N": N, **kw}


def ref_entry(cfg: ArrayConfig, measured: dict | None, precision: int | None = None) -> dict:
    M, K, N = REF
    g = gemm_cycles(cfg, M, K, N, precision)
    if measured is not None:
        util = g.macs / (cfg.rows * cfg.cols * measured["cycles"])
        return {"gemm": list(REF), "source": "measured", "cycles": measured["cycles"], "model_cycles": g.cycles,
                "model_equals_measured": measured["cycles"] == g.cycles, "utilization": util,
                "macs": g.macs, "tiles": g.tiles, "steady_cycles_per_tile": g.steady_cycles_per_tile,
                "sim_wall_s": measured["wall_s"], "cycles_per_s": measured["cycles_per_s"]}
    return {"gemm": list(REF), "source": "model", "cycles": g.cycles, "utilization": g.utilization,
            "macs": g.macs, "tiles": g.tiles, "steady_cycles_per_tile": g.steady_cycles_per_tile}


# ----- array.json -------------------------------------------------------------------------------------
def array_design(size: int, df: str, plan: dict, clock: Clock) -> tuple[dict, ArrayConfig, object]:
    """Emit + fresh build + simulation of one parallel-MAC array (see module docstring)."""
    cfg = ArrayConfig(rows=size, cols=size, dataflow=df, mac="parallel")
    tag = f"parallel {df} {size}x{size}"
    clock.step(f"build {tag}")
    model, fig = build_fresh(cfg)
    clock.done()
    reps = plan["speed_reps"]
    jobs = [gemm_job(*plan["speed_gemm"])] * reps
    measure_ref = size in plan["measure_ref_sizes"]
    if measure_ref:
        jobs.append(gemm_job(*REF))
    clock.step(f"sim {tag}" + (" (incl. 256^3)" if measure_ref else ""))
    res, wall = simulate(model, cfg, jobs, "bench_array")
    clock.done()
    d = {"rows": size, "cols": size, "dataflow": df, "mac": "parallel", "top": cfg.top_name,
         "config_digest": cfg.digest(), **fig,
         "sim": speed_entry(res[:reps], wall),
         "gemm_256": ref_entry(cfg, res[reps] if measure_ref else None)}
    return d, cfg, model


def speed_entry(runs: list[dict], process_wall: float) -> dict:
    """Best of the repeated speed jobs (the least disturbed by other load), with every sample."""
    best = max(runs, key=lambda r: r["cycles_per_s"] or 0)
    return {**best, "samples_cycles_per_s": [r["cycles_per_s"] for r in runs],
            "all_model_equals_measured": all(r["model_equals_measured"] for r in runs),
            "process_wall_s": round(process_wall, 2)}


def public_flat_rw(plan: dict, clock: Clock, designs: list, models: dict) -> dict | None:
    """Build the same design with cocotb's ``--public-flat-rw`` and compare with the control-file build."""
    ps, pdf = plan["public_design"]
    if (ps, pdf) not in models:
        return None
    cfg, model = models[(ps, pdf)]
    clock.step(f"build public-flat-rw {pdf} {ps}x{ps}")
    pmodel, pfig = build_fresh(cfg, public_all=True)
    clock.done()
    clock.step(f"sim public-flat-rw {pdf} {ps}x{ps}")
    jobs = [gemm_job(*plan["speed_gemm"])] * plan["speed_reps"]
    samples = {"control_file": [], "public_flat_rw": []}
    for rnd in range(plan["public_rounds"]):          # alternate, so both see the same machine load
        for key, mdl in (("control_file", model), ("public_flat_rw", pmodel)):
            r, w = simulate(mdl, cfg, jobs, f"bench_{key}")
            samples[key].append(speed_entry(r, w))
    clock.done()
    base = next(d for d in designs if (d["rows"], d["dataflow"]) == (ps, pdf))
    best = {k: max(v, key=lambda e: e["cycles_per_s"]) for k, v in samples.items()}
    pub = {
        "design": cfg.top_name, "job": list(plan["speed_gemm"]),
        "method": f"{plan['public_rounds']} alternating rounds x {plan['speed_reps']} jobs per build; "
                  "cycles_per_s = best sample",
        "control_file": {"verilator_build_fresh_s": base["verilator_build_fresh_s"],
                         "cycles_per_s": best["control_file"]["cycles_per_s"],
                         "samples_cycles_per_s": [x for e in samples["control_file"]
                                                  for x in e["samples_cycles_per_s"]]},
        "public_flat_rw": {"verilator_build_fresh_s": pfig["verilator_build_fresh_s"],
                           "cycles_per_s": best["public_flat_rw"]["cycles_per_s"],
                           "samples_cycles_per_s": [x for e in samples["public_flat_rw"]
                                                    for x in e["samples_cycles_per_s"]]},
    }
    pub["build_time_ratio_public_over_control"] = round(
        pfig["verilator_build_fresh_s"] / base["verilator_build_fresh_s"], 2)
    pub["sim_speed_ratio_control_over_public"] = round(
        pub["control_file"]["cycles_per_s"] / pub["public_flat_rw"]["cycles_per_s"], 2)
    return pub


def optional_arrays(plan: dict, clock: Clock, designs: list, models: dict) -> None:
    """Budget-guarded: array builds beyond the required ones."""
    build_est = {}
    for d in designs:
        build_est[d["rows"]] = max(build_est.get(d["rows"], 0), d["verilator_build_fresh_s"])
    for size, df in plan["optional_arrays"]:
        est = 1.2 * build_est.get(size, 300) + 30
        if not clock.fits(est, f"array parallel {df} {size}x{size}"):
            clock.done(2)
            continue
        d, cfg, model = array_design(size, df, plan, clock)
        designs.append(d)
        models[(size, df)] = (cfg, model)
    designs.sort(key=lambda d: (d["rows"], d["dataflow"]))


def optional_refs(plan: dict, clock: Clock, designs: list, models: dict) -> None:
    """Budget-guarded: measure the 256^3 GEMM in simulation where only the model was used."""
    for d in designs:
        if d["gemm_256"]["source"] == "measured" or d["rows"] not in plan["optional_ref_sizes"]:
            continue
        cfg, model = models[(d["rows"], d["dataflow"])]
        est = d["gemm_256"]["cycles"] / max(d["sim"]["cycles_per_s"] or 1, 1) * 1.5 + 20
        if not clock.fits(est, f"measured 256^3 GEMM on parallel {d['dataflow']} {d['rows']}x{d['rows']}"):
            continue
        clock.step(f"sim 256^3 {d['dataflow']} {d['rows']}x{d['rows']}")
        res, _ = simulate(model, cfg, [gemm_job(*REF)], "bench_ref")
        d["gemm_256"] = ref_entry(cfg, res[0])
    designs.sort(key=lambda d: (d["rows"], d["dataflow"]))


ARRAY_DEFINITIONS = {
    "emit_s": "measured: wall time of macforge.rtl.verilog.to_verilog(cfg), in-process",
    "verilator_build_fresh_s": "measured: wall time of macforge.sim.runner.build of a design not built before "
                               "(Verilator + C++ compile, make -j<cpus>); the shared, design-independent "
                               "Verilator runtime objects were compiled by an untimed warm-up build",
    "verilator_build_cached_s": "measured: the same build call again (cache hit)",
    "sim.cycles_per_s": "measured: job cycles / wall time of the cocotb clock loop for that job; best of "
                        "samples_cycles_per_s (the same job repeated in one simulation run)",
    "gemm_256.utilization": "M*N*K / (R*C*cycles) for 256x256x256 as back-to-back tiles",
    "gemm_256.source": "measured = simulated (bit-exact, cycles compared with the model); "
                       "model = macforge.golden.cycles.gemm_cycles (exact)",
}


# ----- bitserial.json ---------------------------------------------------------------------------------
PRECISIONS = list(range(1, 9))


def bs_model(plan: dict) -> dict:
    """Model cycles of the 256^3 GEMM vs p, both MAC kinds and dataflows."""
    size = plan["bs_size"]
    M, K, N = REF
    model = {}
    for mac in ("parallel", "bitserial"):
        for df in ("os", "ws"):
            cfg = ArrayConfig(rows=size, cols=size, dataflow=df, mac=mac)
            cyc = [gemm_cycles(cfg, M, K, N, p if mac == "bitserial" else None).cycles for p in PRECISIONS]
            model[f"{mac}_{df}"] = {"cycles": cyc,
                                    "utilization": [M * N * K / (size * size * c) for c in cyc],
                                    "ratio_to_p8": [c / cyc[-1] for c in cyc]}
    return {"source": "model (macforge.golden.cycles.gemm_cycles)", "p_over_8": [p / 8 for p in PRECISIONS], **model}


def bs_sweep(plan: dict, clock: Clock, df: str, par_models: dict, measured: dict) -> None:
    """Every p on the small GEMM in one run of one fresh bit-serial build; parallel for reference."""
    size, small = plan["bs_size"], plan["bs_gemm"]
    cfg = ArrayConfig(rows=size, cols=size, dataflow=df, mac="bitserial")
    clock.step(f"build bitserial {df} {size}x{size}")
    bmodel, fig = build_fresh(cfg)
    clock.done()
    clock.step(f"sim bitserial {df} p=1..8")
    rs, wall = simulate(bmodel, cfg, [gemm_job(*small, precision=p) for p in PRECISIONS], "bench_bs")
    clock.done()
    model_cycles = [gemm_cycles(cfg, *small, p).cycles for p in PRECISIONS]
    cyc = [r["cycles"] for r in rs]
    measured[f"bitserial_{df}"] = {
        **fig, "process_wall_s": round(wall, 2), "runs": rs, "cycles": cyc, "model_cycles": model_cycles,
        "ratio_to_p8": [c / cyc[-1] for c in cyc],
        "all_model_equals_measured": cyc == model_cycles and all(r["model_equals_measured"] for r in rs),
    }
    if (size, df) in par_models:
        pcfg, pmodel = par_models[(size, df)]
        pr, _ = simulate(pmodel, pcfg, [gemm_job(*small)], "bench_bs_par")
        measured[f"parallel_{df}"] = {"runs": pr, "cycles": pr[0]["cycles"],
                                      "model_cycles": gemm_cycles(pcfg, *small).cycles,
                                      "model_equals_measured": pr[0]["model_equals_measured"]}


SYNTH_NOTES = [
    "pe: the processing element alone (macforge.rtl.mac family os_pe / ws_pe), ports not registered; a WS PE is "
    "combinational (the array registers its partial sum).",
    "array: the complete top (front end, skew/de-skew, drain or accumulator memory) of the size given.",
    "nodsp: synth_ecp5 -nodsp, multipliers in LUT4/CCU2C/PFUMX/L6MUX21 instead of MULT18X18D. The "
    "bit-serial MAC has no multiplier: its -nodsp result equals the default one (not re-run for arrays).",
    "array *_nodsp entries with source 'estimate' were not synthesized (time budget): "
    "LUT4 = array default LUT4 + R*C*(PE nodsp LUT4 - PE default LUT4), likewise carry; DSP = 0.",
]


def _synth_array_file(cfg: ArrayConfig, sdir: Path) -> Path:
    from macforge.rtl.verilog import to_verilog

    wd = sdir / cfg.top_name
    wd.mkdir(parents=True, exist_ok=True)
    vf = wd / f"{cfg.top_name}.v"
    vf.write_text(to_verilog(cfg))      # always regenerate: a file left by an older run may be stale
    return vf


def bs_synth(plan: dict, clock: Clock, out_dir: Path) -> dict:
    """Required synthesis: every PE (default and -nodsp) and the default-mapped arrays."""
    from macforge.gen.synth import synth, synth_pe

    size = plan["bs_size"]
    sdir = out_dir / "synth"
    syn = {"family": "ecp5", "size": [size, size], "pe": {}, "array": {}, "notes": SYNTH_NOTES}
    for mac in ("parallel", "bitserial"):
        for kind in ("os", "ws"):
            clock.step(f"synth PE {mac} {kind}")
            for nodsp in (False, True):
                r = synth_pe(ArrayConfig(rows=size, cols=size, mac=mac), kind, sdir / "pe", nodsp=nodsp)
                syn["pe"][f"{mac}_{kind}{'_nodsp' if nodsp else ''}"] = {**_cells(r), "source": "measured"}
            clock.done()
    for df in plan["synth_dataflows"]:
        for mac in ("parallel", "bitserial"):
            cfg = ArrayConfig(rows=size, cols=size, dataflow=df, mac=mac)
            clock.step(f"synth array {mac} {df}")
            r = synth(_synth_array_file(cfg, sdir), cfg.top_name, tag="synth")
            syn["array"][f"{mac}_{df}"] = {**_cells(r), "source": "measured"}
            clock.done()
            if mac == "bitserial":
                syn["array"][f"{mac}_{df}_nodsp"] = {**syn["array"][f"{mac}_{df}"], "same_as_default": True}
            else:   # estimate until (and unless) the budget allows the real -nodsp run
                pe_d, pe_n = syn["pe"][f"parallel_{df}"], syn["pe"][f"parallel_{df}_nodsp"]
                a = syn["array"][f"{mac}_{df}"]
                n = size * size
                est = {"lut": a["lut"] + n * (pe_n["lut"] - pe_d["lut"]), "ff": a["ff"],
                       "carry": a["carry"] + n * (pe_n["carry"] - pe_d["carry"]), "dsp": 0}
                est["lut4_equiv"] = est["lut"] + 2 * est["carry"]
                syn["array"][f"{mac}_{df}_nodsp"] = {**est, "source": "estimate"}
    return syn


def bs_synth_nodsp(plan: dict, clock: Clock, out_dir: Path, syn: dict, df: str, estimate_s: float) -> None:
    """Optional: real ``-nodsp`` synthesis of the parallel array (slow: multipliers in fabric)."""
    from macforge.gen.synth import synth

    size = plan["bs_size"]
    if not clock.fits(estimate_s, f"synth_ecp5 -nodsp of the parallel {df} {size}x{size} array"):
        return
    cfg = ArrayConfig(rows=size, cols=size, dataflow=df, mac="parallel")
    clock.step(f"synth array parallel {df} -nodsp")
    r = synth(_synth_array_file(cfg, out_dir / "synth"), cfg.top_name, nodsp=True, tag="synth_nodsp")
    est = syn["array"][f"parallel_{df}_nodsp"]
    syn["array"][f"parallel_{df}_nodsp"] = {**_cells(r), "source": "measured",
                                            "estimate_was": {k: est[k] for k in ("lut", "carry")}}


def bs_efficiency(plan: dict, bs: dict) -> dict:
    size = plan["bs_size"]
    M, K, N = REF
    syn, model = bs["synth"], bs["model_256"]
    eff = {"definition": "macs_per_cycle = M*N*K / cycles(p) for the 256^3 GEMM (back-to-back tiles, "
                         "exact model = measurement); per_lut4 = macs_per_cycle / LUT4 of the whole array; "
                         "per_lut4_equiv = macs_per_cycle / (LUT4 + 2*CCU2C). 'dsp' uses the default "
                         "synth_ecp5 result (parallel multipliers in MULT18X18D, not counted as LUTs), "
                         "'nodsp' the all-fabric one (see lut4_nodsp_source). The parallel array's cycles "
                         "do not depend on p; the bit-serial array's 1/p is inside cycles(p), not applied "
                         "twice.",
           "entries": []}
    for df in plan["synth_dataflows"]:
        for mac in ("parallel", "bitserial"):
            for p in (8, 4):
                cyc = model[f"{mac}_{df}"]["cycles"][p - 1]
                mpc = M * N * K / cyc
                e = {"mac": mac, "dataflow": df, "precision": p, "cycles_256": cyc,
                     "macs_per_cycle": mpc, "utilization": mpc / (size * size)}
                for mode, lbl in (("", "dsp"), ("_nodsp", "nodsp")):
                    a = syn["array"][f"{mac}_{df}{mode}"]
                    e[f"lut4_{lbl}"] = a["lut"]
                    e[f"dsp_{lbl}"] = a["dsp"]
                    e[f"macs_per_cycle_per_lut4_{lbl}"] = mpc / a["lut"]
                    e[f"macs_per_cycle_per_lut4_equiv_{lbl}"] = mpc / a["lut4_equiv"]
                e["lut4_nodsp_source"] = syn["array"][f"{mac}_{df}_nodsp"]["source"]
                eff["entries"].append(e)
    return eff


def _cells(r: dict) -> dict:
    keep = ["lut", "ff", "carry", "dsp", "bram", "lutram", "mux", "lut4_equiv", "total_cells", "cells",
            "command", "synth_s"]
    return {k: r[k] for k in keep}


# ----- plot and summary ------------------------------------------------------------------------------
def plot_bitserial(bs: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = bs["precisions"]
    m = bs["model_256"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"bitserial_os": ("C0", "o-"), "bitserial_ws": ("C1", "s-"),
              "parallel_os": ("C2", "--"), "parallel_ws": ("C3", ":")}
    for key, (col, st) in styles.items():
        ax1.plot(P, [c / 1e6 for c in m[key]["cycles"]], st, color=col, label=key.replace("_", " "))
    ax1.set_xlabel("activation precision p (bits)")
    ax1.set_ylabel("cycles, 256x256x256 GEMM (millions)")
    ax1.set_title(f"{bs['size'][0]}x{bs['size'][1]} array, model (= measurement)")
    ax1.set_ylim(bottom=0)
    ax1.grid(True, alpha=0.3)
    ax1.legend()
    ax2.plot(P, m["p_over_8"], "k--", label="p / 8")
    for key in ("bitserial_os", "bitserial_ws"):
        ax2.plot(P, m[key]["ratio_to_p8"], styles[key][1], color=styles[key][0],
                 label=f"{key.replace('_', ' ')} model 256^3")
        meas = bs["measured_small"].get(key)
        if meas:
            g = "x".join(map(str, bs["gemm_small"]))
            ax2.plot(P, meas["ratio_to_p8"], "x", color=styles[key][0], markersize=9,
                     label=f"{key.replace('_', ' ')} measured {g}")
    ax2.set_xlabel("activation precision p (bits)")
    ax2.set_ylabel("cycles(p) / cycles(8)")
    ax2.set_title("bit-serial cycles scale with p")
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary_md(arr: dict, bs: dict, meta: dict) -> str:
    L = [f"# macforge benchmarks{' (QUICK smoke run)' if meta['quick'] else ''}", "",
         f"Generated {meta['generated']} in {meta['total_s']:.0f} s on {meta['host']['cpus']} CPUs "
         f"(load average at start {meta['host']['loadavg_start'][0]:.1f}, end "
         f"{meta['host']['loadavg_end'][0]:.1f}; shared machine, timings are noisy). "
         "Definitions: `docs/benchmarks.md` and the `definitions` entries of the JSON files.", "",
         "## Parallel-MAC arrays (`array.json`)", "",
         "| array | dataflow | emit (s) | Verilator build fresh (s) | cached (s) | sim job | sim cycles/s "
         "| 256^3 cycles | utilization | source |",
         "|---|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for d in arr["designs"]:
        g = d["gemm_256"]
        L.append(f"| {d['rows']}x{d['cols']} | {d['dataflow']} | {d['emit_s']:.2f} | "
                 f"{d['verilator_build_fresh_s']:.1f} | {d['verilator_build_cached_s']:.3f} | "
                 f"{'x'.join(map(str, d['sim']['gemm']))} | {d['sim']['cycles_per_s']:,.0f} | "
                 f"{g['cycles']:,} | {g['utilization']:.4f} | {g['source']} |")
    pub = arr.get("public_flat_rw")
    if pub:
        L += ["", f"`--public-flat-rw` vs control-file build ({pub['design']}, "
                  f"{'x'.join(map(str, pub['job']))} GEMM):", "",
              "| build | Verilator build (s) | sim cycles/s |", "|---|---:|---:|",
              f"| control file (default) | {pub['control_file']['verilator_build_fresh_s']:.1f} | "
              f"{pub['control_file']['cycles_per_s']:,.0f} |",
              f"| --public-flat-rw | {pub['public_flat_rw']['verilator_build_fresh_s']:.1f} | "
              f"{pub['public_flat_rw']['cycles_per_s']:,.0f} |",
              "", f"Build time ratio public/control **{pub['build_time_ratio_public_over_control']}x**, "
                  f"simulation speed ratio control/public **{pub['sim_speed_ratio_control_over_public']}x**."]
    n = bs["size"][0]
    m = bs["model_256"]
    L += ["", f"## Bit-serial vs parallel, {n}x{n} (`bitserial.json`, `bitserial_cycles.png`)", "",
          "Cycles of a 256x256x256 GEMM (model; measured == model on "
          f"{'x'.join(map(str, bs['gemm_small']))} for every p, see below):", "",
          "| p | " + " | ".join(k.replace("_", " ") for k in ("bitserial_os", "bitserial_ws", "parallel_os",
                                                                 "parallel_ws")) + " | bs OS ratio c(p)/c(8) | p/8 |",
          "|---:|---:|---:|---:|---:|---:|---:|"]
    for i, p in enumerate(bs["precisions"]):
        L.append(f"| {p} | " + " | ".join(f"{m[k]['cycles'][i]:,}" for k in
                                         ("bitserial_os", "bitserial_ws", "parallel_os", "parallel_ws"))
                 + f" | {m['bitserial_os']['ratio_to_p8'][i]:.3f} | {p / 8:.3f} |")
    L += ["", "Measured on the small GEMM (one simulation per dataflow, all p):", ""]
    for k, v in bs["measured_small"].items():
        if "cycles" in v and isinstance(v["cycles"], list):
            L.append(f"- {k}: cycles p=1..8 = {v['cycles']}; model {v['model_cycles']}; "
                     f"model == measured: **{v['all_model_equals_measured']}**")
        else:
            L.append(f"- {k}: cycles = {v['cycles']}; model {v['model_cycles']}; "
                     f"model == measured: **{v['model_equals_measured']}**")
    syn = bs["synth"]
    L += ["", "Yosys `synth_ecp5` cells (LUT4 / FF / CCU2C carry / DSP MULT18X18D):", "",
          "| unit | default: LUT4 | FF | carry | DSP | -nodsp: LUT4 | FF | carry |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for scope in ("pe", "array"):
        for key, v in syn[scope].items():
            if key.endswith("_nodsp"):
                continue
            nd = syn[scope].get(f"{key}_nodsp", v)
            label = f"PE {key.replace('_', ' ')}" if scope == "pe" else f"{n}x{n} array {key.replace('_', ' ')}"
            est = " (estimate)" if nd.get("source") == "estimate" else ""
            L.append(f"| {label} | {v['lut']} | {v['ff']} | {v['carry']} | {v['dsp']} | {nd['lut']}{est} | "
                     f"{nd['ff']} | {nd['carry']}{est} |")
    L += ["", "Useful MACs per cycle per LUT4 of the whole array, 256^3 GEMM "
              "(`macs_per_cycle / LUT4`; see definition in `bitserial.json`):", "",
          "| MAC | dataflow | p | MACs/cycle | utilization | per LUT4 (DSP mapping) | per LUT4 (-nodsp) "
          "| per LUT4-equiv (-nodsp) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for e in bs["efficiency"]["entries"]:
        est = " (est.)" if e["lut4_nodsp_source"] == "estimate" else ""
        L.append(f"| {e['mac']} | {e['dataflow']} | {e['precision']} | {e['macs_per_cycle']:.2f} | "
                 f"{e['utilization']:.4f} | {e['macs_per_cycle_per_lut4_dsp']:.5f} | "
                 f"{e['macs_per_cycle_per_lut4_nodsp']:.5f}{est} | "
                 f"{e['macs_per_cycle_per_lut4_equiv_nodsp']:.5f}{est} |")
    if meta["skipped"]:
        L += ["", "Skipped (time budget):", ""] + [f"- {s['item']}: {s['reason']}" for s in meta["skipped"]]
    return "\n".join(L) + "\n"


# ----- main -------------------------------------------------------------------------------------------
def make_plan(quick: bool) -> dict:
    if quick:
        return {"sizes": [4], "optional_arrays": [], "measure_ref_sizes": set(), "optional_ref_sizes": set(),
                "speed_gemm": (16, 16, 16), "speed_reps": 2, "public_rounds": 2, "public_design": (4, "os"),
                "bs_size": 4, "bs_gemm": (8, 8, 8), "bs_dataflows": ["os"], "bs_build_est": 30,
                "synth_dataflows": ["os"], "nodsp_dataflows": ["os"], "nodsp_est": 60}
    return {"sizes": [4, 8, 16], "optional_arrays": [(16, "ws")], "measure_ref_sizes": {8, 16},
            "optional_ref_sizes": {4}, "speed_gemm": (64, 64, 64), "speed_reps": 3, "public_rounds": 3,
            "public_design": (8, "os"),
            "bs_size": 8, "bs_gemm": (16, 32, 16), "bs_dataflows": ["os", "ws"], "bs_build_est": 90,
            "synth_dataflows": ["os", "ws"], "nodsp_dataflows": ["os", "ws"], "nodsp_est": 180}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 4x4 only, small GEMMs (~2 min)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="time budget for optional items (default 840 s, quick: unlimited)")
    ap.add_argument("--no-tmac", action="store_true",
                    help="skip the tMAC table (macforge.gen.bench_tmac: needs `make train`'s bundles)")
    args = ap.parse_args(argv)
    import macforge.rtl.verilog  # noqa: F401  (import Amaranth before anything is timed)
    from macforge.gen.emit import tool_versions
    from macforge.sim import runner

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shared_root = runner.BUILD_ROOT
    cache = out / "simcache"
    if cache.exists():
        shutil.rmtree(cache)
    runner.BUILD_ROOT = cache           # fresh builds, away from the shared test cache
    plan = make_plan(args.quick)
    budget = args.budget_s if args.budget_s is not None else (1e9 if args.quick else 840.0)
    steps = 1 + 2 * 2 * len(plan["sizes"]) + 2 + 2 * len(plan["bs_dataflows"]) + 4 \
        + 2 * len(plan["synth_dataflows"])
    clock = Clock(budget, steps)
    meta = {"generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "quick": args.quick, "budget_s": budget,
            "host": {"cpus": os.cpu_count(), "loadavg_start": list(os.getloadavg())},
            "tools": tool_versions(), "seed": SEED,
            "sim_build": {"waivers": list(runner.WAIVERS), "verilator_opts": getattr(runner, "BUILD_OPTS", None),
                          "cxx_opt": getattr(runner, "CXX_OPT", None)}}
    # Untimed warm-up: the runner shares design-independent Verilator runtime objects between builds
    # (when it does); compile them once so every timed build below sees the same state.
    clock.step("warm-up build (shared runtime)")
    _, warm = build_fresh(ArrayConfig(rows=2, cols=2))
    meta["sim_build"]["warmup_build_s"] = warm["verilator_build_fresh_s"]
    clock.done()
    designs, models = [], {}
    for size in plan["sizes"]:
        for df in ("os", "ws"):
            if (size, df) in plan["optional_arrays"]:
                continue
            d, cfg, model = array_design(size, df, plan, clock)
            designs.append(d)
            models[(size, df)] = (cfg, model)
    pub = public_flat_rw(plan, clock, designs, models)
    bs = {"size": [plan["bs_size"]] * 2, "gemm_small": list(plan["bs_gemm"]), "gemm_ref": list(REF),
          "precisions": PRECISIONS, "model_256": bs_model(plan), "measured_small": {}}
    bs_sweep(plan, clock, plan["bs_dataflows"][0], models, bs["measured_small"])
    bs["synth"] = bs_synth(plan, clock, out)
    # optional items, in priority order, each guarded by the time budget
    for df in plan["bs_dataflows"][1:]:
        if clock.fits(plan["bs_build_est"], f"bit-serial {df} sweep"):
            bs_sweep(plan, clock, df, models, bs["measured_small"])
        else:
            clock.done(2)
    for i, df in enumerate(plan["nodsp_dataflows"]):
        bs_synth_nodsp(plan, clock, out, bs["synth"], df, plan["nodsp_est"])
        if i == 0:
            optional_arrays(plan, clock, designs, models)
    if not plan["nodsp_dataflows"]:
        optional_arrays(plan, clock, designs, models)
    optional_refs(plan, clock, designs, models)
    bs["efficiency"] = bs_efficiency(plan, bs)
    arr = {"definitions": ARRAY_DEFINITIONS, "designs": designs, "public_flat_rw": pub}
    clock.bar.close()
    meta["host"]["loadavg_end"] = list(os.getloadavg())
    meta["total_s"] = round(clock.used(), 1)
    meta["skipped"] = clock.skipped
    (out / "array.json").write_text(json.dumps({**meta, **arr}, indent=2) + "\n")
    (out / "bitserial.json").write_text(json.dumps({**meta, **bs}, indent=2) + "\n")
    plot_bitserial(bs, out / "bitserial_cycles.png")
    (out / "summary.md").write_text(summary_md(arr, bs, meta))
    shutil.rmtree(cache, ignore_errors=True)
    print(f"wrote {out}/array.json, bitserial.json, bitserial_cycles.png, summary.md ({meta['total_s']:.0f} s)")
    if not args.no_tmac and not args.quick:
        from macforge.gen import bench_tmac

        runner.BUILD_ROOT = shared_root      # the engines' builds are shared with `macforge sim`
        try:
            bench_tmac.run(out)
        except FileNotFoundError as exc:
            print(f"tMAC table skipped: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
