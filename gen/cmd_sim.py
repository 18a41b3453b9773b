"""``macforge sim``: run a trained integer MLP through the RTL layer engine on its whole test set.

The bundle (:mod:`macforge.golden.bundle`, from ``macforge train``) gives the integer layers and the exact test
inputs. The network runs layer by layer through the engine (:mod:`macforge.rtl.engine`) in a cocotb simulation on
Verilator, in batches of ``--batch`` images (one engine job per batch and layer; the batch is ``M``); the
outputs of layer ``l`` computed by the hardware are the inputs of layer ``l + 1``. The golden integer
model (:func:`macforge.golden.mlp.mlp_forward_int`, ``uniform`` mode, or ``bitserial`` with ``--precision`` for the
bit-serial MAC) gives the reference for every integer of every layer.

``DIR/report.json``: ``accuracy`` (hardware), ``golden_accuracy``, ``mismatches`` (integers of any layer
output that differ from golden; must be 0), ``images``, ``cycles_per_inference`` (measured engine cycles
of all jobs / images), ``cycles_model`` (the same from :func:`macforge.golden.engine_cycles.job_cycles`),
``utilization`` (useful MAC slots ``sum M K N L`` / ``R C`` per measured cycle), ``wall_s`` (wall time of
the simulation run: simulator start, every job, checks), ``sim_cycles_per_s``, and when the lower bound
was measured (``--lower-bound``, default on), ``lower_bound`` with the plain Verilator C++ harness's
cycles per second for this design and ``wall_ratio`` = ``wall_s`` / (simulated cycles / that rate).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("sim", help="run a trained MLP through the RTL layer engine on the test set")
    p.add_argument("--model", required=True, help="model bundle from `macforge train` (STEM.npz / STEM.json)")
    p.add_argument("--mac", choices=("parallel", "bitserial"), default="parallel")
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--dataflow", choices=("os", "ws"), default="os")
    p.add_argument("--precision", type=int, default=None,
                   help="bit-serial activation precision p (default a_bits; ignored by the parallel MAC)")
    p.add_argument("--out", required=True, help="report directory")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    p.add_argument("--batch", type=int, default=150, help="images per engine job (the M of a job)")
    p.add_argument("--axis-width", type=int, default=64, help="s_axis_tdata width")
    p.add_argument("--no-lower-bound", action="store_true",
                   help="skip the plain C++ Verilator harness that measures the wall-time lower bound")
    p.add_argument("--idle", type=float, default=0.0,
                   help="stress: probability of an idle input cycle (cycles are then not compared to the model)")
    p.add_argument("--bp", type=float, default=0.0, help="stress: probability of m_axis backpressure per cycle")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def engine_for(model, args):
    from macforge.golden.config import ArrayConfig
    from macforge.golden.engine_config import EngineConfig

    kmax = max(l.w.shape[0] for l in model.layers)
    nmax = max(l.w.shape[1] for l in model.layers)
    arr = ArrayConfig(rows=args.rows, cols=args.cols, dataflow=args.dataflow, mac=args.mac,
                      a_width=model.a_bits, w_width=model.w_bits, max_k=kmax,
                      max_m=min(args.batch, 1 << 14))
    return EngineConfig(arr, axis_width=args.axis_width, max_m=args.batch, max_k=kmax, max_n=nmax)


def run(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from macforge.golden.bundle import load_bundle
    from macforge.golden.mlp import mlp_forward_int
    from macforge.sim.engine_run import build_engine, run_engine

    for name in ("idle", "bp"):
        v = getattr(args, name)
        if not 0.0 <= v < 1.0:
            raise ValueError(f"--{name} must be a probability in [0, 1), got {v}")
    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    b = load_bundle(args.model)
    model = b.model
    X, y = b.test_x, b.test_y
    if args.limit is not None:
        X, y = X[:args.limit], y[:args.limit]
    e = engine_for(model, args)
    prec = None
    if args.mac == "bitserial":
        prec = args.precision if args.precision is not None else model.a_bits
        e.array.check_precision(prec)
        trace = mlp_forward_int(model, X, mode="bitserial", precision=prec)
    else:
        trace = mlp_forward_int(model, X)
    golden_pred = trace.predict()

    out = Path(args.out).resolve()   # the simulator runs in its own directory
    out.mkdir(parents=True, exist_ok=True)
    npz = out / "network.npz"
    tensors = {"n_layers": len(model.layers), "x": X, "precision": prec or 0}
    for i, l in enumerate(model.layers):
        tensors.update({f"w{i}": l.w, f"b{i}": l.bias, f"relu{i}": int(l.relu), f"requant{i}": int(l.requant),
                        f"m0_{i}": l.m0 if l.requant else np.zeros(0), f"s{i}": l.shift if l.requant else np.zeros(0)})
    np.savez(npz, **tensors)

    t0 = time.perf_counter()
    sm = build_engine(e)
    build_s = time.perf_counter() - t0
    progress = out / "progress.txt"
    progress.write_text("0")
    stop = threading.Event()
    bar = tqdm(total=len(X), unit="img", desc=f"engine {e.top_name}", disable=args.no_progress)

    def poll():
        done = 0
        while not stop.wait(0.5):
            try:
                n = int(progress.read_text() or 0)
            except (OSError, ValueError):
                continue
            if n > done:
                bar.update(n - done)
                done = n
        bar.update(len(X) - done)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    t1 = time.perf_counter()
    try:
        res = run_engine(e, [{"kind": "mlp", "npz": str(npz), "batch": args.batch, "progress": str(progress),
                                 "idle": args.idle, "bp": args.bp}],
                         seed=0, name="mlp", model=sm)
    finally:
        stop.set()
        th.join()
        bar.close()
    wall = time.perf_counter() - t1
    r = res["results"][0]
    hw = np.load(str(npz) + ".out.npz")
    mism = 0
    per_layer = []
    for i in range(len(model.layers)):
        d = int(np.count_nonzero(hw[f"y{i}"] != trace.outputs[i]))
        per_layer.append(d)
        mism += d
    hw_pred = np.argmax(hw[f"y{len(model.layers) - 1}"], axis=-1)
    L = e.array.cycles_per_step(prec)
    macs = sum(int(len(X)) * l.w.shape[0] * l.w.shape[1] for l in model.layers)
    report = {
        "engine": e.to_dict(),
        "model": str(args.model),
        "idle": args.idle,
        "bp": args.bp,
        "precision": prec,
        "images": int(len(X)),
        "batch": args.batch,
        "accuracy": float(np.mean(hw_pred == y)),
        "golden_accuracy": float(np.mean(golden_pred == y)),
        "prediction_mismatches": int(np.count_nonzero(hw_pred != golden_pred)),
        "mismatches": mism,
        "mismatches_per_layer": per_layer,
        "jobs": r["jobs"],
        "cycles": r["cycles"],
        "cycles_model_total": r["model"],
        "cycles_per_inference": r["cycles"] / len(X),
        "cycles_model": r["model"] / len(X),
        "utilization": macs * L / (e.rows * e.cols * r["cycles"]),
        "wall_s": wall,
        "testbench_wall_s": r["wall_s"],
        "build_s": build_s,
        "sim_cycles": r["sim_cycles"],
        "sim_cycles_per_s": r["sim_cycles"] / r["wall_s"],
    }
    if not args.no_lower_bound:
        from macforge.sim.lower_bound import harness_rate

        lb = harness_rate(e, sm)
        report["lower_bound"] = lb
        report["lower_bound_wall_s"] = r["sim_cycles"] / lb["cycles_per_s"]
        report["wall_ratio"] = r["wall_s"] / report["lower_bound_wall_s"]
        report["wall_ratio_incl_startup"] = wall / report["lower_bound_wall_s"]
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"accuracy {100 * report['accuracy']:.2f} % (golden {100 * report['golden_accuracy']:.2f} %), "
          f"mismatches {mism}, {report['cycles_per_inference']:.1f} cycles/inference "
          f"(model {report['cycles_model']:.1f}), utilization {100 * report['utilization']:.1f} %, "
          f"wall {wall:.1f} s, {report['sim_cycles_per_s']:.0f} cycles/s"
          + (f", {report['wall_ratio']:.1f}x the C++ lower bound" if "wall_ratio" in report else "")
          + f" -> {out / 'report.json'}")
    stressed = args.idle > 0 or args.bp > 0
    return 0 if mism == 0 and (stressed or r["cycles"] == r["model"]) else 1
