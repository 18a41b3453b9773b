"""Where the tasks run. macforge only describes tasks; the distribution is the library's job.

* :class:`LocalBackend` (default): a :class:`concurrent.futures.ThreadPoolExecutor` of ``workers`` threads
  (default: the machine's cores), each starting one task at a time in its own Python process
  (:func:`.worker.run_in_subprocess`).
* :class:`RayBackend`: every task is a Ray task (``ray.remote``) that declares the resources its step needs
  (``num_cpus``, ``memory``; :mod:`.steps`) so Ray's scheduler packs Verilator builds and nextpnr runs
  without exhausting memory; it runs the task through the same worker process as the local pool. Without
  ``address`` a local Ray instance with ``workers`` CPUs is started (and shut down afterwards); with an
  address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``) the sweep joins that cluster, whose nodes
  must have macforge installed and see ``DIR`` under the same path (a shared file system).

Both yield the task records in completion order; the caller stores each one as it arrives.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Iterator

from .steps import STEPS
from .worker import run_in_subprocess

BACKENDS = ("local", "ray")
NICENESS_ENV = "RAY_worker_niceness"
WORKERS_RANGE = (1, 1024)


def check_backend(backend: str, workers: int | None, address: str | None) -> None:
    """``ValueError`` naming the option for an impossible backend choice (before anything runs)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not supported: allowed {', '.join(map(repr, BACKENDS))}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not WORKERS_RANGE[0] <= workers <= WORKERS_RANGE[1]):
        raise ValueError(f"workers={workers!r} is out of range: allowed [{WORKERS_RANGE[0]}, {WORKERS_RANGE[1]}]")
    if address is not None and backend != "ray":
        raise ValueError(f"address={address!r} needs backend='ray' (got backend={backend!r})")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ValueError(f"backend='ray' needs the ray package ({exc}); it is a dependency of macforge: "
                             f"reinstall with `make setup`") from None


class LocalBackend:
    """A local pool: ``workers`` tasks at a time (default ``os.cpu_count()``), each in its own process."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def run(self, tasks: Iterable[dict], work_root: str | Path) -> Iterator[dict]:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="macforge-sweep") as pool:
            futures = [pool.submit(run_in_subprocess, t, work_root) for t in tasks]
            try:
                for f in as_completed(futures):
                    yield f.result()
            finally:
                for f in futures:
                    f.cancel()


class RayBackend:
    """Ray tasks with declared resources (module docstring)."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.workers = workers
        self.address = address

    def run(self, tasks: Iterable[dict], work_root: str | Path) -> Iterator[dict]:
        import ray

        started = False
        if not ray.is_initialized():
            kw = {"address": self.address} if self.address else {
                "num_cpus": self.workers or os.cpu_count() or 1, "include_dashboard": False}
            # Ray starts its workers at niceness 15 (RAY_worker_niceness); on a machine shared with other
            # work that starves the tasks (measured: 3x the wall time of the local pool on a loaded 2-core
            # machine). A local instance started here runs them at the normal priority.
            saved = os.environ.get(NICENESS_ENV)
            if not self.address and saved is None:      # an explicit setting wins
                os.environ[NICENESS_ENV] = "0"
            try:
                ray.init(log_to_driver=False, configure_logging=False, **kw)
            finally:
                if saved is None:
                    os.environ.pop(NICENESS_ENV, None)
                else:
                    os.environ[NICENESS_ENV] = saved
            started = True
        try:
            remote = ray.remote(run_in_subprocess)
            of_ref = {}
            for t in tasks:
                ref = remote.options(num_cpus=STEPS[t["step"]].num_cpus, memory=STEPS[t["step"]].memory,
                                     max_retries=0, name=f"macforge-{t['step']}-{t['key'][:8]}") \
                    .remote(t, str(Path(work_root).resolve()))
                of_ref[ref] = t
            pending = list(of_ref)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as exc:     # the Ray worker itself died
                        from .worker import _crash
                        yield _crash(of_ref[ref], f"{type(exc).__name__}: {exc}"[:4000])
        finally:
            if started:
                ray.shutdown()


def make_backend(backend: str = "local", workers: int | None = None, address: str | None = None):
    check_backend(backend, workers, address)
    return LocalBackend(workers) if backend == "local" else RayBackend(workers, address)
