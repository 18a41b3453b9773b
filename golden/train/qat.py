"""Quantization-aware training (straight-through estimator) and export to the integer model.

Fake quantization reproduces the integer datapath of :mod:`macforge.golden.mlp` in floating point:

* weights:     ``W_q = s_w * Q(W)`` with ``Q(W) = round(clip(W, -L_w, L_w) / s_w)`` (lecture quantizer,
  ``L_w`` per output channel for hidden layers, per tensor for the final layer, re-calibrated from ``W``
  at the start of every QAT epoch; a channel range is floored at 2^-16 of the layer's largest); with TQ, ``Q(W)`` is ``w_bits``-bit and then gets the group budget ``(g, k)``
  along ``C_in`` (:func:`macforge.golden.terms.group_budget`).
* activations: ``x_q = s_a * round(clip(x, -L_a, L_a) / s_a)`` at every layer input; the network input
  has the fixed range ``L_in = 1`` (pixels / pixel_max), hidden ranges ``L_a`` are calibrated on the
  training set (re-calibrated at the start of every QAT epoch). With TQ the integers get the data budget
  ``k_x`` (:func:`macforge.golden.terms.data_budget`).

Straight-through estimator: the rounding and the term truncation are treated as identity in the backward
pass, the clip is not: ``dL/dW = dL/dW_q * 1[|W| <= L_w]`` and ``dL/dx = dL/dx_q * 1[|x| <= L_a]``.

Export (:func:`to_int_mlp`) turns the fake-quantized network into :class:`macforge.golden.mlp.IntMLP`:
``W_int = Q(W)`` (for TQ the *un-budgeted* w-bit integers; the budget is applied by the TQ inference mode),
``b_int = round(b / (s_in s_w))``, ``m = s_in s_w / s_out -> (M0, S)`` (:mod:`macforge.golden.requant`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from macforge.golden import terms
from macforge.golden.mlp import IntLayer, IntMLP, TQConfig
from macforge.golden.quant import calibrate, dequantize, quantize, round_half_away, scale_from_clip
from macforge.golden.requant import INT32_MAX, INT32_MIN, quantize_multipliers
from macforge.golden.train.layers import Layer, Linear, ReLU, Dropout, Sequential


@dataclass(frozen=True)
class QuantConfig:
    """Widths and calibration of a quantized network; ``tq`` switches on term quantization."""

    w_bits: int = 8
    a_bits: int = 8
    tq: TQConfig | None = None
    w_calib: str = "mse"
    a_calib: str = "mse"
    n_grid: int = 32
    m0_bits: int = 31

    @property
    def name(self) -> str:
        base = f"w{self.w_bits}a{self.a_bits}"
        return base if self.tq is None else f"{self.tq.name}(w{self.w_bits}a{self.a_bits})"


class WeightQuant:
    """Fake quantizer for a weight matrix ``W: (C_in, C_out)`` (see module docstring)."""

    def __init__(self, bits: int, channel_axis: int | None, calib: str, n_grid: int, tq: TQConfig | None):
        self.bits, self.channel_axis, self.calib, self.n_grid, self.tq = bits, channel_axis, calib, n_grid, tq
        self.L = None  # frozen range (set by recalibrate); None: calibrate from W on every call
        self._mask = None

    def calibrate(self, W: np.ndarray) -> np.ndarray:
        L = calibrate(W, self.bits, self.calib, self.channel_axis, n_grid=self.n_grid)
        # A channel whose weights decayed to ~0 (dead ReLU unit) would get a tiny scale and a bias that
        # overflows int32 after b / (s_in s_w); floor its range at 2^-16 of the layer's largest range.
        return np.maximum(L, np.max(L) * 2.0**-16)

    def recalibrate(self, W: np.ndarray) -> None:
        self.L = self.calibrate(W)

    def quantize(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W_int, s_w, L_w)``; ``W_int`` is the base (un-budgeted) integer matrix."""
        L = self.calibrate(W) if self.L is None else self.L
        w_int, s = quantize(W, L, self.bits, self.channel_axis)
        return w_int, s, L

    def forward(self, W: np.ndarray) -> np.ndarray:
        w_int, s, L = self.quantize(W)
        if self.tq is not None:
            w_int = terms.group_budget(w_int, self.tq.g, self.tq.k, self.tq.encoding, axis=0)
        Lb = L if self.channel_axis is None else L.reshape(1, -1)
        self._mask = np.abs(W) <= Lb
        return dequantize(w_int, s, self.channel_axis)

    def backward(self, dW: np.ndarray) -> np.ndarray:
        return dW * self._mask


class ActQuant(Layer):
    """Fake quantizer for activations (per tensor). ``fixed_L`` pins the range (network input)."""

    def __init__(self, bits: int, calib: str, n_grid: int, tq: TQConfig | None, fixed_L: float | None = None):
        super().__init__()
        self.bits, self.calib, self.n_grid, self.tq = bits, calib, n_grid, tq
        self.fixed = fixed_L is not None
        self.L = None if fixed_L is None else float(fixed_L)
        self._mask = None

    def forward(self, x, train=False):
        if self.L is None:  # calibration pass
            self.L = float(calibrate(x, self.bits, self.calib, n_grid=100))
        x_int, s = quantize(x, self.L, self.bits)
        if self.tq is not None:
            x_int = terms.data_budget(x_int, self.tq.k_x, self.tq.encoding)
        self._mask = np.abs(x) <= self.L
        return x_int * s

    def backward(self, dy):
        return dy * self._mask


def attach_quantizers(model: Sequential, cfg: QuantConfig, input_clip: float = 1.0) -> Sequential:
    """A deep copy of the float ``model`` with fake quantizers at every layer input and on every weight."""
    m = copy.deepcopy(model)
    linears = m.linears()
    out: list[Layer] = [ActQuant(cfg.a_bits, cfg.a_calib, cfg.n_grid, cfg.tq, fixed_L=input_clip)]
    for layer in m.layers:
        if isinstance(layer, Linear):
            if out and isinstance(out[-1], (ReLU, Dropout)):
                out.append(ActQuant(cfg.a_bits, cfg.a_calib, cfg.n_grid, cfg.tq))
            final = layer is linears[-1]
            layer.wq = WeightQuant(cfg.w_bits, None if final else 1, cfg.w_calib, cfg.n_grid, cfg.tq)
        out.append(layer)
    q = Sequential(out)
    q.qcfg = cfg
    return q


def calibrate_activations(qmodel: Sequential, X: np.ndarray) -> None:
    """Re-calibrate every weight range, then every non-fixed activation range on ``X``, layer by layer
    (upstream quantizers active). Ranges stay frozen until the next call."""
    for layer in qmodel.layers:
        if isinstance(layer, Linear) and layer.wq is not None:
            layer.wq.recalibrate(layer.params["W"])
        if isinstance(layer, ActQuant) and not layer.fixed:
            layer.L = None
    qmodel.forward(X, train=False)


def to_int_mlp(qmodel: Sequential, pixel_max: float, input_clip: float = 1.0, meta: dict | None = None) -> IntMLP:
    """Export a fake-quantized network (:func:`attach_quantizers`) to the integer model."""
    cfg: QuantConfig = qmodel.qcfg
    acts = [l for l in qmodel.layers if isinstance(l, ActQuant)]
    linears = qmodel.linears()
    if len(acts) != len(linears) or any(a.L is None for a in acts):
        raise ValueError("every layer input needs a calibrated activation quantizer (run calibrate_activations)")
    layers = []
    s_in = float(scale_from_clip(input_clip, cfg.a_bits))
    for i, lin in enumerate(linears):
        final = i == len(linears) - 1
        w_int, s_w, _ = lin.wq.quantize(lin.params["W"])
        s_w = np.broadcast_to(np.asarray(s_w, dtype=np.float64), (w_int.shape[1],)).copy()
        b_int = round_half_away(lin.params["b"] / (s_in * s_w)).astype(np.int64)
        if b_int.min() < INT32_MIN or b_int.max() > INT32_MAX:
            raise ValueError(f"layer {i}: quantized bias exceeds int32 (scale s_in*s_w too small)")
        if final:
            m0 = shift = None
            s_out = None
        else:
            s_out = float(scale_from_clip(acts[i + 1].L, cfg.a_bits))
            m0, shift = quantize_multipliers(s_in * s_w / s_out, cfg.m0_bits)
        layers.append(IntLayer(w_int, b_int, m0, shift, relu=not final, w_bits=cfg.w_bits, a_bits=cfg.a_bits,
                               s_in=s_in, s_w=s_w, s_out=s_out, m0_bits=cfg.m0_bits))
        if not final:
            s_in = s_out
    return IntMLP(layers, a_bits=cfg.a_bits, w_bits=cfg.w_bits, input_clip=input_clip, pixel_max=pixel_max,
                  tq=cfg.tq, meta=dict(meta or {}))
