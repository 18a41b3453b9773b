"""Term quantization (TQ): values as sums of signed power-of-two terms, with term budgets.

Kung, McDanel, Zhang, "Term Revealing: Furthering Quantization at Run Time on Quantized DNNs" (2020), as
presented on the lecture's "Term Quantization" slides.

Representation. An integer ``v`` is sign-magnitude, ``v = sign(v) * |v|``, and the magnitude is a sum of
signed power-of-two *terms*: ``|v| = sum_p d_p 2^p`` with digits ``d_p in {-1, 0, +1}``. Two encodings:

* ``binary``: ``d_p`` = bit p of ``|v|`` (the set bits; all terms positive).
* ``hese`` (hybrid encoding for signed expressions): scan bit positions from the MSB down and look at the
  bit triple ``(b_(i+1), b_i, b_(i-1))`` (bits outside the word are 0):

  - ``(0, 1, 0)``  isolated 1                  -> term ``+2^i``
  - ``(0, 1, 1)``  top of a run of >= 2 ones    -> term ``+2^(i+1)``
  - ``(1, 1, 0)``  bottom of a run of >= 2 ones -> term ``-2^i``
  - otherwise      no term

  so a run of 1s from bit i up to bit j (j > i) becomes ``+2^(j+1) - 2^i`` and isolated 1s stay. A run never
  costs more than its binary form, and every position gets at most one digit. Over 0..255 HESE averages
  3.25 terms per value against 4.0 for binary.

Budgets (terms are ranked by exponent ``p``; larger first):

* group budget ``(g, k)``: along the reduction axis, each group of ``g`` consecutive values pools all its
  terms and keeps the ``k`` with the largest exponents; equal exponents go to the lower index in the group.
* data budget ``k_x``: each value keeps its own ``k_x`` largest terms.

Cost. A MAC ``w * x`` done term by term costs ``terms(w) * terms(x)`` term-pair operations; a layer costs
``sum over MACs``. With budgets the cost per MAC is at most ``k_x * k / g`` (a group of g weights holds at most
k terms, each meeting at most k_x data terms). Uniform ``b_w x b_x`` bit-serial quantization costs
``b_w * b_x`` bit pairs per MAC.
"""

from __future__ import annotations

import numpy as np

ENCODINGS = ("binary", "hese")


def _check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    return encoding


def _check_pos_int(name: str, v) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def _as_int(values) -> np.ndarray:
    v = np.asarray(values)
    if v.dtype.kind not in "iu":
        if v.dtype.kind == "f" and np.all(np.isfinite(v)) and np.all(v == np.round(v)):
            v = v.astype(np.int64)
        else:
            raise ValueError(f"values must be integers, got dtype {v.dtype}")
    return v.astype(np.int64)


def magnitude_bits(values) -> int:
    """Number of bits of the largest magnitude (at least 1)."""
    v = _as_int(values)
    m = int(np.max(np.abs(v))) if v.size else 0
    return max(1, m.bit_length())


def term_digits(values, encoding: str = "binary", n_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Signed-digit expansion of ``|values|``.

    Returns ``(sign, d)`` with ``sign = sign(values)`` (int64, 0 for 0) and ``d`` of shape
    ``values.shape + (P,)``, ``d[..., p] in {-1, 0, 1}`` the digit at exponent ``p``, such that
    ``values = sign * sum_p d[..., p] * 2^p``. ``P = n_bits`` (binary) or ``n_bits + 1`` (HESE: the top run may
    carry into bit ``n_bits``); ``n_bits`` defaults to :func:`magnitude_bits`.
    """
    _check_encoding(encoding)
    v = _as_int(values)
    nb = magnitude_bits(v) if n_bits is None else _check_pos_int("n_bits", n_bits)
    mag = np.abs(v)
    if mag.size and int(mag.max()) >= (1 << nb):
        raise ValueError(f"n_bits = {nb} cannot hold magnitude {int(mag.max())}")
    P = nb + (1 if encoding == "hese" else 0)
    bits = (mag[..., None] >> np.arange(P, dtype=np.int64)) & 1  # bit P-1 is 0 for hese
    if encoding == "binary":
        d = bits
    else:
        zero = np.zeros_like(bits[..., :1])
        below = np.concatenate([zero, bits[..., :-1]], axis=-1)  # b_(i-1)
        above = np.concatenate([bits[..., 1:], zero], axis=-1)  # b_(i+1)
        isolated = (bits == 1) & (above == 0) & (below == 0)
        run_top = (bits == 1) & (above == 0) & (below == 1)  # -> +2^(i+1)
        run_bottom = (bits == 1) & (above == 1) & (below == 0)  # -> -2^i
        d = isolated.astype(np.int64) - run_bottom.astype(np.int64)
        d[..., 1:] += run_top[..., :-1].astype(np.int64)
    return np.sign(v), d.astype(np.int64)


def reconstruct(sign, d) -> np.ndarray:
    """Inverse of :func:`term_digits`: ``sign * sum_p d_p 2^p``."""
    d = np.asarray(d, dtype=np.int64)
    return np.asarray(sign, dtype=np.int64) * (d * (1 << np.arange(d.shape[-1], dtype=np.int64))).sum(axis=-1)


def terms_of(value: int, encoding: str = "binary") -> list[tuple[int, int]]:
    """Terms of one value as ``(sign, exponent)`` pairs, largest exponent first: ``value = sum sign*2^exp``."""
    sign, d = term_digits(np.array([value]), encoding)
    return [(int(sign[0] * d[0, p]), p) for p in range(d.shape[-1] - 1, -1, -1) if d[0, p] != 0]


def count_terms(values, encoding: str = "binary") -> np.ndarray:
    """Number of nonzero terms of each value (same shape as ``values``)."""
    return np.count_nonzero(term_digits(values, encoding)[1], axis=-1)


def _keep_top(mask_desc: np.ndarray, k: int) -> np.ndarray:
    """Given nonzero-term masks already laid out in priority order on the last axis, keep the first k."""
    return mask_desc & (np.cumsum(mask_desc, axis=-1) <= k)


def data_budget(values, k_x: int, encoding: str = "binary") -> np.ndarray:
    """Each value keeps its ``k_x`` largest terms (its own budget); returns the truncated integers."""
    k_x = _check_pos_int("k_x", k_x)
    sign, d = term_digits(values, encoding)
    nz = (d != 0)[..., ::-1]  # largest exponent first
    keep = _keep_top(nz, k_x)[..., ::-1]
    return reconstruct(sign, np.where(keep, d, 0))


def group_budget_mask(values, g: int, k: int, encoding: str = "binary", axis: int = 0):
    """``(sign, d, keep)`` for the group budget: ``keep`` marks the surviving terms (shape of ``d``)."""
    g = _check_pos_int("g", g)
    k = _check_pos_int("k", k)
    v = np.moveaxis(_as_int(values), axis, -1)
    n = v.shape[-1]
    pad = (-n) % g
    vp = np.concatenate([v, np.zeros(v.shape[:-1] + (pad,), dtype=np.int64)], axis=-1)
    sign, d = term_digits(vp, encoding)  # (..., n+pad, P)
    P = d.shape[-1]
    grouped = d.reshape(v.shape[:-1] + ((n + pad) // g, g, P))
    # priority order: exponent descending, then index in group ascending
    order = np.swapaxes(grouped[..., ::-1], -1, -2)  # (..., G, P_desc, g)
    flat = (order != 0).reshape(order.shape[:-2] + (P * g,))
    keep = _keep_top(flat, k).reshape(order.shape)
    keep = np.swapaxes(keep, -1, -2)[..., ::-1].reshape(d.shape)
    sl = (Ellipsis, slice(0, n), slice(None))
    return (
        np.moveaxis(sign[..., :n], -1, axis),
        np.moveaxis(d[sl], -2, axis if axis >= 0 else axis - 1),
        np.moveaxis(keep[sl], -2, axis if axis >= 0 else axis - 1),
    )


def group_budget(values, g: int, k: int, encoding: str = "binary", axis: int = 0) -> np.ndarray:
    """Group budget along ``axis``: every ``g`` consecutive values keep their ``k`` largest terms in total.

    A trailing partial group (length not divisible by ``g``) is padded with zeros, which carry no terms.
    """
    sign, d, keep = group_budget_mask(values, g, k, encoding, axis)
    return reconstruct(sign, np.where(keep, d, 0))


def term_pair_ops(w_int, x_int, encoding: str = "binary") -> int:
    """``sum over MACs of terms(w) * terms(x)`` for ``y = x @ w`` (``x``: (..., C_in), ``w``: (C_in, C_out))."""
    tw = count_terms(w_int, encoding).astype(np.int64)
    tx = count_terms(x_int, encoding).astype(np.int64)
    return int((tx.reshape(-1, tx.shape[-1]) @ tw).sum())


def tq_pairs_per_mac_bound(g: int, k: int, k_x: int) -> float:
    """Budget bound on term pairs per MAC: ``k_x * k / g``."""
    return _check_pos_int("k_x", k_x) * _check_pos_int("k", k) / _check_pos_int("g", g)


def uniform_pairs_per_mac(w_bits: int, a_bits: int) -> int:
    """Bit pairs per MAC of uniform ``b_w x b_x`` bit-serial quantization: ``b_w * b_x``."""
    return _check_pos_int("w_bits", w_bits) * _check_pos_int("a_bits", a_bits)
