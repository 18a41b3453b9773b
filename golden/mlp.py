"""Integer MLP inference reference: what the MAC-array hardware is compared against, bit for bit.

Hardware contract
=================

Shapes follow the lecture's ``Y = X W + b``: activations ``X`` are ``(batch, C_in)``, weights ``W`` are
``(C_in, C_out)``, the reduction runs over ``C_in`` (axis 0 of ``W``), and "per output channel" means per
column of ``W``.

Network input. Digit pixels ``p in {0..16}`` are scaled to ``u = p / 16 in [0, 1]`` and quantized with the
lecture quantizer (:mod:`macforge.golden.quant`) with clip range ``L_in = 1``: ``s_in = 2 / (2^a - 2)`` and
``x_int = round_half_away(clip(u, -1, 1) / s_in)``; for ``a_bits = 8`` that is
``x_int = round_half_away(p * 127 / 16) in [0, 127]``. The exact integers the hardware streams are stored
in the bundle (see :func:`macforge.golden.bundle.digits_test_set`).

Every layer ``l`` (``a = a_bits``, ``w = w_bits``):

* inputs ``x_int``: signed ``a``-bit integers; weights ``W_int``: signed ``w``-bit integers in
  ``[-(2^(w-1)-1), 2^(w-1)-1]``; bias ``b_int``: int32.
* accumulator ``acc = x_int @ W_int + b_int``; computed here in int64 and checked to fit int32
  (:class:`AccumulatorOverflow` otherwise). The bias is part of the accumulator (pre-load it).
* hidden layers: ``y = clamp((acc * M0[c] + 2^(S[c]-1)) >> S[c], lo, hi)`` per output channel ``c``, with
  ``>>`` an arithmetic shift (round half toward +inf), ``lo = 0`` with ReLU else ``-2^(a-1)``,
  ``hi = 2^(a-1) - 1``. ``M0`` is unsigned (< 2^31), ``1 <= S <= 62``; both come from the real multiplier
  ``m[c] = s_in * s_w[c] / s_out`` (:mod:`macforge.golden.requant`). Hidden layers use per-output-channel weight
  scales, so ``M0``/``S`` are vectors of length ``C_out``.
* final layer: **no requantization**. The logits are the raw int32 ``acc`` (``acc + bias``); the final layer
  uses one per-tensor weight scale, so ``argmax(acc)`` is the class (first index on ties, as ``np.argmax``),
  and ``s_in * s_w * acc`` is the real-valued logit.

Modes of :func:`mlp_forward_int`:

* ``"uniform"``: the above as is.
* ``"bitserial"`` with precision ``p``: before every layer (the network input included) the activations are
  clipped to the ``p``-bit signed range ``[-2^(p-1), 2^(p-1) - 1]``.
* ``"tq"`` (term quantization, :mod:`macforge.golden.terms`): the weights of every layer get the group budget
  ``(g, k)`` along ``C_in`` and every layer input (the network input included) gets the data budget ``k_x``,
  both in the configured encoding (``binary`` or ``hese``). The truncated integers then go through the same
  integer datapath.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from macforge.golden import terms
from macforge.golden.quant import qrange, quantize
from macforge.golden.requant import INT32_MAX, INT32_MIN, output_range, requantize

MODES = ("uniform", "bitserial", "tq")
#: pixels of sklearn's digits are 0..16
DIGITS_PIXEL_MAX = 16.0


class AccumulatorOverflow(ArithmeticError):
    """An accumulator left the int32 range the hardware provides."""


@dataclass(frozen=True)
class TQConfig:
    """Term-quantization budgets: group size ``g``, group budget ``k``, data budget ``k_x``, encoding."""

    g: int
    k: int
    k_x: int
    encoding: str = "binary"

    def __post_init__(self):
        for name in ("g", "k", "k_x"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"TQ {name} must be a positive integer, got {v!r}")
        if self.encoding not in terms.ENCODINGS:
            raise ValueError(f"TQ encoding must be one of {terms.ENCODINGS}, got {self.encoding!r}")

    @property
    def name(self) -> str:
        return f"tq-{self.encoding}-g{self.g}-k{self.k}-kx{self.k_x}"


@dataclass
class IntLayer:
    """One fully connected layer of the integer model (see the module docstring for the datapath)."""

    w: np.ndarray  # (C_in, C_out) int64, signed w_bits
    bias: np.ndarray  # (C_out,) int64 holding int32 values
    m0: np.ndarray | None  # (C_out,) int64 unsigned multiplier; None: raw int32 logits (final layer)
    shift: np.ndarray | None  # (C_out,) int64
    relu: bool
    w_bits: int
    a_bits: int
    s_in: float  # real value of one input LSB
    s_w: np.ndarray  # (C_out,) real value of one weight LSB per output channel
    s_out: float | None  # real value of one output LSB (None for raw logits)
    m0_bits: int = 31  # width of the unsigned multiplier: 0 <= m0 < 2^m0_bits

    @property
    def requant(self) -> bool:
        return self.m0 is not None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.w.shape)

    def validate(self) -> None:
        lo, hi = qrange(self.w_bits)
        if self.w.ndim != 2:
            raise ValueError(f"layer weights must be 2-d (C_in, C_out), got shape {self.w.shape}")
        if self.w.size and (self.w.min() < lo or self.w.max() > hi):
            raise ValueError(f"weights must lie in [{lo}, {hi}] for w_bits={self.w_bits}")
        if self.bias.shape != (self.w.shape[1],):
            raise ValueError(f"bias must have shape ({self.w.shape[1]},), got {self.bias.shape}")
        if self.bias.size and (self.bias.min() < INT32_MIN or self.bias.max() > INT32_MAX):
            raise ValueError("bias must fit int32")
        if self.m0 is not None and self.m0.size and (self.m0.min() < 0 or self.m0.max() >= 1 << self.m0_bits):
            raise ValueError(f"m0 must lie in [0, 2^{self.m0_bits} - 1] for m0_bits={self.m0_bits}")


@dataclass
class IntMLP:
    """Integer MLP: layers plus the input quantization (``L_in`` applied to ``pixel / pixel_max``)."""

    layers: list[IntLayer]
    a_bits: int
    w_bits: int
    input_clip: float = 1.0
    pixel_max: float = DIGITS_PIXEL_MAX
    tq: TQConfig | None = None
    meta: dict = field(default_factory=dict)

    @property
    def input_scale(self) -> float:
        """``s_in`` of the network input in units of ``pixel / pixel_max``: ``2 L_in / (2^a - 2)``."""
        return 2.0 * self.input_clip / (2.0**self.a_bits - 2.0)

    def quantize_input(self, pixels) -> np.ndarray:
        """``x_int = round_half_away(clip(pixels / pixel_max, -L_in, L_in) / s_in)`` (int64)."""
        x_int, _ = quantize(np.asarray(pixels, dtype=np.float64) / self.pixel_max, self.input_clip, self.a_bits)
        return x_int

    def macs(self) -> int:
        """Multiply-accumulates per inference: ``sum_l C_in * C_out``."""
        return int(sum(l.w.shape[0] * l.w.shape[1] for l in self.layers))


@dataclass
class Trace:
    """Everything one integer forward pass produced, per layer."""

    inputs: list[np.ndarray]  # integers each layer actually consumed (after bit-serial clip / data budget)
    weights: list[np.ndarray]  # integer weights each layer actually used (after the group budget in TQ)
    accs: list[np.ndarray]  # int64 accumulators acc = x @ W + b (int32-checked)
    outputs: list[np.ndarray]  # per-layer integer outputs; outputs[-1] is the logits
    term_pairs: int  # sum over MACs of terms(w) * terms(x) in the mode's encoding (binary outside TQ);
    # TQ: the kept terms (data budget of each input x group budget of each weight), what the tMAC pairs

    @property
    def logits(self) -> np.ndarray:
        return self.outputs[-1]

    def predict(self) -> np.ndarray:
        return np.argmax(self.logits, axis=-1)


def _check_int32(acc: np.ndarray, where: str) -> None:
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise AccumulatorOverflow(f"{where}: accumulator range [{acc.min()}, {acc.max()}] exceeds int32")


def layer_forward_int(x_int, layer: IntLayer, w_int: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(acc, y)``: ``acc = x_int @ W + b`` (int64, int32-checked), ``y`` = requantized output or ``acc``.

    ``w_int`` overrides ``layer.w`` (used for group-budgeted TQ weights).
    """
    x = np.asarray(x_int)
    if x.dtype.kind not in "iu":
        raise ValueError(f"x_int must be an integer array, got dtype {x.dtype}")
    w = layer.w if w_int is None else np.asarray(w_int)
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"x_int has {x.shape[-1]} features, layer expects C_in = {w.shape[0]}")
    acc = x.astype(np.int64) @ w.astype(np.int64) + layer.bias.astype(np.int64)
    _check_int32(acc, f"layer {layer.shape}")
    if not layer.requant:
        return acc, acc
    lo, hi = output_range(layer.a_bits, layer.relu)
    return acc, requantize(acc, layer.m0, layer.shift, lo, hi)


def mlp_forward_int(
    model: IntMLP,
    X_int,
    mode: str = "uniform",
    precision: int | None = None,
    tq: TQConfig | None = None,
) -> Trace:
    """Run the integer model on ``X_int`` (``(batch, C_in)`` a-bit integers) in ``mode`` (module docstring).

    Returns a :class:`Trace`: per-layer inputs, weights, accumulators and outputs; ``trace.logits`` are the
    final int32 logits.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "bitserial":
        if not isinstance(precision, (int, np.integer)) or not 2 <= precision <= model.a_bits:
            raise ValueError(f"bit-serial precision must be an integer in [2, a_bits={model.a_bits}], got {precision!r}")
    elif precision is not None:
        raise ValueError(f"precision is only used by mode='bitserial', got precision={precision!r} with mode={mode!r}")
    if mode == "tq":
        tq = tq or model.tq
        if tq is None:
            raise ValueError("mode='tq' needs a TQConfig (argument tq or model.tq)")
    encoding = tq.encoding if mode == "tq" else "binary"
    x = np.asarray(X_int)
    if x.dtype.kind not in "iu":
        raise ValueError(f"X_int must be an integer array, got dtype {x.dtype}")
    x = x.astype(np.int64)
    lo_a, hi_a = -(1 << (model.a_bits - 1)), (1 << (model.a_bits - 1)) - 1
    if x.size and (x.min() < lo_a or x.max() > hi_a):
        raise ValueError(f"X_int must be signed a_bits={model.a_bits} integers in [{lo_a}, {hi_a}]")
    trace = Trace([], [], [], [], 0)
    for layer in model.layers:
        w = layer.w
        if mode == "bitserial":
            x = np.clip(x, -(1 << (precision - 1)), (1 << (precision - 1)) - 1)
        elif mode == "tq":
            # count the kept terms of the *original* values: re-encoding the truncated ones undercounts
            # (HESE -123 = -(128 - 8 + 4 - 1) at k_x = 3 keeps -(128 - 8 + 4) = -124, which re-encodes as
            # -(128 - 4), two terms)
            tx = np.minimum(terms.count_terms(x, tq.encoding), tq.k_x).astype(np.int64)
            _, _, keep = terms.group_budget_mask(w, tq.g, tq.k, tq.encoding, axis=0)
            tw = np.count_nonzero(keep, axis=-1).astype(np.int64)
            x = terms.data_budget(x, tq.k_x, tq.encoding)
            w = terms.group_budget(w, tq.g, tq.k, tq.encoding, axis=0)
        acc, y = layer_forward_int(x, layer, w)
        trace.inputs.append(x)
        trace.weights.append(w)
        trace.accs.append(acc)
        trace.outputs.append(y)
        if mode == "tq":     # the pairs the tMAC meets: kept weight terms x kept activation terms, per index
            trace.term_pairs += int((tx.reshape(-1, tx.shape[-1]) @ tw).sum())
        else:
            trace.term_pairs += terms.term_pair_ops(w, x, encoding)
        x = y
    return trace
