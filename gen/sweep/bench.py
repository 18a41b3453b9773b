"""Benchmark of the sweep backends: ``python -m macforge.gen.sweep.bench`` (part of ``make bench``).

The same small sweep (the trained ``bundle_w8a8``: parallel and bit-serial MACs, both dataflows, a 2x2
array, precisions 4 and 8, 40 test images each through the RTL: 6 simulation tasks) runs on the local
pool and on a local Ray instance, each with 1 and 2 workers, every run into a fresh results directory so
that every task runs. An untimed warm-up run builds the Verilator models first (they are cached by
configuration, so the timed runs measure the sweep, not the C++ compiler).

Writes ``build/bench/sweep.json``: per run the backend, workers, wall time (``macforge sweep`` from start
to report, including the Ray instance's start and stop), tasks, and whether its measurements equal the
1-worker local run's (they must; the tool-version digests are compared separately); plus ``sweep_backends.png`` (wall time per backend and worker count). The
machine has other work on it (check ``load_average``): the figures are wall times, not CPU times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

SPEC = """
[sweep]
name = "bench"
[bundles]
w8a8 = "{bundle}"
[axes]
mac = ["parallel", "bitserial"]
dataflow = ["os", "ws"]
size = ["2x2"]
precision = [4, 8]
[measure]
steps = ["sim"]
images = 40
batch = 40
"""


def _results(db: Path) -> tuple[list, list]:
    """(measurements: key, step, status, result, error) and the tool-version digests of a run's database.

    They are compared separately: in a checkout that is being edited the source digest in the tool
    versions can change between two runs while the measurements stay the same."""
    from .store import Store

    with Store(db) as s:
        rows = s.snapshot()["results"]
    return [(r[0], r[2], r[3], r[4], r[5]) for r in rows], [r[1] for r in rows]


def main(argv: list[str] | None = None) -> int:
    from .run import run_sweep

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/bench", help="output directory (default build/bench)")
    ap.add_argument("--bundle", default="build/train/bundle_w8a8.npz", help="the bundle to sweep")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    work = out / "sweep_runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spec = work / "bench.toml"
    spec.write_text(SPEC.format(bundle=Path(args.bundle).resolve()))

    t0 = time.perf_counter()
    run_sweep(spec, work / "warmup", workers=2, progress=False, report=False)
    warm = time.perf_counter() - t0
    runs = []
    ref = None
    for backend, workers in (("local", 1), ("local", 2), ("ray", 1), ("ray", 2)):
        d = work / f"{backend}_{workers}"
        t0 = time.perf_counter()
        s = run_sweep(spec, d, backend=backend, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        res, tools = _results(d / "sweep.db")
        ref = (res, tools) if ref is None else ref
        runs.append({"backend": backend, "workers": workers, "wall_s": round(wall, 2), "tasks": s.tasks,
                     "ran": s.ran, "failed": s.failed, "results_equal_local_1": res == ref[0],
                     "tool_versions_equal_local_1": tools == ref[1], "load_average": list(os.getloadavg())})
        print(f"{backend} x{workers}: {wall:.1f} s, {s.ran} tasks, results equal to local x1: {res == ref[0]}")
    rep = {"what": "wall time of the same 6-task sweep (RTL simulations) per backend and worker count",
           "cores": os.cpu_count(), "warmup_s": round(warm, 2), "runs": runs}
    (out / "sweep.json").write_text(json.dumps(rep, indent=2) + "\n")
    _plot(runs, out / "sweep_backends.png")
    print(f"-> {out / 'sweep.json'}, {out / 'sweep_backends.png'}")
    return 0 if all(r["results_equal_local_1"] and not r["failed"] for r in runs) else 1


def _plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [f"{r['backend']}\n{r['workers']} worker{'s' if r['workers'] > 1 else ''}" for r in runs]
    colours = ["tab:blue" if r["backend"] == "local" else "tab:purple" for r in runs]
    bars = ax.bar(labels, [r["wall_s"] for r in runs], color=colours)
    ax.bar_label(bars, fmt="%.1f s", fontsize=8)
    ax.set_ylabel("wall time (s)")
    ax.set_title(f"macforge sweep: {runs[0]['tasks']} simulation tasks per run", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
