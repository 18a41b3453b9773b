"""The sweep file: a TOML description of a co-design sweep, read and validated before anything runs.

Layout (every table but ``[bundles]``/``[train]`` and ``[axes]`` is optional)::

    [sweep]
    name = "digits"                       # label in the report

    [train]                               # optional: `macforge train` produces missing bundles
    out = "build/train"                   # (relative paths are relative to the current directory)
    quick = false

    [bundles]                             # name = bundle path (STEM.npz or STEM.json)
    w8a8 = "build/train/bundle_w8a8.npz"

    [axes]                                # the Cartesian product of these is the sweep
    mac = ["parallel", "bitserial"]       # MAC families (ArrayConfig.mac)
    dataflow = ["os", "ws"]
    size = ["2x2", "4x4"]                 # rows x cols ("RxC" or [R, C])
    precision = [4, 8]                    # run-time options: bit-serial precision,
    k = [8]                               #   tMAC budgets k, k_x, encoding
    # any other ArrayConfig field (e.g. g, k_max for the tMAC, pipelining options) or EngineConfig's
    # axis_width is a hardware axis

    [measure]
    steps = ["sim", "synth"]              # named measurements (macforge.gen.sweep.steps.STEPS)
    images = 50                           # test images per hardware run
    batch = 50                            # images per engine job
    synth = { family = "ecp5" }           # options handed to the step
    pnr = { family = "ecp5", seeds = 1 }

    [objectives]                          # metric = "min" | "max": defines the Pareto-optimal points
    accuracy = "max"
    cycles_per_inference = "min"
    lut = "min"

:func:`load_spec` returns a :class:`SweepSpec`; every problem raises :class:`SpecError` (a
``ValueError``, so ``macforge sweep`` exits with status 2) naming the key, the value and what is allowed:
unknown keys, wrong types, empty axes, values no family accepts, bundles that do not exist or do not
load. Which axis applies to which family, and which points are invalid, is :mod:`.points`' job.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from macforge.golden.config import DATAFLOWS, MAC_KINDS, ArrayConfig


class SpecError(ValueError):
    """A malformed sweep file (the message names the key)."""


#: axes every sweep has, in report order
CORE_AXES = ("mac", "dataflow", "size")
#: run-time options (arguments of :func:`macforge.api.simulate`) -> the MAC families they apply to
RUNTIME_AXES = {"precision": ("bitserial",), "k": ("tmac",), "k_x": ("tmac",), "encoding": ("tmac",)}
#: ArrayConfig fields that the sweep derives (from the bundle, the size, the family) and never sweeps
DERIVED_FIELDS = ("rows", "cols", "mac", "dataflow", "a_width", "w_width", "max_k", "max_m", "acc_width",
                  "fault")
#: EngineConfig options that may be swept
ENGINE_AXES = ("axis_width",)
#: metrics of a point (:mod:`.report`) that may be objectives
METRICS = ("accuracy", "cycles_per_inference", "lut", "ff", "dsp", "fmax_mhz", "throughput",
           "throughput_per_lut", "lut_cycles")
DEFAULT_OBJECTIVES = {"accuracy": "max", "cycles_per_inference": "min", "lut": "min"}
IMAGES_RANGE = (1, 100_000)
BATCH_RANGE = (1, 4096)
PRECISION_RANGE = (2, 16)           # golden bit-serial mode: 2..a_bits (the bundle bounds it further)

TOP_KEYS = ("sweep", "train", "bundles", "axes", "measure", "objectives")


def hardware_axes() -> tuple[str, ...]:
    """Every ArrayConfig field a sweep may vary (all but :data:`DERIVED_FIELDS`), plus :data:`ENGINE_AXES`.

    Computed from the dataclass, so options other issues add to ArrayConfig (tMAC, pipelining) become
    axes without a change here."""
    return tuple(f.name for f in dataclasses.fields(ArrayConfig) if f.name not in DERIVED_FIELDS) + ENGINE_AXES


def runtime_axes() -> tuple[str, ...]:
    """The run-time options :func:`macforge.api.simulate` accepts in this checkout (read from its
    signature: a budget the API does not take cannot be swept, e.g. the tMAC runs its bundle's k, k_x)."""
    import inspect

    from macforge.api import simulate

    params = inspect.signature(simulate).parameters
    return tuple(k for k in RUNTIME_AXES if k in params)


def allowed_axes() -> tuple[str, ...]:
    return CORE_AXES + runtime_axes() + hardware_axes()


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file. ``axes`` maps axis name -> tuple of values (``size`` as ``(R, C)``)."""

    path: Path
    name: str
    bundles: dict[str, Path]
    axes: dict[str, tuple]
    steps: tuple[str, ...]
    images: int
    batch: int
    step_options: dict[str, dict] = field(default_factory=dict)
    objectives: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_OBJECTIVES))
    train: dict | None = None

    def to_dict(self) -> dict:
        return {"path": str(self.path), "name": self.name, "bundles": {k: str(v) for k, v in self.bundles.items()},
                "axes": {k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in self.axes.items()},
                "steps": list(self.steps), "images": self.images, "batch": self.batch,
                "step_options": self.step_options, "objectives": self.objectives, "train": self.train}


# ----- small checkers -------------------------------------------------------------------------------------
def _type_name(v) -> str:
    return {str: "a string", int: "an integer", bool: "a boolean", float: "a float", list: "an array",
            dict: "a table"}.get(type(v), type(v).__name__)


def _table(doc: dict, key: str, allowed: tuple[str, ...] | None, where: str = "") -> dict:
    v = doc.get(key, {})
    name = f"{where}{key}"
    if not isinstance(v, dict):
        raise SpecError(f"[{name}] must be a table, got {_type_name(v)} ({v!r})")
    if allowed is not None:
        for k in v:
            if k not in allowed:
                raise SpecError(f"unknown key {name}.{k}: allowed {', '.join(allowed)}")
    return v


def _int(key: str, v, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{key} must be an integer in [{lo}, {hi}], got {_type_name(v)} ({v!r})")
    if not lo <= v <= hi:
        raise SpecError(f"{key}={v} is out of range: allowed [{lo}, {hi}]")
    return v


def _str(key: str, v) -> str:
    if not isinstance(v, str):
        raise SpecError(f"{key} must be a string, got {_type_name(v)} ({v!r})")
    return v


def _size(key: str, v) -> tuple[int, int]:
    if isinstance(v, str):
        parts = v.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            v = [int(p) for p in parts]
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        raise SpecError(f"{key} must be \"RxC\" (e.g. \"4x4\") or [R, C], got {v!r}")
    try:
        ArrayConfig(rows=v[0], cols=v[1])
    except ValueError as exc:
        raise SpecError(f"{key}: {exc}") from None
    return (v[0], v[1])


# ----- sections -----------------------------------------------------------------------------------------
def _axes(doc: dict) -> dict[str, tuple]:
    allowed = allowed_axes()
    raw = _table(doc, "axes", allowed)
    for k in CORE_AXES:
        if k not in raw:
            raise SpecError(f"axes.{k} is required (an array of values)")
    axes: dict[str, tuple] = {}
    for k, vs in raw.items():
        key = f"axes.{k}"
        if not isinstance(vs, list):
            raise SpecError(f"{key} must be an array of values, got {_type_name(vs)} ({vs!r})")
        if not vs:
            raise SpecError(f"{key} is empty: give at least one value")
        out = []
        for i, v in enumerate(vs):
            ki = f"{key}[{i}]"
            if k == "mac":
                if v not in MAC_KINDS:
                    raise SpecError(f"{ki}={v!r} is not a MAC family: allowed {', '.join(map(repr, MAC_KINDS))}")
            elif k == "dataflow":
                if v not in DATAFLOWS:
                    raise SpecError(f"{ki}={v!r} is not a dataflow: allowed {', '.join(map(repr, DATAFLOWS))}")
            elif k == "size":
                v = _size(ki, v)
            elif k == "precision":
                _int(ki, v, *PRECISION_RANGE)
            elif k in ("k", "k_x"):
                _int(ki, v, 1, 64)
            elif k == "encoding":
                _str(ki, v)
            else:
                if isinstance(v, list):
                    v = tuple(v)
                elif not isinstance(v, (int, str, bool)):
                    raise SpecError(f"{ki} must be an integer, boolean, string or array, got {_type_name(v)} ({v!r})")
            if v in out:
                raise SpecError(f"{ki}={v!r} is repeated")
            out.append(v)
        axes[k] = tuple(out)
    _check_hw_values(axes)
    return axes


def _check_hw_values(axes: dict[str, tuple]) -> None:
    """A hardware-axis value must be accepted by ArrayConfig for at least one swept family (those
    rejecting it are skipped per point with the reason); else it is a spec error."""
    from .points import hw_axis_applies

    for k in hardware_axes():
        if k not in axes or k in ENGINE_AXES:
            continue
        fams = [m for m in axes["mac"] if hw_axis_applies(k, m)]
        if not fams:
            raise SpecError(f"axes.{k} applies to none of the swept families {list(axes['mac'])}")
        for i, v in enumerate(axes[k]):
            errors = []
            for m in fams:
                try:
                    ArrayConfig(mac=m, **{k: v})
                    break
                except (ValueError, TypeError) as exc:
                    errors.append(f"{m}: {exc}")
            else:
                raise SpecError(f"axes.{k}[{i}]={v!r} is rejected by every family it applies to: {'; '.join(errors)}")
    if "axis_width" in axes:
        from macforge.golden.engine_config import AXIS_WIDTHS

        for i, v in enumerate(axes["axis_width"]):
            if v not in AXIS_WIDTHS:
                raise SpecError(f"axes.axis_width[{i}]={v!r} is not supported: allowed "
                                f"{', '.join(map(str, AXIS_WIDTHS))}")


def _measure(doc: dict) -> tuple[tuple[str, ...], int, int, dict]:
    from .steps import STEPS, check_step_options, step_available

    raw = _table(doc, "measure", ("steps", "images", "batch") + tuple(STEPS))
    steps = raw.get("steps", ["sim"])
    if not isinstance(steps, list):
        raise SpecError(f"measure.steps must be an array of step names, got {_type_name(steps)} ({steps!r})")
    if not steps:
        raise SpecError(f"measure.steps is empty: give at least one of {', '.join(STEPS)}")
    for i, s in enumerate(steps):
        if s not in STEPS:
            raise SpecError(f"measure.steps[{i}]={s!r} is not a measurement: allowed {', '.join(STEPS)}")
        why = step_available(s)
        if why:
            raise SpecError(f"measure.steps[{i}]={s!r} is not available in this installation: {why}")
    images = _int("measure.images", raw.get("images", 50), *IMAGES_RANGE)
    batch = _int("measure.batch", raw.get("batch", min(images, 150)), *BATCH_RANGE)
    opts = {}
    for s in STEPS:
        o = _table(raw, s, None, "measure.")
        try:
            opts[s] = check_step_options(s, o)
        except ValueError as exc:
            raise SpecError(f"measure.{s}: {exc}") from None
        if o and s not in steps:
            raise SpecError(f"measure.{s} gives options for a step that is not in measure.steps {steps}")
    return tuple(dict.fromkeys(steps)), images, batch, {s: o for s, o in opts.items() if s in steps}


def _objectives(doc: dict) -> dict[str, str]:
    raw = _table(doc, "objectives", METRICS)
    if not raw:
        return dict(DEFAULT_OBJECTIVES)
    for k, v in raw.items():
        if v not in ("min", "max"):
            raise SpecError(f"objectives.{k}={v!r}: allowed \"min\" or \"max\"")
    if len(raw) < 2:
        raise SpecError(f"objectives needs at least two metrics for a Pareto front, got {sorted(raw)}")
    return dict(raw)


def _bundles(doc: dict, train: dict | None) -> dict[str, Path]:
    raw = _table(doc, "bundles", None)
    if not raw:
        raise SpecError("[bundles] is required: name = \"path/to/bundle.npz\" for at least one bundle")
    out = {}
    for k, v in raw.items():
        p = Path(_str(f"bundles.{k}", v))
        out[k] = p
    return out


def _train(doc: dict) -> dict | None:
    if "train" not in doc:
        return None
    raw = _table(doc, "train", ("out", "quick"))
    out = _str("train.out", raw.get("out", "build/train"))
    quick = raw.get("quick", False)
    if not isinstance(quick, bool):
        raise SpecError(f"train.quick must be a boolean, got {_type_name(quick)} ({quick!r})")
    return {"out": out, "quick": quick}


def check_bundles(spec: SweepSpec) -> dict:
    """Load every bundle (content hash checked); ``SpecError`` naming ``bundles.<name>`` otherwise.

    Returns name -> :class:`~macforge.golden.bundle.Bundle`."""
    from macforge.golden.bundle import load_bundle

    loaded = {}
    for name, p in spec.bundles.items():
        stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
        if not stem.with_name(stem.name + ".npz").exists():
            hint = " (the [train] section did not produce it)" if spec.train else " (add a [train] section to produce it)"
            raise SpecError(f"bundles.{name}: no bundle at {p}{hint}")
        try:
            loaded[name] = load_bundle(p)
        except ValueError as exc:
            raise SpecError(f"bundles.{name}: {p} does not load: {exc}") from None
    return loaded


def missing_bundles(spec: SweepSpec) -> list[str]:
    out = []
    for name, p in spec.bundles.items():
        stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
        if not stem.with_name(stem.name + ".npz").exists():
            out.append(name)
    return out


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (module docstring). Bundles are checked by :func:`check_bundles`
    (after an optional training run), not here."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"sweep file {p} does not exist")
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{p} is not valid TOML: {exc}") from None
    for k in doc:
        if k not in TOP_KEYS:
            raise SpecError(f"unknown key {k}: allowed {', '.join(TOP_KEYS)}")
    meta = _table(doc, "sweep", ("name",))
    name = _str("sweep.name", meta.get("name", p.stem))
    train = _train(doc)
    bundles = _bundles(doc, train)
    axes = _axes(doc)
    steps, images, batch, opts = _measure(doc)
    objectives = _objectives(doc)
    return SweepSpec(p, name, bundles, axes, steps, images, batch, opts, objectives, train)
