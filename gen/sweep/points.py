"""From a sweep file to points and tasks.

A **point** is one thing to measure: a bundle, a hardware configuration (the arguments of
:func:`macforge.api.engine_for`: MAC family, dataflow, rows x cols and any other swept ArrayConfig /
EngineConfig option) and the run-time options of :func:`macforge.api.simulate` (``precision`` for the
bit-serial MAC, ``k``/``k_x``/``encoding`` for the tMAC).

A **task** is one measurement step of one point (:mod:`.steps`). Steps whose result depends only on the
hardware (synthesis, place and route) have the same inputs for every point on that hardware, so such a
task is shared by those points and runs once. A task is identified by the SHA-256 of its canonical JSON
inputs (the engine configuration, the bundle's content hash, the run-time options, the step's options);
the store adds the tool versions to that key.

Not every combination of axis values is a point:

* an axis that does not apply to a family (``precision`` for the parallel MAC, ``g`` for anything but the
  tMAC) is not swept for it: one skip record per (family, axis) states it;
* a combination a configuration rejects (a precision above the bundle's activation width, a tMAC budget
  above ``k_max``, a term-quantized bundle on a MAC that cannot run it as trained) is skipped with the
  configuration's own error message as the reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field

from macforge.golden.config import TMAC_DEFAULTS

from .spec import CORE_AXES, ENGINE_AXES, RUNTIME_AXES, SweepSpec, hardware_axes, runtime_axes


def digest(obj) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def hw_axis_applies(axis: str, mac: str) -> bool:
    """Does the ArrayConfig/EngineConfig option ``axis`` exist for MAC family ``mac``?"""
    if axis in TMAC_DEFAULTS:
        return mac == "tmac"
    return True


def runtime_axis_applies(axis: str, mac: str) -> bool:
    return mac in RUNTIME_AXES[axis]


@dataclass(frozen=True)
class Point:
    """One configuration to measure. ``hw`` holds the arguments of ``engine_for`` (``mac``, ``dataflow``,
    ``rows``, ``cols`` and swept options), ``run`` the run-time options of ``simulate``."""

    bundle: str
    bundle_sha: str
    hw: dict
    run: dict
    engine: dict = field(repr=False)
    id: str = ""
    tq: dict | None = None          # the bundle's trained term budgets (the tMAC runs them)

    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.hw.items() if k not in ("mac", "dataflow", "rows", "cols"))
        run = "".join(f" {k}={v}" for k, v in self.run.items())
        return (f"{self.bundle} {self.hw['mac']} {self.hw['dataflow']} {self.hw['rows']}x{self.hw['cols']}"
                f"{extra}{run}")

    def to_dict(self) -> dict:
        return {"id": self.id, "bundle": self.bundle, "bundle_sha": self.bundle_sha, "hw": self.hw,
                "run": self.run, "engine": self.engine, "tq": self.tq}


@dataclass(frozen=True)
class Skip:
    """A combination that is not run, and why."""

    what: dict
    reason: str

    def to_dict(self) -> dict:
        return {"what": self.what, "reason": self.reason}


@dataclass(frozen=True)
class Task:
    """One measurement step. ``inputs`` fully determines the result (with the tool versions)."""

    step: str
    inputs: dict
    key: str
    bundle_path: str | None = None

    def to_dict(self) -> dict:
        return {"step": self.step, "inputs": self.inputs, "key": self.key, "bundle_path": self.bundle_path}

    @classmethod
    def from_dict(cls, d: dict) -> "Task":
        return cls(d["step"], d["inputs"], d["key"], d.get("bundle_path"))


def _runtime_check(engine, run: dict) -> None:
    """``ValueError`` when the engine cannot run with these run-time options."""
    a = engine.array
    if "precision" in run:
        a.check_precision(run["precision"])
    if a.mac == "tmac":
        a.check_budgets(run.get("k", a.k_max), run.get("k_x", a.kx_max), run.get("encoding"))


def expand(spec: SweepSpec, bundles: dict) -> tuple[list[Point], list[Skip]]:
    """Every point of the sweep (in a stable order) and every skipped combination with its reason.

    ``bundles`` maps bundle name -> loaded :class:`~macforge.golden.bundle.Bundle`."""
    from macforge.api import engine_for

    points: list[Point] = []
    skips: list[Skip] = []
    hw_names = [k for k in hardware_axes() if k in spec.axes]
    rt_names = [k for k in runtime_axes() if k in spec.axes]
    for mac in spec.axes["mac"]:
        for k in hw_names:
            if not hw_axis_applies(k, mac):
                skips.append(Skip({"mac": mac, k: list(spec.axes[k])},
                                  f"{k} is a tMAC option: not swept for mac={mac!r}"))
        for k in rt_names:
            if not runtime_axis_applies(k, mac):
                skips.append(Skip({"mac": mac, k: list(spec.axes[k])},
                                  f"{k} is a run-time option of mac in {RUNTIME_AXES[k]}: not swept for mac={mac!r}"))
    seen: set[str] = set()
    for bname, b in bundles.items():
        sha = b.manifest.get("content_sha256", "")
        tq = b.model.tq
        for mac, dataflow, (rows, cols) in itertools.product(*(spec.axes[k] for k in CORE_AXES)):
            hws = [k for k in hw_names if hw_axis_applies(k, mac)]
            rts = [k for k in rt_names if runtime_axis_applies(k, mac)]
            for hv in itertools.product(*(spec.axes[k] for k in hws)):
                hw = {"mac": mac, "dataflow": dataflow, "rows": rows, "cols": cols, **dict(zip(hws, hv))}
                base = {"bundle": bname, **hw}
                if tq is not None and mac != "tmac":
                    skips.append(Skip(base, f"bundle {bname!r} is term-quantized (g={tq.g}, k={tq.k}, "
                                            f"k_x={tq.k_x}, {tq.encoding}): it runs as trained only on mac='tmac'"))
                    continue
                arr = {k: (list(v) if isinstance(v, tuple) else v) for k, v in hw.items() if k not in ENGINE_AXES}
                eng = {k: v for k, v in hw.items() if k in ENGINE_AXES}
                try:
                    engine = engine_for(b.model, batch=spec.batch, **arr, **eng)
                except (ValueError, TypeError) as exc:
                    skips.append(Skip(base, str(exc)))
                    continue
                for rv in itertools.product(*(spec.axes[k] for k in rts)):
                    run = dict(zip(rts, rv))
                    try:
                        _runtime_check(engine, run)
                    except ValueError as exc:
                        skips.append(Skip({**base, **run}, f"{exc} (bundle {bname!r}: a_bits={b.model.a_bits})"))
                        continue
                    edict = engine.to_dict()
                    pid = digest({"bundle": sha, "engine": edict, "run": run, "images": spec.images,
                                  "batch": spec.batch})[:16]
                    if pid in seen:
                        continue
                    seen.add(pid)
                    points.append(Point(bname, sha, hw, run, edict, pid,
                                        None if tq is None else {"g": tq.g, "k": tq.k, "k_x": tq.k_x,
                                                                 "encoding": tq.encoding}))
    return points, skips


def tasks_for(spec: SweepSpec, points: list[Point]) -> tuple[list[Task], dict[str, list[str]]]:
    """The distinct tasks of all points (hardware-only steps shared) and point id -> its task keys."""
    from .steps import STEPS

    tasks: dict[str, Task] = {}
    of_point: dict[str, list[str]] = {}
    for p in points:
        keys = []
        for s in spec.steps:
            step = STEPS[s]
            inputs = {"step": s, "engine": p.engine, "options": spec.step_options.get(s, {})}
            path = None
            if step.scope == "run":
                inputs.update({"bundle_sha": p.bundle_sha, "run": p.run, "images": spec.images,
                               "batch": spec.batch})
                path = str(spec.bundles[p.bundle].resolve())
            key = digest(inputs)[:24]
            tasks.setdefault(key, Task(s, inputs, key, path))
            keys.append(key)
        of_point[p.id] = keys
    # hardware steps first inside each engine (a synthesis is shared by many points), cheap steps first
    order = {s: i for i, s in enumerate(STEPS)}
    ordered = sorted(tasks.values(), key=lambda t: (order[t.step], ))
    return ordered, of_point
