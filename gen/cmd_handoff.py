"""``macforge handoff DIR [configuration flags] [--no-pnr] [--speed S] [--seeds N] [--clock-mhz F]``.

Writes the handoff bundle of :mod:`macforge.gen.handoff` into ``DIR``: Verilog, file list, SDC/XDC/LPF
clock constraints on the top's clock port, a FuseSoC CAPI2 ``.core``, a Verilator ``.vlt`` waiver file,
the manifest, ``pnr.json`` (Yosys + nextpnr-ecp5 out-of-context, unless ``--no-pnr``), an untested
Vivado ``ipx::package_project`` script and a README. The configuration flags are those of
``macforge gen`` (``--top engine`` by default).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from macforge.gen.cmd_gen import _int_arg, _one_line_error, add_config_arguments, add_top_arguments


def register(subparsers) -> None:
    p = subparsers.add_parser("handoff", help="bundle for FPGA flows: Verilog, constraints, FuseSoC core, "
                                              "Verilator waivers, pnr figures, README",
                              description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path, metavar="DIR", help="output directory")
    add_config_arguments(p)
    add_top_arguments(p)
    p.add_argument("--no-pnr", action="store_true", help="skip place and route (no pnr.json)")
    p.add_argument("--speed", type=_int_arg, default=8, help="ECP5 speed grade for pnr.json (default 8)")
    p.add_argument("--seeds", type=_int_arg, default=1, help="placer seeds (default 1)")
    p.add_argument("--clock-mhz", type=float, help="frequency of the clock constraints (default: measured "
                                                   "Fmax rounded down to 5 MHz, else 100)")
    p.error = _one_line_error(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from macforge.gen.cmd_gen import top_config_from_args
    from macforge.gen.handoff import handoff
    from macforge.gen.pnr import check_options

    cfg = top_config_from_args(args)                 # validates before anything is written
    if not args.no_pnr:
        check_options("ecp5", None, args.speed, args.seeds)
    repro = "macforge " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["handoff"] else None
    r = handoff(cfg, args.dir, pnr=not args.no_pnr, speed=args.speed, seeds=args.seeds,
                clock_mhz=args.clock_mhz, reproduce=repro)
    print(f"wrote the handoff bundle of {r['top']} into {r['dir']}: " + ", ".join(sorted(r["files"].values())))
    if r["pnr"] is not None:
        print(f"Fmax best {r['pnr']['fmax_best_mhz']:.1f} MHz (ECP5-{r['pnr']['device']} speed {r['pnr']['speed']}, "
              f"out-of-context); clock constraints at {r['clock_mhz']:g} MHz")
    return 0
