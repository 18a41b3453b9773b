"""Integer GEMM reference and the tile schedule that streams a GEMM through the array.

``Y = A @ W`` with ``A`` of shape ``M x K`` (activations, signed ``a_width`` bits) and ``W`` of shape
``K x N`` (weights, signed ``w_width`` bits), computed exactly in int64. For the bit-serial MAC at
precision ``p`` the activations are first clipped to ``[-2^(p-1), 2^(p-1)-1]`` (:func:`clip_precision`),
exactly what the hardware's front end and the golden MLP's bit-serial mode do.

:func:`schedule` cuts a GEMM into the beats the array consumes (zero padding at the edges) and lists the
output rows it must produce, in order. The sim drivers, the cycle model and the benchmarks all use it, so
the order is defined once:

* OS: tiles ``(mt, nt)`` row-major over ``ceil(M/R) x ceil(N/C)``; each tile is ``K`` beats
  ``(A[mt*R:(mt+1)*R, k], W[k, nt*C:(nt+1)*C])`` and yields ``R`` output rows.
* WS: blocks of at most ``max_m`` rows, then ``nt`` over ``ceil(N/C)``, then K-chunks ``kc`` over
  ``ceil(K/R)``: one weight tile ``W[kc*R:(kc+1)*R, nt*C:(nt+1)*C]`` (``R`` weight rows) and one
  activation beat per row ``m`` of the block (``first`` on ``kc = 0``, ``last`` on the final chunk,
  ``tlast`` on the block's final row); the final chunk yields one output row per ``m``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import ArrayConfig


def clip_precision(a: np.ndarray, p: int) -> np.ndarray:
    """Clip to the signed ``p``-bit range ``[-2^(p-1), 2^(p-1) - 1]``."""
    return np.clip(np.asarray(a, dtype=np.int64), -(1 << (p - 1)), (1 << (p - 1)) - 1)


def gemm(a: np.ndarray, w: np.ndarray, precision: int | None = None) -> np.ndarray:
    """Exact ``A @ W`` in int64 (activations clipped to ``precision`` bits when given)."""
    a = np.asarray(a, dtype=np.int64)
    if precision is not None:
        a = clip_precision(a, precision)
    return a @ np.asarray(w, dtype=np.int64)


def check_operands(cfg: ArrayConfig, a: np.ndarray, w: np.ndarray) -> None:
    """Raise ``ValueError`` for shapes or values the configured array cannot take."""
    a = np.asarray(a)
    w = np.asarray(w)
    if a.ndim != 2 or w.ndim != 2:
        raise ValueError(f"A and W must be 2-D, got A.ndim={a.ndim}, W.ndim={w.ndim}")
    if a.shape[1] != w.shape[0]:
        raise ValueError(f"inner dimensions differ: A is {a.shape}, W is {w.shape}")
    M, K = a.shape
    N = w.shape[1]
    for name, v in (("M", M), ("K", K), ("N", N)):
        if v < 1:
            raise ValueError(f"{name}={v}: every GEMM dimension must be >= 1")
    if K > cfg.max_k:
        raise ValueError(f"K={K} exceeds max_k={cfg.max_k} of this configuration: allowed [1, {cfg.max_k}]")
    for name, x, bits in (("A", a, cfg.a_width), ("W", w, cfg.w_width)):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if x.size and (x.min() < lo or x.max() > hi):
            raise ValueError(f"{name} has values in [{x.min()}, {x.max()}]: allowed [{lo}, {hi}] "
                             f"({bits}-bit signed)")


@dataclass
class Schedule:
    """Beats to send and rows expected, in order. ``acts`` rows are ``(a_vector, first, last, tlast)``
    (OS: ``tlast`` unused), ``weights`` (OS: one row per act beat; WS: ``R`` rows per weight tile),
    ``outputs`` the expected result rows (``C`` int64 values) with their ``last`` flag."""

    cfg: ArrayConfig
    acts: np.ndarray            # (beats, R) int64
    flags: np.ndarray           # (beats, 3) uint8: first, last, tlast
    weights: np.ndarray         # (rows, C) int64
    outputs: np.ndarray         # (out_rows, C) int64
    out_last: np.ndarray        # (out_rows,) uint8
    tiles: list = field(default_factory=list)   # per tile: K (OS) or M (WS), for the cycle model

    @property
    def beats(self) -> int:
        return len(self.acts)


def ws_tiles(cfg: ArrayConfig, M: int, nt_n: int, kc_n: int, weights_of, acts_of, yp) -> tuple[list, ...]:
    """The weight-stationary tile order every WS schedule shares (plain, tMAC, packed arrays).

    For each block of at most ``cfg.max_m`` activation rows ``m0:m1``, each column tile ``nt < nt_n`` and
    each K-chunk ``kc < kc_n`` (``R`` weight rows each): one weight tile ``weights_of(kc, nt)`` and its
    activation rows ``acts_of(m0, m1, kc)`` with flags ``(first = kc == 0, last = kc == kc_n - 1,
    tlast on the chunk's final row)``; after the chunks of a column tile, its expected output rows
    ``yp[m0:m1, nt C:(nt+1) C]`` with ``last`` on the final row. Returns the lists
    ``(acts, flags, weights, outs, out_last, tiles)`` (``tiles``: rows per weight tile).
    """
    C = cfg.cols
    acts, flags, weights, outs, out_last, tiles = [], [], [], [], [], []
    for m0 in range(0, M, cfg.max_m):
        m1 = min(M, m0 + cfg.max_m)
        for nt in range(nt_n):
            for kc in range(kc_n):
                weights.append(weights_of(kc, nt))
                acts.append(acts_of(m0, m1, kc))
                f = np.zeros((m1 - m0, 3), np.uint8)
                f[:, 0] = kc == 0
                f[:, 1] = kc == kc_n - 1
                f[-1, 2] = 1
                flags.append(f)
                tiles.append(m1 - m0)
            outs.append(yp[m0:m1, nt * C:(nt + 1) * C])
            ol = np.zeros(m1 - m0, np.uint8)
            ol[-1] = 1
            out_last.append(ol)
    return acts, flags, weights, outs, out_last, tiles


def schedule(cfg: ArrayConfig, a: np.ndarray, w: np.ndarray, precision: int | None = None) -> Schedule:
    """Cut ``A @ W`` into array beats for ``cfg`` (see the module docstring)."""
    check_operands(cfg, a, w)
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    y = gemm(a, w, precision)
    M, K = a.shape
    N = w.shape[1]
    R, C = cfg.rows, cfg.cols
    mt_n, nt_n = -(-M // R), -(-N // C)
    ap = np.zeros((mt_n * R, K), np.int64)
    ap[:M, :] = a
    kc_n = -(-K // R)
    wp = np.zeros((kc_n * R, nt_n * C), np.int64)
    wp[:K, :N] = w
    yp = np.zeros((max(mt_n * R, M), nt_n * C), np.int64)
    yp[:M, :N] = y
    acts, flags, weights, outs, out_last, tiles = [], [], [], [], [], []
    if cfg.dataflow == "os":
        for mt in range(mt_n):
            for nt in range(nt_n):
                blk_a = ap[mt * R:(mt + 1) * R, :K].T                  # (K, R)
                blk_w = wp[:K, nt * C:(nt + 1) * C]                    # (K, C)
                f = np.zeros((K, 3), np.uint8)
                f[0, 0] = 1
                f[-1, 1] = 1
                acts.append(blk_a)
                flags.append(f)
                weights.append(blk_w)
                outs.append(yp[mt * R:(mt + 1) * R, nt * C:(nt + 1) * C])
                ol = np.zeros(R, np.uint8)
                ol[-1] = 1
                out_last.append(ol)
                tiles.append(K)
    else:
        apk = np.zeros((M, kc_n * R), np.int64)
        apk[:, :K] = a
        acts, flags, weights, outs, out_last, tiles = ws_tiles(
            cfg, M, nt_n, kc_n, lambda kc, nt: wp[kc * R:(kc + 1) * R, nt * C:(nt + 1) * C],
            lambda m0, m1, kc: apk[m0:m1, kc * R:(kc + 1) * R], yp)
    return Schedule(cfg, np.concatenate(acts), np.concatenate(flags), np.concatenate(weights),
                    np.concatenate(outs), np.concatenate(out_last), tiles)
