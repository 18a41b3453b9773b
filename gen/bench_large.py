"""Large-array benchmark (issue 13): ``python -m macforge.gen.bench_large`` (part of ``make bench``).

For parallel-MAC arrays of ``--sizes`` (default 8, 16, 32, 64, 128; square) in both dataflows, each
measured in fresh subprocesses, one design at a time (no two large builds run together):

* ``emit_s``: wall time of :func:`macforge.rtl.verilog.to_verilog` (hierarchical, the default emission:
  the unit definitions converted once, the top written as text, :mod:`macforge.rtl.grid`);
  ``verilog_bytes``, ``modules`` (module definitions in the file) and, for sizes up to
  ``--flat-max`` (default 16), the same figures of the flat emission (``flat``: one module per instance);
* ``lint_s``: ``verilator --lint-only -Wall`` (:func:`macforge.gen.lint.lint`), ``lint_peak_rss_mb``;
* ``build_s`` / ``build_peak_rss_mb``: :func:`macforge.sim.runner.build` (with ``--build-args``, default
  :data:`LARGE_BUILD_ARGS`) of a design never built before
  (its own build root ``<out>/simcache``, wiped first; the runtime objects shared by every build are
  compiled by an untimed 2x2 warm-up), peak resident memory of the largest process of the build
  (Verilator or the C++ compiler: ``getrusage(RUSAGE_CHILDREN).ru_maxrss``);
* ``sim``: one GEMM (``M = 256, K = 4R, N = C``: about a thousand cycles at every size) through the
  cocotb testbench, bit- and cycle-exact
  (checked against :mod:`macforge.golden.cycles`); ``cycles_per_s`` of the clock loop;
* ``synth``: Yosys ``synth_ecp5`` with ``keep_hierarchy`` on the cell / post-unit definitions (each is
  synthesized once, ``stat`` counts every instance; the rest is flattened: ``synth_ecp5 -noflatten``
  trips an abc9 assertion on the WS top's front end), ``-dff`` then ``-noabc9`` if that fails (``synth.command``); wall time
  (``synth_s``: both attempts when the first failed) and cells, for sizes up to ``--synth-max``.

Each stage has a timeout (``--timeout``, default 1800 s); a stage that fails or times out is recorded
with its error and the rest go on.

Resumable, per row and per column: every finished stage is written to ``<out>/large.json`` at once
(with ``<stage>_load``, the 1-minute load average when it ended, and ``<stage>_at``, UTC), and a later
run with the same ``--out`` skips the cells already there (failed cells are retried); ``--stages``
picks the columns (e.g. ``--stages emit,lint --sizes 128``), ``--redo`` re-measures stages,
``--fresh`` ignores the file. A cell left out by ``--build-max`` / ``--synth-max`` is listed in the
row's ``not_measured`` with that reason. Writes ``<out>/large.json`` and ``<out>/large.png`` (every figure
against R x C, log-log, with the fitted growth exponent: ``figure ~ (R x C)^e`` over the measured sizes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_OUT = Path("build") / "bench" / "large"
SIZES = (8, 16, 32, 64, 128)
#: Verilator options of large-array builds (tests/test_large.py, the benchmark's default), chosen by
#: measurement (docs/large-arrays.md, "Verilator options"); ``--build-args`` overrides them.
LARGE_BUILD_ARGS: tuple[str, ...] = ("-fno-inline",)


def _cfg(size: int, df: str):
    from macforge.golden.config import ArrayConfig
    return ArrayConfig(rows=size, cols=size, dataflow=df, mac="parallel")


def _peak_children_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


# ----- stages (each runs in its own subprocess: ``--stage NAME SIZE DF``) ------------------------------
def stage_emit(size: int, df: str, work: Path, flat_max: int) -> dict:
    from macforge.gen.equiv import module_count
    from macforge.rtl.verilog import to_verilog

    cfg = _cfg(size, df)
    t = time.perf_counter()
    text = to_verilog(cfg)
    out = {"emit_s": round(time.perf_counter() - t, 3), "verilog_bytes": len(text), "modules": module_count(text),
           "instances": text.count(" pe_r")}
    (work / f"{cfg.top_name}.v").write_text(text)
    if size <= flat_max:
        t = time.perf_counter()
        flat = to_verilog(cfg, flat=True)
        out["flat"] = {"emit_s": round(time.perf_counter() - t, 3), "verilog_bytes": len(flat),
                       "modules": module_count(flat)}
    return out


def stage_lint(size: int, df: str, work: Path) -> dict:
    from macforge.gen.lint import lint

    cfg = _cfg(size, df)
    r = lint(work / f"{cfg.top_name}.v", cfg.top_name)
    return {"lint_s": round(r.seconds, 2), "lint_ok": r.ok, "lint_peak_rss_mb": _peak_children_mb(),
            **({} if r.ok else {"lint_output": r.output[-2000:]})}


def stage_build_sim(size: int, df: str, work: Path, build_args: list[str]) -> dict:
    from macforge.sim import runner

    cfg = _cfg(size, df)
    text = (work / f"{cfg.top_name}.v").read_text()
    t = time.perf_counter()
    model = runner.build(text, cfg.top_name, extra_args=build_args)
    out = {"build_s": round(time.perf_counter() - t, 2), "build_cached": bool(model.cached),
           "build_peak_rss_mb": _peak_children_mb(), "build_args": build_args}
    job = {"M": 256, "K": 4 * size, "N": size}
    t = time.perf_counter()
    res = runner.run(model, "macforge.sim.tb.array_tb", {"config": cfg.to_dict(), "seed": 1, "jobs": [job]},
                     name=f"large_{df}_{size}")
    r = res["results"][0]
    out["sim"] = {"gemm": [256, 4 * size, size], "cycles": r["cycles"], "model": r["model"],
                  "model_equals_measured": r["cycles"] == r["model"], "wall_s": round(r["wall_s"], 3),
                  "cycles_per_s": round(r["cycles"] / r["wall_s"], 1) if r["wall_s"] > 0 else None,
                  "process_wall_s": round(time.perf_counter() - t, 2)}
    shutil.rmtree(model.build_dir, ignore_errors=True)     # a 64x64 build folder holds GBs of objects
    return out


def stage_synth(size: int, df: str, work: Path, timeout: float) -> dict:
    from macforge.gen.synth import classify, parse_stat_json, run_yosys

    cfg = _cfg(size, df)
    top = cfg.top_name
    t = time.perf_counter()
    # fallbacks, recorded in ``command``: ``-dff`` (Yosys's abc9 trips an internal assertion on the WS
    # 8x8 top, as in macforge.gen.synth), then the classic ABC mapping (-noabc9)
    for opts in ("", "-dff", "-noabc9"):
        # the PE and post-unit definitions keep their hierarchy (synthesized once each), the rest is flattened
        script = (f"read_verilog {top}.v; hierarchy -top {top}; "
                  f"setattr -mod -set keep_hierarchy 1 macforge_cell_* macforge_post_*; "
                  f"synth_ecp5 {opts} -top {top}; tee -q -o synth.stat.json stat -json -top {top}")
        proc = run_yosys(["-q", "-l", "synth.log", "-p", script], work, timeout=timeout)
        if proc.returncode == 0:
            break
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        log = (work / "synth.log").read_text(errors="replace")[-1500:] if (work / "synth.log").exists() else ""
        return {"synth_error": (proc.stdout + proc.stderr)[-1500:] + log, "synth_s": round(dt, 1)}
    stat = json.loads((work / "synth.stat.json").read_text())
    cells = parse_stat_json(stat, top)
    return {"synth_s": round(dt, 1), "synth_peak_rss_mb": _peak_children_mb(),
            "synth": {"command": f"keep_hierarchy on macforge_cell_* / macforge_post_*; synth_ecp5 {opts}".strip(),
                      **classify(cells, "ecp5")}}


# ----- driver ---------------------------------------------------------------------------------------------
def _run_stage(stage: str, size: int, df: str, work: Path, args, env) -> dict:
    cmd = [sys.executable, "-m", "macforge.gen.bench_large", "--stage", stage, str(size), df, "--work", str(work),
           "--flat-max", str(args.flat_max), "--timeout", str(args.timeout), f"--build-args={args.build_args}"]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {f"{stage}_error": f"timeout after {args.timeout} s"}
    if p.returncode != 0:
        return {f"{stage}_error": (p.stdout + p.stderr)[-2000:], f"{stage}_wall_s": round(time.perf_counter() - t, 1)}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _growth(points: list[tuple[int, float]]) -> float | None:
    pts = [(math.log(x), math.log(y)) for x, y in points if y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / den, 2) if den else None


FIGURES = [("emit_s", "emission (s)"), ("verilog_bytes", "Verilog (bytes)"), ("modules", "modules"),
           ("lint_s", "lint (s)"), ("build_s", "Verilator build (s)"), ("build_peak_rss_mb", "build peak RSS (MB)"),
           ("sim.cycles_per_s", "simulated cycles/s"), ("synth_s", "Yosys synth (s)"), ("synth.total_cells", "cells")]


def _get(d: dict, key: str):
    for k in key.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _stage_of(key: str) -> str:
    head = key.split(".")[0].split("_")[0]
    return {"verilog": "emit", "modules": "emit", "sim": "build"}.get(head, head)


def _val(r: dict, key: str):
    """Figure ``key`` of row ``r``, or None when it is missing or its stage failed (a failed stage may
    still carry its wall time)."""
    return None if _failed(r, _stage_of(key)) else _get(r, key)


def _points(rows: list[dict], key: str, df: str) -> list[tuple[int, float]]:
    """``(R x C, figure)`` of every row of dataflow ``df`` whose figure ``key`` was measured."""
    pts = [(r["rows"] * r["cols"], _val(r, key)) for r in rows if r["dataflow"] == df]
    return [(x, y) for x, y in pts if y is not None]


def _failed(r: dict, stage: str) -> bool:
    """The stage ran and failed: an error, or a lint that reported warnings or errors (``lint_ok`` false)."""
    return f"{stage}_error" in r or r.get(f"{stage}_ok", True) is False


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(13, 11))
    for ax, (key, label) in zip(axes.flat, FIGURES):
        for df, mk in (("os", "o-"), ("ws", "s-")):
            pts = _points(rows, key, df)
            if pts:
                e = _growth(pts)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], mk,
                        label=f"{df.upper()}" + (f" ~(RC)^{e}" if e is not None else ""))
        ax.set_xscale("log")
        if key != "modules":
            ax.set_yscale("log")
        ax.set_xlabel("PEs (R x C)")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("macforge large arrays (parallel MAC, hierarchical Verilog)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    """Markdown table of ``rows``: one line per design, then the fitted growth exponent per column and
    dataflow. A missing cell reads ``not measured (<reason>)`` (the row's ``not_measured``) or
    ``failed`` (its ``<stage>_error`` in the JSON); ``load``: 1-minute load average at the end of emit /
    lint / build / synth."""
    fmt_of = {"emit_s": "{:.2f}", "verilog_bytes": "{:.2f}", "modules": "{}", "lint_s": "{:.1f}", "build_s": "{:.1f}",
              "build_peak_rss_mb": "{:.0f}", "sim.cycles_per_s": "{:.0f}", "synth_s": "{:.1f}",
              "synth.total_cells": "{}"}
    L = ["| array | emit s | Verilog MB | modules | lint s | build s | build MB | sim cyc/s | synth s | cells "
         "| load (emit / lint / build / synth) |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for key, _ in FIGURES:
            st, fmt = _stage_of(key), fmt_of[key]
            v = _val(r, key)
            if v is not None and key == "verilog_bytes":
                v = v / 1e6
            if v is not None:
                cells.append(fmt.format(v) + ("" if key != "sim.cycles_per_s" or _get(r, "sim.model_equals_measured")
                                              else " (cycles != model)")
                             + (f" (from {r[st + '_source']})" if r.get(f"{st}_source") else ""))
            elif _failed(r, st):
                cells.append("failed")
            else:
                cells.append(f"not measured ({r.get('not_measured', {}).get(st, 'stage not run')})")
        load = " / ".join("-" if r.get(f"{st}_load") is None else f"{r[f'{st}_load']:.1f}" for st in STAGES)
        L.append(f"| {r['dataflow'].upper()} {r['rows']}x{r['cols']} | " + " | ".join(cells) + f" | {load} |")
    for df in ("os", "ws"):
        ex = []
        for key, _ in FIGURES:
            pts = _points(rows, key, df)
            e = _growth(pts)
            ex.append("-" if e is None else f"{e:.2f} ({len(pts)} sizes)")
        L.append(f"| growth exponent {df.upper()} | " + " | ".join(ex) + " | |")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.bench_large", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--sizes", type=lambda t: [int(x) for x in t.split(",")], default=list(SIZES))
    ap.add_argument("--dataflows", type=lambda t: t.split(","), default=["os", "ws"])
    ap.add_argument("--flat-max", type=int, default=16, help="also time the flat emission up to this size")
    ap.add_argument("--synth-max", type=int, default=32, help="Yosys synthesis up to this size")
    ap.add_argument("--build-max", type=int, default=128, help="Verilator build + simulation up to this size")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per stage")
    ap.add_argument("--build-args", default=" ".join(LARGE_BUILD_ARGS),
                    help="extra Verilator options of the builds (default: %(default)r, see LARGE_BUILD_ARGS)")
    ap.add_argument("--stages", type=lambda t: t.split(","), default=list(STAGES),
                    help="stages (columns) to measure, of emit,lint,build,synth (default: all)")
    ap.add_argument("--redo", type=lambda t: t.split(","), default=[],
                    help="re-measure these stages even where <out>/large.json has them")
    ap.add_argument("--fresh", action="store_true", help="ignore the results in <out>/large.json")
    ap.add_argument("--record", action="append", default=[], metavar="DF,SIZE,STAGE,KEY=V,...,source=TEXT",
                    help="record a figure measured elsewhere (e.g. by tests/test_large.py) into the row's STAGE "
                         "cell: numbers for KEY, source required; the table marks it 'from <source>'")
    ap.add_argument("--replot", action="store_true",
                    help="only redraw large.png / large.md from an existing large.json (e.g. of a partial run)")
    ap.add_argument("--stage", nargs=3, metavar=("STAGE", "SIZE", "DF"), help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.stage:
        stage, size, df = args.stage[0], int(args.stage[1]), args.stage[2]
        work = args.work
        if stage == "emit":
            out = stage_emit(size, df, work, args.flat_max)
        elif stage == "lint":
            out = stage_lint(size, df, work)
        elif stage == "build":
            out = stage_build_sim(size, df, work, args.build_args.split())
        else:
            out = stage_synth(size, df, work, args.timeout)
        print(json.dumps(out))
        return 0

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        doc = json.loads((out / "large.json").read_text())
        rows = doc["rows"]
        doc["growth_exponent_vs_pes"] = _doc(rows, time.time())["growth_exponent_vs_pes"]
        (out / "large.json").write_text(json.dumps(doc, indent=2) + "\n")
        plot(rows, out / "large.png")
        (out / "large.md").write_text(table(rows) + "\n")
        print(table(rows))
        return 0
    res_file = out / "large.json"
    bad = [st for st in args.stages + args.redo if st not in STAGES]
    if bad:
        ap.error(f"--stages / --redo: unknown stage(s) {', '.join(bad)}; allowed: {', '.join(STAGES)}")
    stages = [st for st in STAGES if st in args.stages]
    rows: list[dict] = []
    if res_file.exists() and not args.fresh:
        rows = json.loads(res_file.read_text()).get("rows", [])
    if args.record:
        for rec in args.record:
            usage = (f"--record {rec!r}: expected DF (os|ws),SIZE (an integer),STAGE ({'|'.join(STAGES)}),"
                     "KEY=NUMBER,...,source=TEXT")
            parts = rec.split(",")
            if len(parts) < 5 or not all("=" in x for x in parts[3:]):
                ap.error(usage)
            df, size, st, *kvs = parts
            kv = dict(x.split("=", 1) for x in kvs)
            if df not in ("os", "ws") or st not in STAGES or "source" not in kv or len(kv) < 2 \
                    or not size.isdigit():
                ap.error(usage)
            try:
                nums = {k: float(v) for k, v in kv.items() if k != "source"}
            except ValueError:
                ap.error(usage)
            row = _row_for(rows, int(size), df)
            row[f"{st}_source"] = kv.pop("source")
            row.update({k: (int(v) if v.is_integer() else v) for k, v in nums.items()})
            row.pop(f"{st}_error", None)
            row.get("not_measured", {}).pop(st, None)
        rows.sort(key=lambda r: (r["rows"] * r["cols"], r["dataflow"]))
        res_file.write_text(json.dumps(_doc(rows, time.time()), indent=2) + "\n")
        print(table(rows))
        return 0
    simroot = out / "simcache"
    env = dict(os.environ, MACFORGE_BUILD=str(simroot))
    t0 = time.time()

    def save():
        res_file.write_text(json.dumps(_doc(rows, t0), indent=2) + "\n")

    warmed = False
    for size in args.sizes:
        for df in args.dataflows:
            row = _row_for(rows, size, df)
            work = out / f"{df}_{size}x{size}"
            work.mkdir(parents=True, exist_ok=True)
            vfile = work / f"{_cfg(size, df).top_name}.v"
            skip = row.setdefault("not_measured", {})
            for st in stages:
                if st == "build" and size > args.build_max:
                    skip.setdefault(st, f"above --build-max {args.build_max}")
                    continue
                if st == "synth" and size > args.synth_max:
                    skip.setdefault(st, f"above --synth-max {args.synth_max}")
                    continue
                if _done(row, st) and st not in args.redo:
                    continue
                if st != "emit" and not vfile.exists():
                    # the Verilog of a resumed row (emission is deterministic); its figures stay as recorded
                    got = _run_stage("emit", size, df, work, args, env)
                    if "emit_error" in got:
                        row.update(got)
                        break
                if st == "build" and not warmed:
                    # a fresh build root, then the design-independent Verilator runtime objects (untimed)
                    shutil.rmtree(simroot, ignore_errors=True)
                    warm = out / "warmup"
                    warm.mkdir(exist_ok=True)
                    _run_stage("emit", 2, "os", warm, args, env)
                    _run_stage("build", 2, "os", warm, args, env)
                    warmed = True
                print(f"[{time.time() - t0:7.0f} s] {df} {size}x{size}: {st}", flush=True)
                for k in [k for k in row if k == st or k.startswith(f"{st}_") or k in _STAGE_KEYS[st]]:
                    del row[k]          # a re-measured cell: nothing of the old one is kept
                got = _run_stage(st, size, df, work, args, env)
                got[f"{st}_load"] = round(os.getloadavg()[0], 2)
                got[f"{st}_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                row.update(got)
                skip.pop(st, None)
                print(json.dumps(got), flush=True)
                save()
                if st == "emit" and "emit_error" in got:
                    break
            if not skip:
                row.pop("not_measured")
            save()
    rows.sort(key=lambda r: (r["rows"] * r["cols"], r["dataflow"]))
    save()
    plot(rows, out / "large.png")
    (out / "large.md").write_text(table(rows) + "\n")
    print(table(rows))
    return 0


#: the stages (table columns), in order; a row's stage is done when its figure is recorded without error
STAGES = ("emit", "lint", "build", "synth")
_STAGE_KEYS = {"emit": ("verilog_bytes", "modules", "instances", "flat"), "lint": (),
               "build": ("sim",), "synth": ()}


def _done(row: dict, stage: str) -> bool:
    # a lint that ran but reported warnings or errors (lint_ok false) is a failed cell too: retried
    return f"{stage}_s" in row and not _failed(row, stage)


def _row_for(rows: list[dict], size: int, df: str) -> dict:
    """The row of the ``size`` x ``size`` parallel ``df`` array in ``rows`` (appended empty when absent)."""
    for r in rows:
        if (r["rows"], r["cols"], r["dataflow"], r.get("mac", "parallel")) == (size, size, df, "parallel"):
            return r
    rows.append({"rows": size, "cols": size, "dataflow": df, "mac": "parallel"})
    return rows[-1]


def _doc(rows: list[dict], t0: float) -> dict:
    growth = {}
    for key, _ in FIGURES:
        for df in ("os", "ws"):
            e = _growth(_points(rows, key, df))
            if e is not None:
                growth[f"{df}.{key}"] = e
    return {"description": "issue 13 large-array benchmark (see macforge.gen.bench_large)",
            "host": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
            "wall_s": round(time.time() - t0, 1), "rows": rows,
            "growth_exponent_vs_pes": growth}


if __name__ == "__main__":
    sys.exit(main())
