"""The sweep report: ``DIR/report.md`` (one table row per point, Pareto-optimal points marked),
``DIR/report.json`` (the same rows) and two PNG plots (one colour per MAC family, marker per dataflow).

Metrics of a point (from its tasks' results in the store):

=======================  ========================================================================
``accuracy``             hardware top-1 accuracy on the measured images (``sim``)
``mismatches``           integers where the hardware differs from the golden model (``sim``; 0)
``cycles_per_inference`` measured engine cycles / images (``sim``), else the exact model (``cycles``)
``lut``, ``ff``, ``dsp``  Yosys cells (``synth``; else the synthesis inside ``pnr``)
``fmax_mhz``             nextpnr's achieved Fmax, best seed (``pnr``)
``throughput``           ``fmax_mhz * 1e6 / cycles_per_inference`` inferences per second
``throughput_per_lut``   ``throughput / lut``
``lut_cycles``           ``lut * cycles_per_inference`` (area x time per inference)
=======================  ========================================================================

A point is **Pareto-optimal** when no other point is at least as good in every objective of the sweep
file (``[objectives]``; default: accuracy up, cycles per inference down, LUTs down) and strictly better
in one. Points missing an objective's metric take no part. The plots draw each plot's own 2-D front:

* ``pareto_accuracy_cycles.png``: accuracy against cycles per inference;
* ``pareto_accuracy_throughput_per_lut.png``: accuracy against throughput per LUT (inferences per second
  per LUT); without Fmax (no ``pnr`` step) the x axis is inferences per cycle per LUT and says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from .spec import DEFAULT_OBJECTIVES
from .store import Store

FAMILY_COLOURS = {"parallel": "tab:blue", "bitserial": "tab:orange", "tmac": "tab:green"}
DATAFLOW_MARKERS = {"os": "o", "ws": "s"}


def point_rows(store: Store) -> list[dict]:
    """One dict per point of the current sweep: the point, its status, errors and metrics."""
    rows = []
    for p, keys in store.points():
        recs = {k: store.result(k) for k in keys}
        by_step = {}
        errors = []
        status = "ok"
        for k, r in recs.items():
            if r is None:
                status = "pending" if status == "ok" else status
                continue
            if r["status"] != "ok":
                status = "error"
                errors.append(r["error"].splitlines()[0] if r["error"] else "error")
                continue
            by_step[r["step"]] = r["result"]
        run = dict(p["run"])
        if p.get("tq") and p["hw"]["mac"] == "tmac":       # the tMAC runs the bundle's trained budgets
            run.update({"k": p["tq"]["k"], "k_x": p["tq"]["k_x"]})
        rows.append({"id": p["id"], "bundle": p["bundle"], **{k: v for k, v in p["hw"].items()}, "run": run,
                     "status": status, "errors": errors, **metrics(by_step)})
    return rows


def metrics(by_step: dict[str, dict]) -> dict:
    """The report's metrics from the results of a point's steps (module docstring)."""
    sim, cyc, syn, pnr = (by_step.get(s) or {} for s in ("sim", "cycles", "synth", "pnr"))
    m = {"accuracy": sim.get("accuracy"), "golden_accuracy": sim.get("golden_accuracy"),
         "mismatches": sim.get("mismatches"), "images": sim.get("images", cyc.get("images")),
         "cycles_per_inference": sim.get("cycles_per_inference", cyc.get("cycles_model")),
         "cycles_model": sim.get("cycles_model", cyc.get("cycles_model"))}
    area = syn or (pnr.get("synth") or {})
    for k in ("lut", "ff", "dsp", "carry", "bram"):
        m[k] = area.get(k)
    m["fmax_mhz"] = pnr.get("fmax_mhz")
    cpi, lut, f = m["cycles_per_inference"], m["lut"], m["fmax_mhz"]
    m["throughput"] = f * 1e6 / cpi if f and cpi else None
    m["throughput_per_lut"] = m["throughput"] / lut if m["throughput"] and lut else None
    m["lut_cycles"] = lut * cpi if lut is not None and cpi else None
    m["per_cycle_per_lut"] = 1.0 / (cpi * lut) if cpi and lut else None
    return m


def pareto_mask(rows: list[dict], objectives: dict[str, str]) -> list[bool]:
    """``True`` for the rows no other row dominates under ``objectives`` (metric -> ``"min"``/``"max"``);
    rows without every objective's metric, or not ``ok``, are ``False``."""
    sign = {k: (1.0 if d == "max" else -1.0) for k, d in objectives.items()}
    vals = [None if r["status"] != "ok" or any(r.get(k) is None for k in sign)
            else tuple(sign[k] * float(r[k]) for k in sign) for r in rows]
    out = []
    for i, v in enumerate(vals):
        if v is None:
            out.append(False)
            continue
        dominated = any(w is not None and j != i and all(a >= b for a, b in zip(w, v)) and any(a > b for a, b in zip(w, v))
                        for j, w in enumerate(vals))
        out.append(not dominated)
    return out


# ----- Markdown ----------------------------------------------------------------------------------------------
def _f(v, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def _run_label(run: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in run.items()) or "-"


def markdown(rows: list[dict], skips: list[tuple[dict, str]], spec: dict, objectives: dict[str, str]) -> str:
    obj = ", ".join(f"{k} ({d})" for k, d in objectives.items())
    extra_hw = sorted({k for r in rows for k in r if k not in _ROW_KEYS})
    lines = [f"# Co-design sweep `{spec.get('name')}`", "",
             f"{len(rows)} points ({sum(r['status'] == 'ok' for r in rows)} measured, "
             f"{sum(r['status'] == 'error' for r in rows)} failed, {sum(r['status'] == 'pending' for r in rows)} "
             f"pending), {len(skips)} combinations skipped. Steps: {', '.join(spec.get('steps', []))}; "
             f"{spec.get('images')} test images per point in jobs of {spec.get('batch')}. "
             f"Pareto-optimal (**\\***) on: {obj}.", ""]
    head = (["P", "bundle", "MAC", "dataflow", "R x C"] + extra_hw +
            ["run-time", "accuracy %", "mismatches", "cycles/inf", "LUT", "FF", "DSP", "Fmax MHz",
             "inf/s", "LUT x cycles"])
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        acc = _f(None if r["accuracy"] is None else 100 * r["accuracy"], ".2f")
        status = {"error": "FAILED", "pending": "pending"}.get(r["status"], "")
        cells = (["**\\***" if r.get("pareto") else status, r["bundle"], r["mac"], r["dataflow"],
                  f"{r['rows']}x{r['cols']}"] + [str(r.get(k, "")) for k in extra_hw] +
                 [_run_label(r["run"]), acc, _f(r["mismatches"], "d"), _f(r["cycles_per_inference"], ".1f"),
                  _f(r["lut"], "d"), _f(r["ff"], "d"), _f(r["dsp"], "d"), _f(r["fmax_mhz"], ".1f"),
                  _f(r["throughput"], ".0f"), _f(r["lut_cycles"], ".3g")])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Which family wins on which objective", "",
              "Best measured point per metric (objectives of the sweep marked *objective*):", ""]
    for k, d in WIN_METRICS.items():
        cand = [r for r in rows if r["status"] == "ok" and r.get(k) is not None]
        tag = " *objective*" if k in objectives else ""
        if not cand:
            if k in objectives:
                lines.append(f"* {k} ({d}){tag}: no point measured it")
            continue
        best = (max if d == "max" else min)(cand, key=lambda r: r[k])
        ties = sorted({r["mac"] for r in cand if r[k] == best[k]})
        lines.append(f"* {k} ({d}){tag}: **{best['mac']}** -- {best[k]:.4g}, {_label(best)}"
                     + (f" (tied by {', '.join(ties)})" if len(ties) > 1 else ""))
    failed = [r for r in rows if r["status"] == "error"]
    if failed:
        lines += ["", "## Failed points", ""]
        lines += [f"* {_label(r)}: {'; '.join(r['errors'])}" for r in failed]
    if skips:
        lines += ["", "## Skipped combinations", ""]
        lines += [f"* {json.dumps(w, sort_keys=False)}: {reason}" for w, reason in skips]
    return "\n".join(lines) + "\n"


#: metrics the report names a winning family for, and their direction
WIN_METRICS = {"accuracy": "max", "cycles_per_inference": "min", "lut": "min", "ff": "min", "dsp": "min",
               "fmax_mhz": "max", "throughput": "max", "throughput_per_lut": "max", "lut_cycles": "min"}

_ROW_KEYS = {"id", "bundle", "mac", "dataflow", "rows", "cols", "run", "status", "errors", "pareto", "accuracy",
             "golden_accuracy", "mismatches", "images", "cycles_per_inference", "cycles_model", "lut", "ff", "dsp",
             "carry", "bram", "fmax_mhz", "throughput", "throughput_per_lut", "lut_cycles", "per_cycle_per_lut"}


def _label(r: dict) -> str:
    return f"{r['bundle']} {r['mac']} {r['dataflow']} {r['rows']}x{r['cols']} {_run_label(r['run'])}".strip()


# ----- plots -------------------------------------------------------------------------------------------------
def _front_2d(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Pareto front of (x to minimise, y to maximise), sorted by x."""
    front = []
    for x, y in sorted(pts, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def plot(rows: list[dict], path: Path, x_key: str, x_label: str, minimise_x: bool, title: str) -> bool:
    """Accuracy against ``x_key``, one colour per family, the 2-D front drawn; ``False`` if nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r["status"] == "ok" and r.get(x_key) and r.get("accuracy") is not None]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    if not pts:
        ax.text(0.5, 0.5, f"no point has {x_key} and accuracy", ha="center", va="center", transform=ax.transAxes)
    for fam in sorted({r["mac"] for r in pts}):
        for df, mk in DATAFLOW_MARKERS.items():
            sel = [r for r in pts if r["mac"] == fam and r["dataflow"] == df]
            if sel:
                ax.scatter([r[x_key] for r in sel], [100 * r["accuracy"] for r in sel], marker=mk, s=40,
                           color=FAMILY_COLOURS.get(fam, "tab:gray"), alpha=0.8, label=f"{fam} {df}")
    if pts:
        sgn = 1 if minimise_x else -1
        front = _front_2d([(sgn * r[x_key], 100 * r["accuracy"]) for r in pts])
        fx = [sgn * x for x, _ in front]
        fy = [y for _, y in front]
        ax.step(fx, fy, where="post" if minimise_x else "pre", color="black", lw=1, ls="--", label="Pareto front")
        ax.scatter(fx, fy, s=140, facecolors="none", edgecolors="black", lw=1)
        ax.set_xscale("log")
        ax.legend(fontsize=8, loc="lower right" if minimise_x else "lower left")
    ax.set_xlabel(x_label)
    ax.set_ylabel("hardware accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return bool(pts)


def write_report(out_dir: str | Path, *, store: Store | None = None) -> dict:
    """Write ``report.md``, ``report.json`` and the PNGs for the sweep stored in ``out_dir``."""
    out = Path(out_dir)
    own = store is None
    if own:
        db = out / "sweep.db"
        if not db.is_file():
            raise ValueError(f"DIR={out} holds no sweep database (sweep.db): run `macforge sweep` into it first")
        store = Store(db)
    try:
        spec = store.spec() or {}
        objectives = spec.get("objectives") or dict(DEFAULT_OBJECTIVES)
        rows = point_rows(store)
        objectives = {k: d for k, d in objectives.items() if any(r.get(k) is not None for r in rows)} or objectives
        for r, m in zip(rows, pareto_mask(rows, objectives)):
            r["pareto"] = m
        skips = store.skips()
    finally:
        if own:
            store.close()
    (out / "report.md").write_text(markdown(rows, skips, spec, objectives))
    name = spec.get("name", "")
    plot(rows, out / "pareto_accuracy_cycles.png", "cycles_per_inference", "cycles per inference (log)", True,
         f"sweep {name}: accuracy vs cycles per inference")
    has_fmax = any(r.get("throughput_per_lut") for r in rows)
    if has_fmax:
        plot(rows, out / "pareto_accuracy_throughput_per_lut.png", "throughput_per_lut",
             "throughput per LUT (inferences / s / LUT, log; Fmax from nextpnr)", False,
             f"sweep {name}: accuracy vs throughput per LUT")
    else:
        plot(rows, out / "pareto_accuracy_throughput_per_lut.png", "per_cycle_per_lut",
             "inferences per cycle per LUT (log; no Fmax: the pnr step was not run)", False,
             f"sweep {name}: accuracy vs throughput per LUT at a fixed clock")
    rep = {"spec": spec, "objectives": objectives, "rows": rows,
           "skips": [{"what": w, "reason": r} for w, r in skips],
           "files": ["report.md", "pareto_accuracy_cycles.png", "pareto_accuracy_throughput_per_lut.png"]}
    (out / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
    return rep
