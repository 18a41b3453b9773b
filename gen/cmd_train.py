"""``macforge train``: train the digits MLP in NumPy, quantize it, and write bundles + report.

Outputs in ``--out`` (default ``build/train``): ``report.json`` (list ``rows``), ``report.md``,
``training_curve.png`` and the bundles ``bundle_w8a8``, ``bundle_w4a4_qat``, ``bundle_tq`` (``.npz`` + ``.json``).
A stratified ``--val-frac`` (20 %) of the training images is held out for model selection; the test set is
only reported. All logic lives in :mod:`macforge.golden.train.report`.
"""

from __future__ import annotations

import time


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train + quantize the digits MLP; write bundles and an accuracy/cost report",
                              description=__doc__.splitlines()[0])
    p.add_argument("--out", default="build/train", help="output directory (default: build/train)")
    p.add_argument("--dataset", choices=("digits", "mnist"), default="digits", help="data set (default: digits)")
    p.add_argument("--mnist-dir", default=None, help="directory holding the four MNIST IDX files (--dataset mnist)")
    p.add_argument("--hidden", type=int, nargs="+", default=None, help="hidden layer widths (default: 128)")
    p.add_argument("--epochs", type=int, default=None, help="float training epochs (default: 60)")
    p.add_argument("--qat-epochs", type=int, default=None, help="epochs of each QAT fine-tune (default: 15)")
    p.add_argument("--optimizer", choices=("sgd", "rmsprop", "adam"), default=None, help="default: adam")
    p.add_argument("--schedule", choices=("constant", "multistage", "cosine", "cyclical"), default=None,
                   help="learning-rate schedule (default: cosine with one warm restart)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 2e-3)")
    p.add_argument("--seed", type=int, default=None, help="initialization/shuffling seed (default: 0)")
    p.add_argument("--distill", type=float, default=None, metavar="ALPHA",
                   help="QAT learns the float network's logits with weight ALPHA in [0, 1] (default: 0, labels only)")
    p.add_argument("--m0-bits", type=int, default=None,
                   help="width of the unsigned requantization multiplier M0, in [2, 31] (default: 31)")
    p.add_argument("--val-frac", type=float, default=None,
                   help="fraction of the training images held out for model selection, in (0, 0.5] (default: 0.2)")
    p.add_argument("--column-combine", action="append", default=None, metavar="alpha=N,gamma=G[,sparsity=S]",
                   help="also prune, pack (column combining), retrain with the packing fixed and export "
                        "bundle_cc_a<alpha> (bundle_cc_a<alpha>_g<gamma>_s<sparsity> if several settings share "
                        "alpha); keys: alpha (lines per group, integer in [1, 16], required), gamma "
                        "(conflicts per position, >= 0, default 0.5), sparsity (pruning target in [0, 1), default "
                        "1 - 1/alpha), retrain_epochs (>= 1, default 60), qat_epochs (>= 1, default 15), rounds "
                        "(gradual pruning rounds, >= 1, default 5), w_bits and a_bits (weight / activation bits, "
                        "integers in [2, 16], default 8); repeatable (settings must differ in alpha, gamma or sparsity)")
    p.add_argument("--quick", action="store_true",
                   help="small grids (smoke test): uniform bits {2,4,8}, one uniform and one TQ QAT run")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataclasses import replace

    from macforge.api import train
    from macforge.golden.train.data import digits_split, mnist_split
    from macforge.golden.train.report import ExperimentConfig
    from macforge.golden.train.trainer import TrainConfig

    for name in ("epochs", "qat_epochs"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if args.hidden is not None and any(h < 1 for h in args.hidden):
        raise ValueError(f"--hidden widths must be >= 1, got {args.hidden}")
    if args.dataset == "mnist":
        if not args.mnist_dir:
            raise ValueError("--dataset mnist needs --mnist-dir DIR with the four IDX files")
        split = mnist_split(args.mnist_dir)
    else:
        split = digits_split()
    tc = TrainConfig()
    over = {k: v for k, v in {"hidden": tuple(args.hidden) if args.hidden else None, "epochs": args.epochs,
                             "optimizer": args.optimizer, "schedule": args.schedule, "lr": args.lr,
                             "seed": args.seed}.items() if v is not None}
    cfg = ExperimentConfig(train=replace(tc, **over))
    if args.qat_epochs is not None:
        cfg = replace(cfg, qat_epochs=args.qat_epochs)
    if args.distill is not None:
        if not 0.0 <= args.distill <= 1.0:
            raise ValueError(f"--distill={args.distill} is out of range: allowed [0, 1]")
        cfg = replace(cfg, qat_distill_alpha=args.distill)
    if args.m0_bits is not None:
        if not 2 <= args.m0_bits <= 31:
            raise ValueError(f"--m0-bits={args.m0_bits} is out of range: allowed [2, 31]")
        cfg = replace(cfg, m0_bits=args.m0_bits)
    if args.val_frac is not None:
        if not 0.0 < args.val_frac <= 0.5:
            raise ValueError(f"--val-frac={args.val_frac} is out of range: allowed (0, 0.5]")
        cfg = replace(cfg, val_frac=args.val_frac)
    if args.column_combine:
        from macforge.golden.train.colcomb import ColcombConfig
        cfg = replace(cfg, column_combine=tuple(ColcombConfig.parse(t) for t in args.column_combine))
    t0 = time.perf_counter()
    report = train(args.out, split=split, experiment=cfg, quick=args.quick, progress=not args.no_progress).report
    dt = time.perf_counter() - t0
    h = report["headline"]
    print(f"float {100 * report['float_accuracy']:.2f} %  ({dt:.1f} s)  -> {args.out}/report.md")
    if h.get("ratio"):
        print(f"{h['tq']['name']}: {100 * h['tq']['accuracy']:.2f} %, {h['ratio']:.1f}x fewer term-pair ops than "
              f"{h['uniform']['name']} ({100 * h['uniform']['accuracy']:.2f} %)")
    for r in report["rows"]:
        if r["kind"] == "colcomb":
            c = r["cycles"]["axis256"]
            print(f"{r['name']}: {100 * r['accuracy']:.2f} % ({100 * r['delta_vs_float']:+.2f} pt), sparsity "
                  f"{100 * r['sparsity']:.1f} %, line reduction {r['line_reduction']:.2f} (alpha achieved "
                  f"{r['alpha_achieved']:.2f}), "
                  f"{c['cycle_ratio']:.2f}x fewer engine cycles per inference (8x8 WS, 256-bit s_axis)")
    for k, v in report["acceptance"].items():
        print(f"  {k}: {'PASS' if v else 'FAIL'}")
    return 0
