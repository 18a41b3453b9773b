"""``macforge sim``: run a trained integer MLP through the RTL layer engine on its whole test set.

The bundle (:mod:`macforge.golden.bundle`, from ``macforge train``) gives the integer layers and the exact test
inputs. The network runs layer by layer through the engine (:mod:`macforge.rtl.engine`) in a cocotb simulation on
Verilator, in batches of ``--batch`` images (one engine job per batch and layer; the batch is ``M``); the
outputs of layer ``l`` computed by the hardware are the inputs of layer ``l + 1``. The golden integer
model (:func:`macforge.golden.mlp.mlp_forward_int`, ``uniform`` mode, ``bitserial`` with ``--precision`` for the
bit-serial MAC, ``tq`` with the bundle's budgets for ``--mac tmac``) gives the reference for every integer of every layer.

``DIR/report.json``: ``accuracy`` (hardware), ``golden_accuracy``, ``mismatches`` (integers of any layer
output that differ from golden; must be 0), ``images``, ``cycles_per_inference`` (measured engine cycles
of all jobs / images), ``cycles_model`` (the same from :func:`macforge.golden.engine_cycles.job_cycles`),
``utilization`` (useful MAC slots ``sum M K N L`` / ``R C`` per measured cycle), ``wall_s`` (wall time of
the simulation run: simulator start, every job, checks), ``sim_cycles_per_s``, and when the lower bound
was measured (``--lower-bound``, default on), ``lower_bound`` with the plain Verilator C++ harness's
cycles per second for this design and ``wall_ratio`` = ``wall_s`` / (simulated cycles / that rate).
tMAC runs add ``term_pairs_per_inference`` (nonzero term pairs of the golden ``tq`` trace),
``term_pair_slots_per_inference`` (``ceil(K/g) k k_x`` per output: what the array spends) and
``term_pair_utilization`` (term pairs / ``R C`` per measured cycle).
A packed bundle (``macforge train --column-combine``) runs on the packed WS array (``--dataflow ws``,
``--alpha`` default the bundle's); the report adds ``packing`` (alpha, groups and lines per layer, packing
factor) and, as for every WS run, ``useful_macs_per_inference`` (nonzero weights x images) and
``useful_utilization`` (useful MAC slots / ``R C`` per measured cycle).
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("sim", help="run a trained MLP through the RTL layer engine on the test set")
    p.add_argument("--model", required=True, help="model bundle from `macforge train` (STEM.npz / STEM.json)")
    p.add_argument("--mac", choices=("parallel", "bitserial", "tmac"), default="parallel",
                   help="tmac needs a TQ bundle (its g, k, k_x and encoding are used)")
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--dataflow", choices=("os", "ws"), default="os")
    p.add_argument("--precision", type=int, default=None,
                   help="bit-serial activation precision p (default a_bits; ignored by the parallel MAC)")
    p.add_argument("--out", required=True, help="report directory")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    p.add_argument("--batch", type=int, default=150, help="images per engine job (the M of a job)")
    p.add_argument("--axis-width", type=int, default=64, help="s_axis_tdata width")
    p.add_argument("--alpha", type=int, default=None,
                   help="column combining: build the packed WS array with this alpha (lines per PE multiplexer, "
                        "default the packed bundle's; a dense bundle refuses it)")
    p.add_argument("--no-lower-bound", action="store_true",
                   help="skip the plain C++ Verilator harness that measures the wall-time lower bound")
    p.add_argument("--idle", type=float, default=0.0,
                   help="stress: probability of an idle input cycle (cycles are then not compared to the model)")
    p.add_argument("--bp", type=float, default=0.0, help="stress: probability of m_axis backpressure per cycle")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--waves", action="store_true",
                   help="write an FST waveform of the run (all signals: the engine's AXI4-Stream ports, "
                        "the PE states) to DIR/waves.fst (a traced Verilator build, slower)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from macforge.api import simulate

    if args.waves:      # read by macforge.sim.runner (traced build; the run's dump.fst copied to DIR)
        os.environ["MACFORGE_WAVES"] = "1"
        os.environ["MACFORGE_WAVES_OUT"] = str(Path(args.out).resolve() / "waves.fst")

    res = simulate(args.model, limit=args.limit, precision=args.precision, batch=args.batch, idle=args.idle,
                   bp=args.bp, lower_bound=not args.no_lower_bound, progress=not args.no_progress,
                   out_dir=args.out, rows=args.rows, cols=args.cols, dataflow=args.dataflow, mac=args.mac,
                   axis_width=args.axis_width, **({"alpha": args.alpha} if args.alpha is not None else {}))
    report = res.to_dict()
    out = Path(args.out).resolve()
    print(f"accuracy {100 * report['accuracy']:.2f} % (golden {100 * report['golden_accuracy']:.2f} %), "
          f"mismatches {res.mismatches}, {report['cycles_per_inference']:.1f} cycles/inference "
          f"(model {report['cycles_model']:.1f}), utilization {100 * report['utilization']:.1f} %, "
          f"wall {report['wall_s']:.1f} s, {report['sim_cycles_per_s']:.0f} cycles/s"
          + (f", {report['wall_ratio']:.1f}x the C++ lower bound" if "wall_ratio" in report else "")
          + (f", {report['term_pairs_per_inference']:.0f} term pairs/inference (term-pair utilization "
             f"{100 * report['term_pair_utilization']:.1f} %)" if "term_pairs_per_inference" in report else "")
          + (f", line reduction {report['packing']['line_reduction']:.2f} (alpha {report['packing']['alpha']}, "
             f"achieved {report['packing']['alpha_achieved']:.2f} lines per group)"
             if "packing" in report else "")
          + f" -> {out / 'report.json'}"
          + (f", waves {out / 'waves.fst'}" if args.waves and (out / "waves.fst").exists() else ""))
    stressed = args.idle > 0 or args.bp > 0
    return 0 if res.mismatches == 0 and (stressed or res.cycle_exact) else 1
