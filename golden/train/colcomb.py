"""Column-combining training: prune, pack, retrain with the packing fixed, quantize, export.

For every ``Linear`` layer of a trained float network (``W`` ``(C_in, C_out)``, lines = rows ``k``):

1. magnitude-prune ``W`` to ``sparsity`` (default ``1 - 1/alpha``: on average one nonzero per group and
   position), :func:`macforge.golden.colcomb.prune_magnitude`;
2. group its lines with ``alpha`` / ``gamma`` and conflict-prune (:func:`macforge.golden.colcomb.pack`);
   the *packing mask* is True exactly where a surviving weight sits;
   Steps 1-3 run ``rounds`` times with the sparsity target ``sparsity * r / rounds`` (gradual pruning,
   regrouping every round; pruning counts the already-masked zeros first);
3. retrain (float, ``retrain_epochs / rounds`` per round) with the mask fixed: masked weights start at 0 and their gradient
   is multiplied by the mask (:class:`GradMask`), so every optimizer in :mod:`macforge.golden.train.optim`
   (momentum / Adam moments start at 0) keeps them exactly 0;
4. quantization-aware training (``w_bits`` / ``a_bits``, ``qat_epochs``) with the same mask, export to
   :class:`macforge.golden.mlp.IntMLP` (``Q(0) = 0``, so the integer weights keep the mask) and pack the
   integer weights with the *same* groups: no conflicts remain, so the packed matrix's ``dense()`` is
   exactly the exported ``W_int`` (asserted).

The result carries the integer model, the per-layer :class:`~macforge.golden.colcomb.PackedMatrix`
(what :func:`macforge.golden.bundle.save_bundle` records as ``packing``) and the figures of the report rows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from macforge.golden import colcomb as cc
from macforge.golden.config import ALPHA_RANGE, WIDTH_RANGE
from macforge.golden.mlp import IntMLP
from macforge.golden.train.layers import Dropout, Linear, Sequential
from macforge.golden.train.qat import QuantConfig, attach_quantizers, calibrate_activations, to_int_mlp
from macforge.golden.train.trainer import TrainConfig, accuracy, train


@dataclass(frozen=True)
class ColcombConfig:
    """One column-combining setting: ``alpha`` (lines per group, ``ALPHA_RANGE``), ``gamma`` (conflicts
    per position allowed, >= 0), ``sparsity`` (magnitude pruning target in [0, 1); ``None`` =
    ``1 - 1/alpha``), retraining epochs and rounds (integers >= 1), quantization widths ``w_bits`` /
    ``a_bits`` (integers in ``WIDTH_RANGE``, the array's widths)."""

    alpha: int = 4
    gamma: float = 0.5
    sparsity: float | None = None
    retrain_epochs: int = 60
    qat_epochs: int = 15
    rounds: int = 5
    w_bits: int = 8
    a_bits: int = 8

    def __post_init__(self):
        cc._check_alpha(self.alpha)
        object.__setattr__(self, "gamma", cc._check_gamma(self.gamma))
        if self.sparsity is None:
            object.__setattr__(self, "sparsity", 1.0 - 1.0 / self.alpha)
        object.__setattr__(self, "sparsity", cc._check_sparsity(self.sparsity))
        for n in ("retrain_epochs", "qat_epochs", "rounds"):
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{n}={v!r} is out of range: allowed integers >= 1")
        for n in ("w_bits", "a_bits"):
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int) or not WIDTH_RANGE[0] <= v <= WIDTH_RANGE[1]:
                raise ValueError(f"{n}={v!r} is out of range: allowed integers [{WIDTH_RANGE[0]}, {WIDTH_RANGE[1]}]")

    @property
    def name(self) -> str:
        return f"cc-a{self.alpha}-g{self.gamma:g}-s{self.sparsity:g}"

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "gamma": self.gamma, "sparsity": self.sparsity,
                "retrain_epochs": self.retrain_epochs, "qat_epochs": self.qat_epochs, "rounds": self.rounds,
                "w_bits": self.w_bits, "a_bits": self.a_bits}

    @classmethod
    def parse(cls, text: str) -> "ColcombConfig":
        """``"alpha=4,gamma=0.5[,sparsity=0.8][,retrain_epochs=60][,qat_epochs=15][,rounds=5][,w_bits=8]
        [,a_bits=8]"`` (the CLI form; every key of :meth:`to_dict`)."""
        kw = {}
        types = {"alpha": int, "gamma": float, "sparsity": float, "retrain_epochs": int, "qat_epochs": int,
                 "rounds": int, "w_bits": int, "a_bits": int}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise ValueError(f"--column-combine: {part!r} is not KEY=VALUE (keys: {', '.join(types)})")
            k, v = (s.strip() for s in part.split("=", 1))
            if k not in types:
                raise ValueError(f"--column-combine: unknown key {k!r}: allowed {', '.join(types)}")
            try:
                kw[k] = types[k](v)
            except ValueError:
                raise ValueError(f"--column-combine: {k}={v!r} is not a{'n integer' if types[k] is int else ' number'}"
                                 f"{f' in [{ALPHA_RANGE[0]}, {ALPHA_RANGE[1]}]' if k == 'alpha' else ''}") from None
        if "alpha" not in kw:
            raise ValueError(f"--column-combine needs alpha=N (allowed [{ALPHA_RANGE[0]}, {ALPHA_RANGE[1]}])")
        return cls(**kw)


def bundle_stems(settings) -> dict[str, str]:
    """The bundle file stem of every setting (by :attr:`ColcombConfig.name`): ``bundle_cc_a<alpha>`` when
    no other setting has that ``alpha``, else ``bundle_cc_a<alpha>_g<gamma>_s<sparsity>`` (so repeating an
    ``alpha`` with another ``gamma`` or ``sparsity`` never overwrites a bundle). Raises ``ValueError`` if two
    settings have the same name (same ``alpha``, ``gamma`` and ``sparsity``: one report row and one bundle
    per setting)."""
    settings = list(settings)
    names: dict[str, int] = {}
    for i, c in enumerate(settings):
        if c.name in names:
            raise ValueError(f"--column-combine: setting {i + 1} (alpha={c.alpha}, gamma={c.gamma:g}, "
                             f"sparsity={c.sparsity:g}) repeats setting {names[c.name] + 1} ({c.name}): allowed "
                             f"settings that differ in alpha, gamma or sparsity")
        names[c.name] = i
    count = {}
    for c in settings:
        count[c.alpha] = count.get(c.alpha, 0) + 1
    return {c.name: f"bundle_cc_a{c.alpha}" if count[c.alpha] == 1 else
            f"bundle_cc_a{c.alpha}_g{c.gamma:g}_s{c.sparsity:g}" for c in settings}


class GradMask:
    """Weight hook for :class:`~macforge.golden.train.layers.Linear`: forward is ``inner``'s (identity
    if none); the backward pass multiplies ``dL/dW`` by the fixed 0/1 mask. Everything else (``quantize``,
    ``recalibrate`` of a QAT weight quantizer) is delegated to ``inner``."""

    def __init__(self, mask: np.ndarray, inner=None):
        self.mask = np.asarray(mask, bool)
        self.inner = inner

    def forward(self, W):
        return W if self.inner is None else self.inner.forward(W)

    def backward(self, dW):
        return (dW if self.inner is None else self.inner.backward(dW)) * self.mask

    def __getattr__(self, name):
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)


@dataclass
class ColcombResult:
    cfg: ColcombConfig
    int_model: IntMLP
    packing: list                       # PackedMatrix per layer (integer weights)
    groups: list                        # line groups per layer
    float_accuracy: float               # masked float network after retraining (test set)
    stats: list = field(default_factory=list)    # packing_stats per layer
    curves: dict = field(default_factory=dict)


def _masks(model: Sequential, c: ColcombConfig):
    groups, masks, stats = [], [], []
    for lin in model.linears():
        W = cc.prune_magnitude(lin.params["W"], c.sparsity)
        g = cc.group_lines(W, c.alpha, c.gamma)
        pm = cc.pack(W, c.alpha, c.gamma, groups=g)
        groups.append(g)
        masks.append(pm.mask())
        stats.append(cc.packing_stats(W, pm))
    return groups, masks, stats


def train_colcomb(model: Sequential, X, y, Xt, yt, Xc, pixel_max: float, c: ColcombConfig, base: TrainConfig,
                  qat_lr: float = 5e-4, m0_bits: int = 31, progress: bool = True) -> ColcombResult:
    """Steps 1-4 of the module docstring on a copy of the trained float ``model``."""
    m = copy.deepcopy(model)
    curves = {}
    for r in range(1, c.rounds + 1):
        # round r: sparsity r/rounds of the target, regroup, conflict-prune, retrain with the mask fixed
        cr = replace(c, sparsity=c.sparsity * r / c.rounds)
        for lin in m.linears():
            lin.wq = None
        groups, masks, _ = _masks(m, cr)
        for lin, mask in zip(m.linears(), masks):
            lin.params["W"] = np.where(mask, lin.params["W"], 0.0)
            lin.wq = GradMask(mask)
        ep = max(1, c.retrain_epochs // c.rounds)
        rt = replace(base, epochs=ep, seed=base.seed + 7 + r)
        curves[f"{c.name}-retrain{r}"] = train(m, X, y, rt, Xt, yt, desc=f"{c.name} retrain {r}/{c.rounds}",
                                               progress=progress)
    float_acc = accuracy(m, Xt, yt)
    for lin in m.linears():
        lin.wq = None
    q = attach_quantizers(m, QuantConfig(c.w_bits, c.a_bits, m0_bits=m0_bits))
    for lin, mask in zip(q.linears(), masks):
        lin.wq = GradMask(mask, lin.wq)
    for layer in q.layers:
        if isinstance(layer, Dropout):
            layer.p = 0.0
    calibrate_activations(q, Xc)
    qt = TrainConfig(hidden=base.hidden, epochs=c.qat_epochs, batch_size=base.batch_size, optimizer="adam",
                     lr=qat_lr, schedule="cosine", weight_decay=base.weight_decay, dropout=0.0, seed=base.seed + 8)
    curves[c.name + "-qat"] = train(q, X, y, qt, Xt, yt, on_epoch_start=lambda e: calibrate_activations(q, Xc),
                                    desc=c.name + " QAT", progress=progress)
    calibrate_activations(q, Xc)
    im = to_int_mlp(q, pixel_max, meta={"name": c.name, "qat": True, "column_combine": c.to_dict()})
    packing, stats = [], []
    for layer, g, mask in zip(im.layers, groups, masks):
        w = np.asarray(layer.w, np.int64)
        if (w[~mask] != 0).any():
            raise AssertionError("a masked weight left zero during retraining")
        pm = cc.pack(w, c.alpha, c.gamma, groups=g)
        if not (pm.dense() == w).all():
            raise AssertionError("packing the integer weights with the training groups lost a weight")
        packing.append(pm)
        st = cc.packing_stats(w, pm)
        st["sparsity"] = 1 - int((w != 0).sum()) / w.size
        stats.append(st)
    return ColcombResult(c, im, packing, groups, float_acc, stats, curves)


def packed_cycles(packing, M: int, rows: int = 8, cols: int = 8, mac: str = "parallel",
                  axis_width: int = 64, precision: int | None = None) -> dict:
    """Engine cycles per inference (exact model, one job per layer at batch ``M``) of the dense network
    on a plain WS engine and of the packed network on the packed engine with the same array."""
    from macforge.golden.config import ArrayConfig
    from macforge.golden.engine_config import EngineConfig
    from macforge.golden.engine_cycles import job_cycles
    alpha = max(pm.alpha for pm in packing)
    kmax = max(pm.k for pm in packing)
    nmax = max(pm.n for pm in packing)
    de = EngineConfig(ArrayConfig(rows=rows, cols=cols, dataflow="ws", mac=mac, max_k=kmax), axis_width=axis_width,
                      max_n=nmax)
    pe = EngineConfig(ArrayConfig(rows=rows, cols=cols, dataflow="ws", mac=mac, max_k=kmax, alpha=alpha),
                      axis_width=axis_width, max_n=nmax)
    dense = sum(job_cycles(de, M, pm.k, pm.n, precision) for pm in packing)
    packed = sum(cc.engine_job_cycles(pe, M, pm.with_alpha(alpha), precision) for pm in packing)
    useful = sum(int((np.asarray(pm.w) != 0).sum()) for pm in packing) * M
    L = de.array.cycles_per_step(precision)
    return {"batch": M, "dense_cycles_per_inference": dense / M, "packed_cycles_per_inference": packed / M,
            "cycle_ratio": dense / packed,
            "dense_utilization": useful * L / (rows * cols * dense),
            "packed_utilization": useful * L / (rows * cols * packed)}


#: the engine the training report quotes cycles for (the digits benchmark of issue 14): 8x8 WS parallel
REPORT_ENGINE = {"rows": 8, "cols": 8, "mac": "parallel", "batch": 150, "axis_widths": (64, 256)}


def colcomb_row(res: ColcombResult, measured: dict, float_acc: float, bundle: str | None = None) -> dict:
    """One report row: accuracy (test, validation, agreement with float from ``measured``), packing
    figures over all layers (:func:`macforge.golden.colcomb.network_packing`: ``line_reduction`` K/G,
    ``alpha_achieved`` <= alpha, ``packing_factor`` the old name of ``line_reduction``) and engine cycles
    per inference (dense vs packed, :func:`packed_cycles`)."""
    c = res.cfg
    net = cc.network_packing(res.packing)
    size = sum(s["K"] * s["N"] for s in res.stats)
    kept = sum(s["kept"] for s in res.stats)
    e = REPORT_ENGINE
    cyc = {f"axis{w}": packed_cycles(res.packing, e["batch"], e["rows"], e["cols"], e["mac"], w)
           for w in e["axis_widths"]}
    r = {"name": c.name, "kind": "colcomb", "accuracy": measured["accuracy"],
         "delta_vs_float": measured["accuracy"] - float_acc, "float_retrained_accuracy": res.float_accuracy,
         "alpha": c.alpha, "gamma": c.gamma, "sparsity_target": c.sparsity, "sparsity": 1 - kept / size,
         "line_reduction": net["line_reduction"], "alpha_achieved": net["alpha_achieved"],
         "packing_factor": net["packing_factor"], "groups": net["groups"], "lines": net["lines"],
         "w_bits": c.w_bits, "a_bits": c.a_bits, "cycles": cyc,
         "engine": {k: v for k, v in e.items() if k != "axis_widths"}}
    if bundle is not None:
        r["bundle"] = bundle
    r.update({k: v for k, v in measured.items() if k in ("val_accuracy", "agreement", "val_agreement")})
    return r


def markdown_rows(rows: list[dict], float_acc: float) -> list[str]:
    """The report's column-combining section."""
    e = REPORT_ENGINE
    L = ["## Column combining (prune, pack, retrain with the packing fixed; w8a8 QAT)", "",
         f"Engine cycles per inference: exact model, {e['rows']}x{e['cols']} WS {e['mac']} array, batch {e['batch']}, "
         "dense network on the plain engine vs packed network on the packed engine (same array), "
         "s_axis 64 / 256 bits.", "",
         "Line reduction = sum K / sum G (array lines saved; all-zero lines join no group, so it can exceed "
         "alpha); alpha achieved = lines actually combined per group (<= alpha).", "",
         "| name | alpha | gamma | accuracy % | Δ vs float (pt) | sparsity % | line reduction K/G | alpha achieved | "
         "groups per layer | cycles/inf dense (64b) | packed (64b) | ratio (64b) | dense (256b) | packed (256b) | "
         "ratio (256b) |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c64, c256 = r["cycles"]["axis64"], r["cycles"]["axis256"]
        L.append(f"| {r['name']} | {r['alpha']} | {r['gamma']:g} | {100 * r['accuracy']:.2f} | "
                 f"{100 * (r['accuracy'] - float_acc):+.2f} | {100 * r['sparsity']:.1f} | {r['line_reduction']:.2f} | "
                 f"{r['alpha_achieved']:.2f} | "
                 f"{r['groups']} of {r['lines']} | {c64['dense_cycles_per_inference']:.1f} | "
                 f"{c64['packed_cycles_per_inference']:.1f} | {c64['cycle_ratio']:.2f}x | "
                 f"{c256['dense_cycles_per_inference']:.1f} | {c256['packed_cycles_per_inference']:.1f} | "
                 f"{c256['cycle_ratio']:.2f}x |")
    return L
