"""Run a sweep: sweep file -> points -> tasks not yet in the store -> backend -> store -> report.

Order of work in :func:`run_sweep`: validate the sweep file and the backend options (a problem stops
everything with a ``ValueError`` before anything runs); train the bundles if a ``[train]`` section asks
for missing ones; load and check every bundle; expand the points and the skipped combinations; write the
plan into the store; run every task whose ``(configuration digest, tool versions)`` has no record yet
(failed tasks too, with ``retry_failed``), storing each record the moment it arrives; write the report.
A tqdm bar counts finished tasks (the ones already in the store count as done) with an ETA.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .backends import check_backend, make_backend
from .points import expand, tasks_for
from .spec import SpecError, check_bundles, load_spec, missing_bundles
from .steps import tool_versions
from .store import Store

DB_NAME = "sweep.db"


@dataclass
class SweepSummary:
    """What one :func:`run_sweep` call did."""

    out_dir: Path
    points: int
    skipped: int
    tasks: int
    reused: int
    ran: int
    failed: int
    wall_s: float
    backend: str
    workers: int | None
    report: dict | None = None

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def plan(spec_path: str | Path, *, train: bool = True, progress: bool = True):
    """Validate the sweep file, produce missing bundles (``[train]``), expand points and tasks.

    Returns ``(spec, points, skips, tasks, tasks_of_point)``."""
    spec = load_spec(spec_path)
    missing = missing_bundles(spec)
    if missing and spec.train and train:
        from macforge.api import train as run_train

        run_train(spec.train["out"], quick=spec.train["quick"], progress=progress)
    bundles = check_bundles(spec)
    points, skips = expand(spec, bundles)
    if not points:
        reasons = "; ".join(sorted({s.reason for s in skips}))[:2000]
        raise SpecError(f"the sweep has no valid point: every combination is skipped ({reasons})")
    tasks, of_point = tasks_for(spec, points)
    return spec, points, skips, tasks, of_point


def run_sweep(spec_path: str | Path, out_dir: str | Path, *, backend: str = "local", workers: int | None = None,
              address: str | None = None, progress: bool = True, retry_failed: bool = False,
              report: bool = True) -> SweepSummary:
    """Run (or resume) the sweep of ``spec_path`` into ``out_dir`` (``sweep.db``, ``work/``, the report)."""
    from tqdm.auto import tqdm

    check_backend(backend, workers, address)
    t0 = time.perf_counter()
    spec, points, skips, tasks, of_point = plan(spec_path, progress=progress)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tools = {s: tool_versions(s) for s in spec.steps}
    with Store(out / DB_NAME) as store:
        store.set_plan(spec.to_dict(), points, skips, of_point)
        todo = []
        for t in tasks:
            st = store.done(t.key, tools[t.step])
            if st is None or (st == "error" and retry_failed):
                todo.append(t)
        be = make_backend(backend, workers, address)
        failed = 0
        bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="task", desc=f"sweep {spec.name}",
                   disable=not progress, smoothing=0.1)
        try:
            for rec in be.run([{**t.to_dict(), "tools": tools[t.step]} for t in todo], out / "work"):
                store.record(rec)
                if rec["status"] != "ok":
                    failed += 1
                    bar.write(f"failed: {rec['step']} {rec['key'][:12]}: {rec['error'].splitlines()[0]}")
                bar.set_postfix_str(f"{rec['step']} {'ok' if rec['status'] == 'ok' else 'FAILED'}, {failed} failed")
                bar.update(1)
        finally:
            bar.close()
        rep = None
        if report:
            from .report import write_report

            rep = write_report(out, store=store)
    return SweepSummary(out, len(points), len(skips), len(tasks), len(tasks) - len(todo), len(todo), failed,
                        round(time.perf_counter() - t0, 2), backend, getattr(be, "workers", None), rep)
