"""Symmetric uniform quantizer exactly as the lecture defines it, plus clip-range calibration.

Lecture ("System Level Optimization": how to convert a number x to INT representation):

* clipping range ``(-L, L)``, bit width ``b``
* scale          ``s = 2L / (2^b - 2)``
* clip           ``x_c = clip(x, -L, L)``
* integer        ``x_int = round(x_c / s)``      (ties away from zero, see :func:`round_half_away`)
* rescale        ``x_q = s * x_int``

Because ``L / s = 2^(b-1) - 1`` the integers are symmetric: ``x_int`` lies in
``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (e.g. ``[-127, 127]`` for b = 8); the code ``-2^(b-1)`` is never produced.

``L`` comes from a calibration method (:func:`calibrate`):

* ``"maxabs"``     ``L = max |x|``
* ``"percentile"`` ``L = P_p(|x|)`` (the p-th percentile of the magnitudes, default p = 99.99)
* ``"mse"``        ``L* = argmin_L mean((x - Q_L(x))^2)`` over the sweep ``L = max|x| * j / n`` for j = 1..n

Every function works per tensor (``channel_axis=None``) or per channel (``channel_axis=a``: one ``L`` and
one ``s`` for every index along axis ``a``, statistics taken over all other axes). An all-zero tensor or
channel has no range to calibrate; it gets ``L = 1`` (its integers are all 0 whatever ``L`` is).
"""

from __future__ import annotations

import numpy as np

CALIBRATION_METHODS = ("maxabs", "percentile", "mse")


def _check_bits(bits: int) -> int:
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 2 <= bits <= 32:
        raise ValueError(f"bits must be an integer in [2, 32] (s = 2L/(2^b - 2) needs b >= 2), got {bits!r}")
    return int(bits)


def qrange(bits: int) -> tuple[int, int]:
    """Integer range ``(-(2^(b-1) - 1), 2^(b-1) - 1)`` produced by the symmetric quantizer."""
    bits = _check_bits(bits)
    q = (1 << (bits - 1)) - 1
    return -q, q


def round_half_away(x: np.ndarray) -> np.ndarray:
    """``round(x)`` with ties away from zero: ``sign(x) * floor(|x| + 1/2)`` (2.5 -> 3, -2.5 -> -3).

    (NumPy's ``np.round`` rounds ties to even, which is *not* the convention used here.)
    """
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    r = np.floor(ax)
    # compare the exact fractional part with 1/2: floor(|x| + 0.5) would round 0.49999999999999994 up
    return np.sign(x) * (r + (ax - r >= 0.5))


def _expand(v: np.ndarray | float, ndim: int, channel_axis: int | None) -> np.ndarray:
    """Shape a per-channel vector so that it broadcasts along ``channel_axis`` of an ndim-d tensor."""
    v = np.asarray(v, dtype=np.float64)
    if channel_axis is None or v.ndim == 0:
        return v
    shape = [1] * ndim
    shape[channel_axis] = -1
    return v.reshape(shape)


def scale_from_clip(L: np.ndarray | float, bits: int) -> np.ndarray:
    """``s = 2L / (2^b - 2)``. ``L`` must be finite and > 0."""
    bits = _check_bits(bits)
    L = np.asarray(L, dtype=np.float64)
    if not np.all(np.isfinite(L)) or np.any(L <= 0):
        raise ValueError(f"clip range L must be finite and > 0, got {L!r}")
    return 2.0 * L / (2.0**bits - 2.0)


def quantize(x, L, bits: int, channel_axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x_int, s)``: ``x_int = round_half_away(clip(x, -L, L) / s)`` as int64, ``s = 2L/(2^b-2)``.

    ``L`` is a scalar, or a vector with one entry per index of ``channel_axis``. ``s`` has ``L``'s shape.
    """
    x = np.asarray(x, dtype=np.float64)
    s = scale_from_clip(L, bits)
    Lb = _expand(L, x.ndim, channel_axis)
    sb = _expand(s, x.ndim, channel_axis)
    x_c = np.clip(x, -Lb, Lb)
    x_int = round_half_away(x_c / sb).astype(np.int64)
    lo, hi = qrange(bits)
    # guards against floating point putting L/s a hair above 2^(b-1)-1
    return np.clip(x_int, lo, hi), s


def dequantize(x_int, s, channel_axis: int | None = None) -> np.ndarray:
    """``x_q = s * x_int``."""
    x_int = np.asarray(x_int)
    return _expand(s, x_int.ndim, channel_axis) * x_int


def fake_quantize(x, L, bits: int, channel_axis: int | None = None) -> np.ndarray:
    """``x_q = s * round(clip(x, -L, L) / s)`` in floating point (quantize then dequantize)."""
    x_int, s = quantize(x, L, bits, channel_axis)
    return dequantize(x_int, s, channel_axis)


def _reduce_axes(ndim: int, channel_axis: int | None) -> tuple[int, ...] | None:
    if channel_axis is None:
        return None
    if not -ndim <= channel_axis < ndim:
        raise ValueError(f"channel_axis must be in [{-ndim}, {ndim - 1}] for a {ndim}-d tensor, got {channel_axis}")
    ax = channel_axis % ndim
    return tuple(i for i in range(ndim) if i != ax)


def calibrate(
    x,
    bits: int,
    method: str = "maxabs",
    channel_axis: int | None = None,
    percentile: float = 99.99,
    n_grid: int = 100,
) -> np.ndarray:
    """Clip range ``L`` (scalar array, or one per channel) for ``x`` by ``method`` (see module docstring)."""
    bits = _check_bits(bits)
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("calibration tensor x must be non-empty and finite")
    axes = _reduce_axes(x.ndim, channel_axis)
    a = np.abs(x)
    maxabs = np.max(a, axis=axes)
    if method == "maxabs":
        L = maxabs
    elif method == "percentile":
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        L = np.percentile(a, percentile, axis=axes)
    else:
        if not isinstance(n_grid, int) or n_grid < 1:
            raise ValueError(f"n_grid must be a positive integer, got {n_grid!r}")
        best_err = np.full(np.shape(maxabs), np.inf)
        L = np.array(maxabs, dtype=np.float64, copy=True)
        for j in range(1, n_grid + 1):
            cand = maxabs * (j / n_grid)
            safe = np.where(cand > 0, cand, 1.0)
            err = np.mean((x - fake_quantize(x, safe, bits, channel_axis)) ** 2, axis=axes)
            better = err < best_err
            L = np.where(better, safe, L)
            best_err = np.where(better, err, best_err)
    L = np.asarray(L, dtype=np.float64)
    return np.where(L > 0, L, 1.0)
