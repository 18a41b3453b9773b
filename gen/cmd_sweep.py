"""Run every point of a co-design sweep file into DIR (resumable; local process pool or Ray tasks).

``macforge sweep SWEEP.toml --out DIR [--backend local|ray] [--workers N] [--address ADDR]`` runs every point of a sweep file (:mod:`macforge.gen.sweep`): each measurement in its own process, on a
local pool (default, as many workers as cores) or as Ray tasks; results go into ``DIR/sweep.db`` as they
finish, so an interrupted sweep resumes where it stopped and a repeated one reruns nothing; at the end
``DIR/report.md``, ``DIR/report.json`` and the Pareto plots are written. A malformed sweep file exits with
status 2 and a message naming the key, before anything runs. Exit status 1 when some point failed.
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    from macforge.gen.cmd_gen import _one_line_error

    p = subparsers.add_parser("sweep", help="run a co-design sweep file -> DIR/sweep.db + Pareto report",
                              description=__doc__.splitlines()[0])
    p.add_argument("spec", type=Path, metavar="SWEEP.toml", help="the sweep file")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="results directory (sweep.db, report)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local process pool (default) or Ray tasks")
    p.add_argument("--workers", type=int, default=None,
                   help="tasks at a time (local) / CPUs of the local Ray instance (default: all cores)")
    p.add_argument("--address", default=None,
                   help="address of an existing Ray cluster (--backend ray; default: start a local instance)")
    p.add_argument("--retry-failed", action="store_true", help="run failed tasks again")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.error = _one_line_error(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from macforge.gen.sweep import run_sweep

    s = run_sweep(args.spec, args.out, backend=args.backend, workers=args.workers, address=args.address,
                  progress=not args.no_progress, retry_failed=args.retry_failed)
    print(f"{s.points} points ({s.skipped} combinations skipped), {s.tasks} tasks: {s.reused} from the database, "
          f"{s.ran} run, {s.failed} failed; {s.wall_s:.1f} s on {s.backend} "
          f"({s.workers or 'all'} workers) -> {s.out_dir / 'report.md'}")
    return 1 if s.failed else 0
