"""tMAC benchmark (issue 9): the digits MLP on an 8x8 OS array, tMAC against parallel and bit-serial.

``python -m macforge.gen.bench_tmac [--out build/bench] [--limit N]`` (also run by ``make bench``) writes
``tmac.json`` and ``tmac.md``. Rows, each a full run of the bundle's test set through the RTL layer engine
(:func:`macforge.api.simulate`: every integer of every layer checked against the golden model, measured
cycles compared with the exact model) plus Yosys ``synth_ecp5`` of the array alone (the
:class:`~macforge.golden.config.ArrayConfig` of that engine; ``-nodsp`` too when the default mapping uses DSPs):

* ``parallel``: ``bundle_w8a8`` (8-bit weights and activations), one product per cycle;
* ``bitserial p=8``: ``bundle_w8a8`` at full precision, 8 cycles per product;
* ``bitserial p=A``: the cheapest uniform *bundle* as accurate as the TQ headline on the test set
  (``bundle_w4a4_qat``; ``A`` = its ``a_bits``), on an array of its widths;
* ``tmac``: ``bundle_tq`` (the TQ headline, e.g. ``tq-hese-g16-k12-kx3``) on a tMAC array whose build maxima
  are exactly the headline budgets (``g``, ``k_max = k``, ``kx_max = k_x``, its encoding only).

Columns: hardware accuracy (= golden), cycles per inference (measured, = model), array LUT4 / CCU2C / FF /
DSP (ECP5 default mapping and ``-nodsp``), ``lut4_equiv = LUT4 + 2 CCU2C`` and ``LUT x cycles`` per
inference (``lut4_equiv * cycles``, the area-time product; all-fabric ``-nodsp`` figure too), and every
figure's ratio to the tMAC row. Bundles come from ``make train`` (``build/train``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TRAIN = Path("build") / "train"


def rows_plan(train_dir: Path) -> list[dict]:
    from macforge.golden.bundle import load_bundle

    rep = json.loads((train_dir / "report.json").read_text())
    tq = load_bundle(train_dir / "bundle_tq.npz")
    acc_tq = rep["headline"]["tq"]["accuracy"]
    # uniform bundles as accurate as the TQ headline (test set), cheapest = fewest bit pairs per MAC
    cands = []
    for name, (npz, _js) in rep["bundles"].items():
        if name == "tq":
            continue
        row = next((r for r in rep["rows"] if r["name"].replace("-", "_") in (name.replace("-", "_"),
                                                                              name.replace("-", "_") + "_ptq")), None)
        b = load_bundle(npz)
        acc = row["accuracy"] if row else None
        cands.append((b.model.w_bits * b.model.a_bits, name, npz, b.model.a_bits, acc))
    ok = sorted(c for c in cands if c[4] is not None and c[4] >= acc_tq) or sorted(cands)
    _, uname, unpz, ua, uacc = ok[0]
    t = tq.model.tq
    return [
        {"name": "parallel", "mac": "parallel", "bundle": str(train_dir / "bundle_w8a8.npz"), "options": {}},
        {"name": "bitserial p=8", "mac": "bitserial", "bundle": str(train_dir / "bundle_w8a8.npz"),
         "precision": 8, "options": {}},
        {"name": f"bitserial p={ua} ({uname})", "mac": "bitserial", "bundle": unpz, "precision": ua,
         "options": {}, "why": f"cheapest uniform bundle with test accuracy >= the TQ headline's "
                               f"({uacc:.4f} >= {acc_tq:.4f})"},
        {"name": f"tmac ({t.name})", "mac": "tmac", "bundle": str(train_dir / "bundle_tq.npz"),
         "options": {"g": t.g, "k_max": t.k, "kx_max": t.k_x, "encodings": (t.encoding,)}},
    ]


def synth_array(cfg, out: Path) -> dict:
    from macforge.gen.emit import emit
    from macforge.gen.synth import synth_dir

    emit(cfg, out)
    d = synth_dir(out, netlist=False)
    res = {"default": {k: d[k] for k in ("lut", "carry", "lut4_equiv", "ff", "dsp", "mux")}}
    if d["dsp"]:
        n = synth_dir(out, nodsp=True, netlist=False)
        res["nodsp"] = {k: n[k] for k in ("lut", "carry", "lut4_equiv", "ff", "dsp", "mux")}
    else:
        res["nodsp"] = dict(res["default"], note="no DSP in the default mapping: identical")
    return res


def run(out: Path, train_dir: Path = TRAIN, limit: int | None = None, rows: int = 8, cols: int = 8,
        dataflow: str = "os") -> dict:
    from macforge.api import engine_for, simulate
    from macforge.golden.bundle import load_bundle

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not (train_dir / "bundle_tq.npz").exists():
        raise FileNotFoundError(f"{train_dir}/bundle_tq.npz missing: run `make train` first")
    table = []
    for spec in rows_plan(train_dir):
        t0 = time.perf_counter()
        b = load_bundle(spec["bundle"])
        e = engine_for(b, rows=rows, cols=cols, dataflow=dataflow, mac=spec["mac"], **spec["options"])
        sim = simulate(b, e, limit=limit, precision=spec.get("precision"), progress=False,
                       out_dir=out / "tmac_sim" / spec["name"].split()[0] / str(spec.get("precision", "")))
        syn = synth_array(e.array, out / "tmac_synth" / e.array.top_name / spec["name"].split()[0])
        r = {"name": spec["name"], "mac": spec["mac"], "bundle": spec["bundle"], "array": e.array.to_dict(),
             "precision": spec.get("precision"), "why": spec.get("why"),
             "accuracy": sim.accuracy, "golden_accuracy": sim.golden_accuracy, "mismatches": sim.mismatches,
             "images": sim.images, "cycles_per_inference": sim.cycles_per_inference,
             "cycles_model": sim.cycles_model, "cycle_exact": sim.cycle_exact, "utilization": sim.utilization,
             "synth": syn, "wall_s": round(time.perf_counter() - t0, 1)}
        for k in ("term_pairs_per_inference", "term_pair_slots_per_inference", "term_pair_utilization"):
            if k in sim.extra:
                r[k] = sim.extra[k]
        for m in ("default", "nodsp"):
            r[f"lut_x_cycles_{m}"] = syn[m]["lut4_equiv"] * sim.cycles_per_inference
        table.append(r)
        print(f"{r['name']}: acc {r['accuracy']:.4f} (golden {r['golden_accuracy']:.4f}), mismatches "
              f"{r['mismatches']}, {r['cycles_per_inference']:.1f} cycles/inf (model {r['cycles_model']:.1f}), "
              f"LUT4eq {syn['default']['lut4_equiv']} (nodsp {syn['nodsp']['lut4_equiv']}), "
              f"DSP {syn['default']['dsp']} ({r['wall_s']} s)", flush=True)
    ref = table[-1]
    for r in table:
        r["ratio_to_tmac"] = {
            "cycles": r["cycles_per_inference"] / ref["cycles_per_inference"],
            "lut4_equiv": r["synth"]["default"]["lut4_equiv"] / ref["synth"]["default"]["lut4_equiv"],
            "lut4_equiv_nodsp": r["synth"]["nodsp"]["lut4_equiv"] / ref["synth"]["nodsp"]["lut4_equiv"],
            "ff": r["synth"]["default"]["ff"] / ref["synth"]["default"]["ff"],
            "lut_x_cycles": r["lut_x_cycles_default"] / ref["lut_x_cycles_default"],
            "lut_x_cycles_nodsp": r["lut_x_cycles_nodsp"] / ref["lut_x_cycles_nodsp"],
        }
    res = {"array": f"{rows}x{cols} {dataflow}", "definitions": __doc__, "rows": table}
    (out / "tmac.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / "tmac.md").write_text(markdown(res))
    print(f"wrote {out / 'tmac.json'} and {out / 'tmac.md'}")
    return res


def markdown(res: dict) -> str:
    L = [f"# tMAC vs parallel vs bit-serial: digits MLP 64-128-10, {res['array']} array, ECP5 (Yosys synth_ecp5)",
         "",
         "| design | HW acc (golden) | mism. | cycles/inf (model) | LUT4 | CCU2C | FF | DSP | LUT4eq | LUT4eq -nodsp "
         "| LUTxcyc | LUTxcyc -nodsp | ratio cyc | ratio LUT4eq | ratio LUTxcyc | ratio LUTxcyc -nodsp |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        d, n, q = r["synth"]["default"], r["synth"]["nodsp"], r["ratio_to_tmac"]
        L.append(f"| {r['name']} | {100 * r['accuracy']:.2f} % ({100 * r['golden_accuracy']:.2f} %) | "
                 f"{r['mismatches']} | {r['cycles_per_inference']:.1f} ({r['cycles_model']:.1f}) | {d['lut']} | "
                 f"{d['carry']} | {d['ff']} | {d['dsp']} | {d['lut4_equiv']} | {n['lut4_equiv']} | "
                 f"{r['lut_x_cycles_default']:.3g} | {r['lut_x_cycles_nodsp']:.3g} | {q['cycles']:.2f} | "
                 f"{q['lut4_equiv']:.2f} | {q['lut_x_cycles']:.2f} | {q['lut_x_cycles_nodsp']:.2f} |")
    t = res["rows"][-1]
    L += ["", f"tMAC: {t.get('term_pairs_per_inference', 0):.0f} nonzero term pairs per inference, "
              f"{t.get('term_pair_slots_per_inference', 0):.0f} budgeted term-pair slots (ceil(K/g) k k_x per "
              f"output), term-pair utilization {100 * t.get('term_pair_utilization', 0):.1f} %.",
          "Ratios are each design's figure over the tMAC's (> 1: the tMAC is smaller/faster).", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.bench_tmac", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build") / "bench")
    ap.add_argument("--train-dir", type=Path, default=TRAIN)
    ap.add_argument("--limit", type=int, default=None, help="only the first N test images (smoke run)")
    ap.add_argument("--dataflow", choices=("os", "ws"), default="os")
    a = ap.parse_args(argv)
    run(a.out, a.train_dir, a.limit, dataflow=a.dataflow)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
