"""``macforge pnr DIR [--family ecp5|ice40] [--device D] [--speed S] [--seeds N] [--target-mhz F]``.

Yosys then nextpnr (PyPI wheels) on the design a ``macforge gen`` wrote into ``DIR``; Fmax, utilization
and the critical path are read from nextpnr's ``--report`` JSON and written to ``DIR/pnr.json``
(``DIR/pnr_ice40.json`` for iCE40): best and median Fmax over seeds ``1..N``. ECP5 runs out-of-context
with an LPF clock constraint on the top's clock port; iCE40 uses the minimal IO wrapper of
:func:`macforge.gen.pnr.ice40_wrapper` and says so in the report (``io_wrapper: true``).
See :mod:`macforge.gen.pnr`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from macforge.gen.cmd_gen import _int_arg, _one_line_error


def register(subparsers) -> None:
    from macforge.gen.pnr import FAMILIES

    p = subparsers.add_parser("pnr", help="Yosys + nextpnr place and route of a `macforge gen` directory -> pnr.json",
                              description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path, metavar="DIR", help="directory written by `macforge gen`")
    p.add_argument("--family", choices=FAMILIES, default="ecp5", help="FPGA family (default ecp5)")
    p.add_argument("--device", help="ECP5: 25k/45k/85k (default 85k); iCE40: up5k (default), hx8k, ...")
    p.add_argument("--package", help="package (default CABGA381 for ECP5, sg48 for iCE40)")
    p.add_argument("--speed", type=_int_arg, help="ECP5 speed grade 6, 7 or 8 (default 8)")
    p.add_argument("--seeds", type=_int_arg, default=1, help="placer seeds 1..N, N in 1..32 (default 1)")
    p.add_argument("--target-mhz", type=float, help="clock constraint handed to nextpnr (default 250 ECP5, "
                                                    "100 iCE40); it steers the placer, the achieved Fmax is "
                                                    "the figure")
    p.add_argument("--target", choices=("auto", "generic", "ecp5"), default="auto",
                   help="netlist to place: auto (default) = ecp5 for ECP5 (MULT18X18D with registered "
                        "inputs and outputs, engine buffers in DP16KD with the output register), generic "
                        "for iCE40; generic = the portable Verilog as emitted")
    p.add_argument("--reuse", action="store_true",
                   help="keep a seed's earlier result when the netlist and the nextpnr arguments are "
                        "unchanged (its DIR/pnr_<family>_s<seed>.args.json marker matches): add seeds, or "
                        "collect seeds placed in parallel, without placing again")
    p.error = _one_line_error(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from macforge.gen.pnr import pnr_dir

    r = pnr_dir(args.dir, family=args.family, device=args.device, speed=args.speed, seeds=args.seeds,
                target_mhz=args.target_mhz, package=args.package, target=args.target, reuse=args.reuse)
    util = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in r["utilization"].items())
    sp = f" speed {r['speed']}" if r["speed"] is not None else ""
    mode = "out-of-context" if r["out_of_context"] else "with the minimal IO wrapper (pnr_wrap.v)"
    print(f"{r['top']} ({r['target']} netlist {r['verilog']}) on {r['family']} {r['device']}{sp}, {mode}: Fmax best {r['fmax_best_mhz']:.1f} MHz, "
          f"median {r['fmax_median_mhz']:.1f} MHz over {r['seeds']} seed(s) ({r['wall_s']:.0f} s)")
    print(f"utilization: {util}")
    cp = r.get("critical_path")
    if cp:
        print(f"critical path: {cp['from']} -> {cp['to']}: {cp['delay_ns']:.2f} ns "
              f"(logic {cp['logic_ns']:.2f}, routing {cp['routing_ns']:.2f})")
    print(f"wrote {r['path']}")
    return 0
