"""Integer requantization used by the hardware: int32 accumulator -> b-bit activation.

A layer computes ``acc = sum_i x_int[i] * w_int[i] + bias_int`` with real value ``s_in * s_w * acc``; the next
layer wants integers of scale ``s_out``. The real multiplier ``m = s_in * s_w / s_out > 0`` is replaced by a
fixed-point one, ``m ~= M0 * 2^-S``, and the output is

    y = clamp((acc * M0 + 2^(S-1)) >> S, lo, hi)

with ``>>`` an *arithmetic* (flooring) shift, so ``(v + 2^(S-1)) >> S = floor(v / 2^S + 1/2)``: round to
nearest, ties toward +infinity (-2.5 -> -2, 2.5 -> 3). This is the single-rounding convention of integer-only
inference kernels. ReLU is the clamp with ``lo = 0``.

Derivation of ``M0`` and ``S`` (``w`` = ``m0_bits``, default 31, so ``M0`` is an unsigned w-bit integer):

* write ``m = f * 2^e`` with ``f in [1/2, 1)`` (``numpy.frexp``);
* ``M0 = round(f * 2^w)`` in ``[2^(w-1), 2^w]``; if rounding reaches ``2^w`` use ``M0 = 2^(w-1)``, ``e += 1``;
* ``S = w - e``; then ``M0 * 2^-S = m (1 + r)`` with ``|r| <= 2^-w``
  (``|M0 - f 2^w| <= 1/2`` and ``f 2^w >= 2^(w-1)``).

Error bound: with ``y_f = clamp(acc * m, lo, hi)`` (no rounding),
``|y - y_f| <= 1/2 + |acc * m| * 2^-w`` (the clamp is 1-Lipschitz), i.e. within one LSB whenever
``|acc * m| <= 2^(w-1)`` -- always true for outputs that are not deep in saturation.

Range: ``1 <= S <= 62`` is required (``2^(S-1)`` must exist and ``acc * M0 + 2^(S-1)`` must fit int64 for
``|acc| < 2^31`` and ``M0 < 2^31``), so ``2^(w-63) <= m < 2^(w-1)``.
"""

from __future__ import annotations

import numpy as np

MAX_SHIFT = 62
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(m: float, m0_bits: int = 31) -> tuple[int, int]:
    """``(M0, S)`` with ``M0 * 2^-S ~= m`` (relative error <= 2^-m0_bits); see the module docstring."""
    if not isinstance(m0_bits, (int, np.integer)) or isinstance(m0_bits, bool) or not 2 <= m0_bits <= 31:
        raise ValueError(f"m0_bits must be an integer in [2, 31], got {m0_bits!r}")
    m = float(m)
    if not np.isfinite(m) or m <= 0:
        raise ValueError(f"requant multiplier m = s_in*s_w/s_out must be finite and > 0, got {m!r}")
    f, e = np.frexp(m)  # m = f * 2^e, f in [0.5, 1)
    e = int(e)
    m0 = int(np.floor(f * 2.0**m0_bits + 0.5))  # f*2^w > 0: half-up == half-away
    if m0 == 1 << m0_bits:
        m0 >>= 1
        e += 1
    shift = m0_bits - e
    if not 1 <= shift <= MAX_SHIFT:
        raise ValueError(
            f"requant multiplier m = {m!r} needs shift S = {shift}, outside [1, {MAX_SHIFT}]; "
            f"m must lie in [2^{m0_bits - MAX_SHIFT - 1}, 2^{m0_bits - 1}) for m0_bits = {m0_bits}"
        )
    return m0, shift


def quantize_multipliers(m, m0_bits: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """Vector version of :func:`quantize_multiplier`: arrays ``(M0, S)`` of dtype int64."""
    pairs = [quantize_multiplier(v, m0_bits) for v in np.atleast_1d(np.asarray(m, dtype=np.float64)).ravel()]
    m0 = np.array([p[0] for p in pairs], dtype=np.int64)
    s = np.array([p[1] for p in pairs], dtype=np.int64)
    return m0, s


def requantize(acc, m0, shift, lo: int, hi: int) -> np.ndarray:
    """``y = clamp((acc * M0 + 2^(S-1)) >> S, lo, hi)`` in int64 (``M0``/``S`` broadcast along the last axis).

    ``acc`` must fit int32, ``0 <= M0 < 2^31`` and ``1 <= S <= 62``; that keeps every intermediate inside int64.
    """
    acc = np.asarray(acc)
    m0 = np.asarray(m0, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if acc.dtype.kind not in "iu":
        raise ValueError(f"acc must be an integer array, got dtype {acc.dtype}")
    acc = acc.astype(np.int64)
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise ValueError(f"acc must fit int32 [{INT32_MIN}, {INT32_MAX}], got range [{acc.min()}, {acc.max()}]")
    if m0.size and (m0.min() < 0 or m0.max() >= 2**31):
        raise ValueError(f"M0 must be in [0, 2^31), got range [{m0.min()}, {m0.max()}]")
    if shift.size and (shift.min() < 1 or shift.max() > MAX_SHIFT):
        raise ValueError(f"shift S must be in [1, {MAX_SHIFT}], got range [{shift.min()}, {shift.max()}]")
    if lo > hi:
        raise ValueError(f"clamp bounds need lo <= hi, got lo={lo}, hi={hi}")
    rounding = np.left_shift(np.int64(1), shift - 1)
    y = np.right_shift(acc * m0 + rounding, shift)  # arithmetic shift on int64
    return np.clip(y, lo, hi)


def output_range(a_bits: int, relu: bool) -> tuple[int, int]:
    """Clamp bounds of the hardware contract: ``lo = 0`` with ReLU else ``-2^(a-1)``, ``hi = 2^(a-1) - 1``."""
    if not isinstance(a_bits, (int, np.integer)) or not 2 <= a_bits <= 32:
        raise ValueError(f"a_bits must be an integer in [2, 32], got {a_bits!r}")
    hi = (1 << (a_bits - 1)) - 1
    return (0 if relu else -(1 << (a_bits - 1))), hi
