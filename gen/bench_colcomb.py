"""Column-combining benchmark (issue 14): the digits MLP on an 8x8 WS array, dense against packed.

``python -m macforge.gen.bench_colcomb [--out build/bench] [--limit N] [--quick]`` (also run by
``make bench``) writes ``colcomb.json`` and ``colcomb.md``:

1. **Training** (``macforge train --quick`` grids plus ``--column-combine`` for every setting of
   :data:`SETTINGS`, into ``OUT/colcomb_train``): the float network, its dense ``bundle_w8a8`` (8-bit PTQ)
   and one packed bundle per setting (prune, group with ``alpha``/``gamma``, conflict-prune, retrain with
   the packing fixed, 8-bit QAT).
2. **Simulation**: every bundle's whole test set through the RTL layer engine (:func:`macforge.api.simulate`:
   every integer of every layer checked against the golden model; cycles measured and compared with the
   exact model), dense on the plain 8x8 WS parallel engine, packed on the packed engine of the same array,
   batch 150, ``s_axis`` 256 bits (``--axis-width``); the 64-bit-bus figure comes from the exact model.
3. **Synthesis**: Yosys ``synth_ecp5 -dff`` (see :data:`SYNTH_OPTS`) of the array alone (the engine's :class:`ArrayConfig`), for the
   parallel and the bit-serial MAC: the packed array's multiplexers and select registers cost area.
   Every row is synthesized with the dense network's reduction bound (``max_k = 128``, the same accumulator
   width), so the difference is the multiplexers, the select registers and the wider activation path.

Columns: accuracy (hardware = golden), line reduction ``sum K / sum G`` (array lines saved; it counts the
all-zero lines that join no group, so it can exceed ``alpha``), alpha achieved (lines actually combined per
group, ``<= alpha``), weight sparsity, cycles per inference (measured = model), utilization in useful (nonzero-weight) MACs
``sum_images nnz(W) L / (R C cycles)`` (and the same for the pruned weights run unpacked on the plain
array, i.e. at the dense row's cycles: pruning alone saves no cycles), array LUT4/CCU2C/FF/DSP, and the ratios to the dense row
(cycles, LUT4 equivalent ``LUT4 + 2 CCU2C``, FF, and the area-time product ``lut4_equiv x cycles``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

#: (alpha, gamma, sparsity) of the packed rows
SETTINGS = ((2, 0.25, 0.5), (4, 0.5, 0.75), (8, 0.5, 0.85))


#: Yosys options of every row. ``-dff`` (ABC9 also maps across flip-flops): the default flow of the bundled
#: Yosys fails an internal assertion in ABC_OPS_REINTEGRATE on the alpha = 4 parallel array, so every row
#: uses the same working flow and the rows compare.
SYNTH_OPTS = "-dff"


def _synth(cfg, out: Path) -> dict:
    from macforge.gen.emit import emit
    from macforge.gen.synth import classify, parse_stat_json, run_yosys

    man = emit(cfg, out)
    top = man["top"]
    script = (f"read_verilog {man['verilog']}; synth_ecp5 -top {top} {SYNTH_OPTS}; "
              f"tee -q -o synth.stat.json stat -json")
    proc = run_yosys(["-q", "-l", "synth.log", "-p", script], out)
    if proc.returncode != 0:
        tail = (out / "synth.log").read_text(errors="replace")[-2000:] if (out / "synth.log").exists() else ""
        raise RuntimeError(f"yosys failed ({proc.returncode}) on {out}:\n{tail}")
    d = classify(parse_stat_json(json.loads((out / "synth.stat.json").read_text()), top))
    return {**{k: d[k] for k in ("lut", "carry", "lut4_equiv", "ff", "dsp", "mux")},
            "command": f"synth_ecp5 -top {top} {SYNTH_OPTS}"}


def run(out: Path, limit: int | None = None, rows: int = 8, cols: int = 8, axis_width: int = 256,
        settings=SETTINGS, quick: bool = False) -> dict:
    from dataclasses import replace

    from macforge.api import engine_for, simulate, train
    from macforge.golden.bundle import load_bundle
    from macforge.golden.engine_cycles import job_cycles
    from macforge.golden.colcomb import engine_job_cycles
    from macforge.golden.train.colcomb import ColcombConfig
    from macforge.golden.train.report import ExperimentConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    exp = ExperimentConfig(column_combine=tuple(ColcombConfig(alpha=a, gamma=g, sparsity=s) for a, g, s in settings))
    if quick:
        exp = replace(exp, column_combine=tuple(replace(c, retrain_epochs=10, rounds=2) for c in exp.column_combine))
    tr = train(out / "colcomb_train", quick=True, experiment=exp, progress=False)
    rep = tr.report
    train_s = time.perf_counter() - t0
    float_acc = rep["float_accuracy"]
    cc_rows = [r for r in rep["rows"] if r["kind"] == "colcomb"]
    plan = [("dense w8a8", "bundle_w8a8", None)] + [(f"packed alpha={r['alpha']}", r["bundle"], r) for r in cc_rows]
    table = []
    for name, stem, crow in plan:
        t1 = time.perf_counter()
        b = load_bundle(out / "colcomb_train" / f"{stem}.npz")
        e = engine_for(b, rows=rows, cols=cols, dataflow="ws", axis_width=axis_width)
        sim = simulate(b, e, limit=limit, progress=False, out_dir=out / "colcomb_sim" / stem)
        # the exact model on a 64-bit bus (same array, same jobs)
        e64 = engine_for(b, rows=rows, cols=cols, dataflow="ws", axis_width=64)
        n, batch = sim.images, sim.batch
        cyc64 = 0
        for m0 in range(0, n, batch):
            M = min(batch, n - m0)
            for i, l in enumerate(b.model.layers):
                if b.packing is None:
                    cyc64 += job_cycles(e64, M, *l.w.shape)
                else:
                    cyc64 += engine_job_cycles(e64, M, b.packing[i].with_alpha(e64.array.alpha))
        # area at the dense network's reduction bound (same accumulator width for every row)
        kd = max(l.w.shape[0] for l in b.model.layers)
        pa = replace(e.array, max_k=kd, acc_width=None)
        syn = {"parallel": _synth(pa, out / "colcomb_synth" / pa.top_name)}
        bs = replace(pa, mac="bitserial", acc_width=None)
        syn["bitserial"] = _synth(bs, out / "colcomb_synth" / bs.top_name)
        nnz = sum(int((l.w != 0).sum()) for l in b.model.layers)
        size = sum(l.w.size for l in b.model.layers)
        r = {"name": name, "bundle": stem, "alpha": e.array.alpha, "array": e.array.to_dict(),
             "gamma": crow["gamma"] if crow else None, "sparsity_target": crow["sparsity_target"] if crow else None,
             "accuracy": sim.accuracy, "golden_accuracy": sim.golden_accuracy, "delta_vs_float": sim.accuracy - float_acc,
             "mismatches": sim.mismatches, "images": sim.images,
             "line_reduction": sim.extra["packing"]["line_reduction"] if b.packing else 1.0,
             "alpha_achieved": sim.extra["packing"]["alpha_achieved"] if b.packing else 1.0,
             "packing_factor": sim.extra["packing"]["packing_factor"] if b.packing else 1.0,   # = line_reduction (old name)
             "groups": sim.extra["packing"]["groups"] if b.packing else [l.w.shape[0] for l in b.model.layers],
             "weight_sparsity": 1 - nnz / size,
             "cycles_per_inference": sim.cycles_per_inference, "cycles_model": sim.cycles_model,
             "cycle_exact": sim.cycle_exact, "cycles_per_inference_axis64_model": cyc64 / n,
             "utilization_slots": sim.utilization, "utilization_useful": sim.extra["useful_utilization"],
             "useful_macs_per_inference": sim.extra["useful_macs_per_inference"],
             "synth": syn, "wall_s": round(time.perf_counter() - t1, 1)}
        table.append(r)
        print(f"{name}: acc {r['accuracy']:.4f} (golden {r['golden_accuracy']:.4f}, float {float_acc:.4f}), "
              f"mismatches {r['mismatches']}, line reduction {r['line_reduction']:.2f} (alpha achieved "
              f"{r['alpha_achieved']:.2f}), {r['cycles_per_inference']:.1f} "
              f"cycles/inf (model {r['cycles_model']:.1f}; 64-bit bus {r['cycles_per_inference_axis64_model']:.1f}), "
              f"useful util {100 * r['utilization_useful']:.1f} %, LUT4eq {syn['parallel']['lut4_equiv']} "
              f"FF {syn['parallel']['ff']} DSP {syn['parallel']['dsp']} ({r['wall_s']} s)", flush=True)
    ref = table[0]
    for r in table:
        # the same pruned network on the plain array (zeros still occupy PEs and cycles): dense timing
        r["utilization_useful_unpacked"] = r["useful_macs_per_inference"] / (rows * cols * ref["cycles_per_inference"])
        lx = r["synth"]["parallel"]["lut4_equiv"] * r["cycles_per_inference"]
        r["lut_x_cycles"] = lx
        r["ratio_to_dense"] = {
            "cycles": r["cycles_per_inference"] / ref["cycles_per_inference"],
            "cycles_axis64": r["cycles_per_inference_axis64_model"] / ref["cycles_per_inference_axis64_model"],
            "lut4_equiv": r["synth"]["parallel"]["lut4_equiv"] / ref["synth"]["parallel"]["lut4_equiv"],
            "ff": r["synth"]["parallel"]["ff"] / ref["synth"]["parallel"]["ff"],
            "lut4_equiv_bitserial": r["synth"]["bitserial"]["lut4_equiv"] / ref["synth"]["bitserial"]["lut4_equiv"],
            "ff_bitserial": r["synth"]["bitserial"]["ff"] / ref["synth"]["bitserial"]["ff"],
            "lut_x_cycles": lx / (ref["synth"]["parallel"]["lut4_equiv"] * ref["cycles_per_inference"]),
        }
    res = {"array": f"{rows}x{cols} ws", "axis_width": axis_width, "batch": 150,
           "float_accuracy": float_acc, "train_s": round(train_s, 1), "settings": [list(s) for s in settings],
           "definitions": __doc__, "rows": table}
    (out / "colcomb.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / "colcomb.md").write_text(markdown(res))
    print(f"wrote {out / 'colcomb.json'} and {out / 'colcomb.md'}")
    return res


def markdown(res: dict) -> str:
    fa = res["float_accuracy"]
    L = [f"# Column combining: digits MLP 64-128-10 on a {res['array']} array (float {100 * fa:.2f} %)", "",
         f"Whole test set through the RTL layer engine (s_axis {res['axis_width']} bits, batch 150): accuracy is the "
         "hardware's (= golden, 0 mismatches required), cycles measured (= exact model); the 64-bit-bus column "
         "is the exact model. Area: Yosys synth_ecp5 of the array alone (parallel MAC, DSP mapping; bit-serial "
         "MAC alongside).", "",
         "| design | accuracy % | Δ vs float (pt) | mismatches | weight sparsity % | line reduction K/G | alpha achieved | "
         "groups per layer | "
         "cycles/inf | = model | cycles/inf (64b bus, model) | useful util % | same weights unpacked: useful util % | LUT4 | CCU2C | FF | DSP | "
         "bit-serial LUT4eq / FF | cycles vs dense | LUT4eq vs dense | FF vs dense | LUT x cycles vs dense |",
         "|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in res["rows"]:
        p, b, q = r["synth"]["parallel"], r["synth"]["bitserial"], r["ratio_to_dense"]
        L.append(f"| {r['name']} | {100 * r['accuracy']:.2f} | {100 * r['delta_vs_float']:+.2f} | {r['mismatches']} | "
                 f"{100 * r['weight_sparsity']:.1f} | {r['line_reduction']:.2f} | {r['alpha_achieved']:.2f} | {r['groups']} | "
                 f"{r['cycles_per_inference']:.1f} | {'yes' if r['cycle_exact'] else 'NO'} | "
                 f"{r['cycles_per_inference_axis64_model']:.1f} | {100 * r['utilization_useful']:.1f} | "
                 f"{100 * r['utilization_useful_unpacked']:.1f} | {p['lut']} | "
                 f"{p['carry']} | {p['ff']} | {p['dsp']} | {b['lut4_equiv']} / {b['ff']} | {q['cycles']:.3f} | "
                 f"{q['lut4_equiv']:.2f} | {q['ff']:.2f} | {q['lut_x_cycles']:.3f} |")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.bench_colcomb", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--limit", type=int, default=None, help="only the first N test images")
    ap.add_argument("--axis-width", type=int, default=256)
    ap.add_argument("--quick", action="store_true", help="shorter retraining (smoke run)")
    a = ap.parse_args(argv)
    run(Path(a.out), limit=a.limit, axis_width=a.axis_width, quick=a.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
