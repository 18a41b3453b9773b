"""Write the Markdown table and Pareto plots of the co-design sweep stored in DIR.

``macforge report DIR`` reads ``DIR/sweep.db`` (written by ``macforge sweep``) and writes ``DIR/report.md`` (every point:
accuracy, cycles per inference, LUT/FF/DSP, Fmax, throughput, LUT x cycles; Pareto-optimal points marked),
``DIR/report.json`` and ``DIR/pareto_accuracy_cycles.png``, ``DIR/pareto_accuracy_throughput_per_lut.png``
(see :mod:`macforge.gen.sweep.report`).
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    from macforge.gen.cmd_gen import _one_line_error

    p = subparsers.add_parser("report", help="Markdown table + Pareto plots of a sweep directory",
                              description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path, metavar="DIR", help="directory written by `macforge sweep`")
    p.error = _one_line_error(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from macforge.gen.sweep import write_report

    rep = write_report(args.dir)
    n = len(rep["rows"])
    print(f"{n} points, {sum(r['pareto'] for r in rep['rows'])} Pareto-optimal -> {args.dir / 'report.md'}")
    return 0
