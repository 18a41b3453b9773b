"""macforge quickstart: train a small quantized MLP, emit an 8x8 engine, run 50 test images through the RTL.

Run from anywhere (outputs go under ``./build/quickstart``)::

    python examples/quickstart.py [--out DIR] [--images N]

It takes a few minutes on two cores: training in NumPy (``quick`` grids), one Verilator build of the engine
(cached under ``./build/sim``), then a cocotb simulation that checks every integer of every layer against the
golden model. The script exits with status 1 if the hardware and the golden model disagree anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import macforge as mf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build") / "quickstart", help="output folder")
    ap.add_argument("--images", type=int, default=50, help="test images to run through the RTL")
    args = ap.parse_args(argv)

    # 1. Train: float MLP on sklearn digits, then PTQ/QAT/term-quantized variants, written as bundles.
    trained = mf.train(args.out / "train", quick=True, progress=False)
    bundle = trained.bundle("bundle_w8a8")
    print(f"trained: float accuracy {100 * trained.report['float_accuracy']:.2f} %, "
          f"bundles {', '.join(trained.bundles)}")

    # 2. Describe the hardware: an 8x8 output-stationary parallel-MAC layer engine sized for this network.
    acc = mf.Accelerator(bundle, rows=8, cols=8, dataflow="os", mac="parallel", batch=args.images)
    print(acc)

    # 3. Emit its Verilog and manifest (what an FPGA flow takes).
    written = acc.write(args.out / "engine")
    print(f"wrote {written.verilog} ({len(written.manifest['ports'])} ports)")

    # 4. Run test images through the RTL (cocotb on Verilator), checked against the golden model.
    result = acc.simulate(limit=args.images, progress=False, out_dir=args.out / "sim")
    print(f"hardware accuracy {100 * result.accuracy:.2f} % (golden {100 * result.golden_accuracy:.2f} %), "
          f"{result.mismatches} mismatches, {result.cycles_per_inference:.1f} cycles/inference "
          f"(model {result.cycles_model:.1f}), utilization {100 * result.utilization:.1f} %")
    return 0 if result.mismatches == 0 and result.cycle_exact else 1


if __name__ == "__main__":
    sys.exit(main())
