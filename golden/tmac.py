"""tMAC reference: weight term slots, the activation term encoder, the group schedule and its cycle model.

The tMAC (Kung, McDanel, Zhang, "Term Revealing", 2020; the lecture's "Term Quantization: Accelerator
Design" slide) multiplies term by term. This module states, bit for bit, what the hardware
(:mod:`macforge.rtl.tmac`) reads and computes; everything is derived from one
:class:`~macforge.golden.config.ArrayConfig` with ``mac = "tmac"``.

Terms. A signed ``b``-bit integer ``v`` (``|v| <= 2^(b-1)``) is ``sign(v) * sum_p d_p 2^p`` with digits
``d_p in {-1, 0, 1}`` (:func:`macforge.golden.terms.term_digits`, ``binary`` or ``hese``). Because
``|v| <= 2^(b-1)``, every exponent lies in ``0 .. b-1`` (a HESE run ending at bit ``b-2`` carries into bit
``b-1``: ``127 = 2^7 - 2^0``), so ``b`` exponent values, :func:`exp_bits` ``(b)`` bits. A term's sign is
``sign(v) * d_p``, stored as one bit (1 = negative).

Weight term slots (offline, :func:`weight_slots`). Along the reduction axis every group of ``g``
consecutive weights (``K`` zero-padded to a multiple of ``g``) keeps its ``k`` largest terms (the group
budget, :func:`macforge.golden.terms.group_budget`), listed in priority order (exponent descending, then
index in group ascending); slot ``s < k`` holds the ``s``-th kept term, slots ``k .. k_max-1`` are
invalid. A slot is one packed word, least significant field first (:func:`slot_fields`)::

    valid (1) | sign (1) | exp (exp_bits(w_width)) | idx (log2 g, absent for g = 1)

(exponent 0 means ``2^0``, hence the valid bit). Because the list is in priority order, the first ``k``
slots of a ``k_max`` packing are exactly the ``k``-budget packing.

Activation terms (run time, :func:`activation_terms`). Each activation keeps its ``k_x`` largest terms
(the data budget, :func:`macforge.golden.terms.data_budget`), most significant first; term ``t`` is
``(valid, sign, exp)``, packed ``valid | sign << 1 | exp << 2``.

Term pairs. A weight slot ``(s_w, e_w, i)`` met with term ``(s_x, e_x)`` of activation ``i`` of the same
group contributes ``(-1)^(s_w xor s_x) 2^(e_w + e_x)``. Summed over the ``k`` slots and ``k_x`` terms of
every group this is ``data_budget(A) @ group_budget(W)`` exactly (:func:`tmac_gemm`), in any order.

Time. The hardware meets one term pair per PE per cycle: one group (``g`` products) is ``L = k * k_x``
slots, weight slot outer, activation term inner (slot ``t = s * k_x + j``), independent of the data.
The array timing is that of :mod:`macforge.golden.cycles` with the reduction counted in groups
``G = ceil(K / g)`` and ``L = k * k_x`` (:func:`tmac_gemm_cycles`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import terms
from .config import ArrayConfig
from .cycles import GemmCycles, steps_cycles
from .gemm import Schedule, ws_tiles


def exp_bits(width: int) -> int:
    """Bits of an exponent of a signed ``width``-bit value (exponents ``0 .. width-1``)."""
    return max(1, (width - 1).bit_length())


def idx_bits(g: int) -> int:
    """Bits of the index in a group of ``g`` (``g`` a power of two; 0 for ``g = 1``)."""
    return (g - 1).bit_length()


def slot_fields(cfg: ArrayConfig) -> list[tuple[str, int]]:
    """Weight term slot fields ``(name, bits)``, least significant first (the RTL's StructLayout)."""
    f = [("valid", 1), ("sign", 1), ("exp", exp_bits(cfg.w_width))]
    if idx_bits(cfg.g):
        f.append(("idx", idx_bits(cfg.g)))
    return f


def slot_bits(cfg: ArrayConfig) -> int:
    return sum(b for _, b in slot_fields(cfg))


def term_fields(cfg: ArrayConfig) -> list[tuple[str, int]]:
    """Activation term fields ``(name, bits)``, least significant first."""
    return [("valid", 1), ("sign", 1), ("exp", exp_bits(cfg.a_width))]


def _require_tmac(cfg: ArrayConfig) -> None:
    if cfg.mac != "tmac":
        raise ValueError(f"mac={cfg.mac!r}: the tMAC reference needs mac='tmac'")


def _signed_terms(values, encoding: str, width: int) -> np.ndarray:
    """``(..., width)`` signed digits ``sign(v) * d_p`` for exponents ``0 .. width-1``."""
    v = np.asarray(values, dtype=np.int64)
    sign, d = terms.term_digits(v, encoding, n_bits=width)
    d = d * sign[..., None]
    if np.any(d[..., width:] != 0):       # impossible for |v| <= 2^(width-1); kept as a guard
        raise ValueError(f"values need exponents above {width - 1}")
    return d[..., :width]


def weight_slots(cfg: ArrayConfig, w, k: int, encoding: str) -> np.ndarray:
    """Term slots of ``W`` (``K x N``): int64 array ``(G, N, k_max, 4)`` of ``(valid, sign, exp, idx)``,
    ``G = ceil(K / g)`` (see the module docstring for the order)."""
    _require_tmac(cfg)
    cfg.check_budgets(k, 1)
    terms._check_encoding(encoding)
    w = np.asarray(w, dtype=np.int64)
    K, N = w.shape
    g, ww = cfg.g, cfg.w_width
    G = -(-K // g)
    wp = np.zeros((G * g, N), np.int64)
    wp[:K] = w
    d = _signed_terms(wp, encoding, ww).reshape(G, g, N, ww)       # (G, i, N, p)
    # priority order: exponent descending, then index ascending -> axis (p_desc, i)
    order = np.transpose(d[..., ::-1], (0, 2, 3, 1)).reshape(G, N, ww * g)
    exps = np.repeat(np.arange(ww - 1, -1, -1), g)
    idxs = np.tile(np.arange(g), ww)
    out = np.zeros((G, N, cfg.k_max, 4), np.int64)
    nz = order != 0
    rank = np.cumsum(nz, axis=-1) - 1
    gi, ni, pos = np.nonzero(nz & (rank < k))
    s = rank[gi, ni, pos]
    out[gi, ni, s, 0] = 1
    out[gi, ni, s, 1] = order[gi, ni, pos] < 0
    out[gi, ni, s, 2] = exps[pos]
    out[gi, ni, s, 3] = idxs[pos]
    return out


def pack_slots(cfg: ArrayConfig, slots: np.ndarray) -> np.ndarray:
    """Pack ``(..., 4)`` slot fields into slot words (:func:`slot_fields` layout)."""
    slots = np.asarray(slots, dtype=np.int64)
    eb = exp_bits(cfg.w_width)
    word = slots[..., 0] | (slots[..., 1] << 1) | (slots[..., 2] << 2)
    if idx_bits(cfg.g):
        word = word | (slots[..., 3] << (2 + eb))
    return word


def slots_value(slots: np.ndarray, g: int) -> np.ndarray:
    """Inverse view: the truncated weights ``(G*g, N)`` a slot array ``(G, N, S, 4)`` stands for."""
    G, N = slots.shape[:2]
    out = np.zeros((G, g, N), np.int64)
    v = slots[..., 0] * np.where(slots[..., 1] == 1, -1, 1) * (1 << slots[..., 2])
    for gi in range(G):
        for n in range(N):
            np.add.at(out[gi, :, n], slots[gi, n, :, 3], v[gi, n])
    return out.reshape(G * g, N)


def activation_terms(values, k_x: int, encoding: str, width: int, kx_max: int | None = None) -> np.ndarray:
    """The activation encoder: ``(..., kx_max, 3)`` of ``(valid, sign, exp)``, the ``k_x`` largest terms
    of each signed ``width``-bit value, most significant first; terms ``k_x .. kx_max-1`` invalid."""
    kx_max = k_x if kx_max is None else kx_max
    d = _signed_terms(values, encoding, width)[..., ::-1]          # exponent descending
    nz = d != 0
    rank = np.cumsum(nz, axis=-1) - 1
    out = np.zeros(d.shape[:-1] + (kx_max, 3), np.int64)
    sel = nz & (rank < min(k_x, kx_max))
    *lead, pos = np.nonzero(sel)
    r = rank[tuple(lead) + (pos,)]
    out[tuple(lead) + (r, 0)] = 1
    out[tuple(lead) + (r, 1)] = d[tuple(lead) + (pos,)] < 0
    out[tuple(lead) + (r, 2)] = width - 1 - pos
    return out


def pack_terms(t: np.ndarray, cfg: ArrayConfig) -> np.ndarray:
    t = np.asarray(t, dtype=np.int64)
    return t[..., 0] | (t[..., 1] << 1) | (t[..., 2] << 2)


def terms_value(t: np.ndarray) -> np.ndarray:
    """Sum of ``(valid, sign, exp)`` terms over the second-to-last axis."""
    return (t[..., 0] * np.where(t[..., 1] == 1, -1, 1) * (1 << t[..., 2])).sum(axis=-1)


def tmac_gemm(a, w, g: int, k: int, k_x: int, encoding: str) -> np.ndarray:
    """What the tMAC array computes: ``data_budget(A, k_x) @ group_budget(W, g, k)`` (int64)."""
    at = terms.data_budget(np.asarray(a, dtype=np.int64), k_x, encoding)
    wt = terms.group_budget(np.asarray(w, dtype=np.int64), g, k, encoding, axis=0)
    return at @ wt


@dataclass
class TmacSchedule(Schedule):
    """A :class:`~macforge.golden.gemm.Schedule` whose steps are groups: ``acts`` is ``(beats, R, g)``
    (raw activations, the hardware encodes them), ``weights`` is ``(rows, C, k_max)`` packed slot words,
    ``tiles`` count groups (OS) or rows (WS)."""

    k: int = 1
    k_x: int = 1
    encoding: str = "binary"

    @property
    def L(self) -> int:
        return self.k * self.k_x


def tmac_schedule(cfg: ArrayConfig, a, w, k: int, k_x: int, encoding: str) -> TmacSchedule:
    """Cut ``A @ W`` into tMAC array beats, in the order of :func:`macforge.golden.gemm.schedule` with the
    reduction counted in groups: OS tiles are ``G`` beats ``(A[rows, group], slots[group, cols])``; WS
    weight tiles are ``R`` groups (one slot row of ``C x k_max`` words per array row) and one beat per
    activation row carries ``R`` groups of ``g`` activations."""
    from .gemm import check_operands

    _require_tmac(cfg)
    cfg.check_budgets(k, k_x, encoding)
    check_operands(cfg, a, w)
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    M, K = a.shape
    N = w.shape[1]
    R, C, g = cfg.rows, cfg.cols, cfg.g
    y = tmac_gemm(a, w, g, k, k_x, encoding)
    lim = 1 << (cfg.acc_width - 1)
    if y.size and (y.min() < -lim or y.max() >= lim):
        raise ValueError(f"result range [{y.min()}, {y.max()}] exceeds acc_width={cfg.acc_width}")
    G = -(-K // g)
    slots = pack_slots(cfg, weight_slots(cfg, w, k, encoding))       # (G, N, k_max)
    mt_n, nt_n = -(-M // R), -(-N // C)
    ap = np.zeros((mt_n * R, G * g), np.int64)
    ap[:M, :K] = a
    ag = ap.reshape(mt_n * R, G, g)
    kc_n = -(-G // R)
    sp = np.zeros((kc_n * R, nt_n * C, cfg.k_max), np.int64)
    sp[:G, :N] = slots
    yp = np.zeros((mt_n * R, nt_n * C), np.int64)
    yp[:M, :N] = y
    acts, flags, weights, outs, out_last, tiles = [], [], [], [], [], []
    if cfg.dataflow == "os":
        for mt in range(mt_n):
            for nt in range(nt_n):
                acts.append(np.transpose(ag[mt * R:(mt + 1) * R], (1, 0, 2)))   # (G, R, g)
                f = np.zeros((G, 3), np.uint8)
                f[0, 0] = 1
                f[-1, 1] = 1
                flags.append(f)
                weights.append(sp[:G, nt * C:(nt + 1) * C])                    # (G, C, k_max)
                outs.append(yp[mt * R:(mt + 1) * R, nt * C:(nt + 1) * C])
                ol = np.zeros(R, np.uint8)
                ol[-1] = 1
                out_last.append(ol)
                tiles.append(G)
    else:
        agk = np.zeros((M, kc_n * R, g), np.int64)
        agk[:, :G] = ag[:M]
        acts, flags, weights, outs, out_last, tiles = ws_tiles(
            cfg, M, nt_n, kc_n, lambda kc, nt: sp[kc * R:(kc + 1) * R, nt * C:(nt + 1) * C],
            lambda m0, m1, kc: agk[m0:m1, kc * R:(kc + 1) * R], yp)
    return TmacSchedule(cfg, np.concatenate(acts), np.concatenate(flags), np.concatenate(weights),
                        np.concatenate(outs)[:, :], np.concatenate(out_last), tiles, k, k_x, encoding)


def tmac_gemm_cycles(cfg: ArrayConfig, M: int, K: int, N: int, k: int, k_x: int) -> GemmCycles:
    """Model figures of ``(M x K) @ (K x N)`` on a tMAC array at budgets ``k``, ``k_x``: the
    :func:`macforge.golden.cycles.job_cycles` model with ``G = ceil(K/g)`` group steps of ``L = k k_x``
    cycles. ``utilization`` is useful MACs / (R C cycles); term-pair utilization is
    :func:`term_pair_utilization`."""
    _require_tmac(cfg)
    return steps_cycles(cfg, M, -(-K // cfg.g), N, cfg.cycles_per_step(k=k, k_x=k_x), M * N * K)


def term_pair_slots(M: int, K: int, N: int, g: int, k: int, k_x: int) -> int:
    """Term-pair slots a layer is budgeted: ``M * N * ceil(K/g) * k * k_x`` (data-independent)."""
    return M * N * (-(-K // g)) * k * k_x


def term_pair_utilization(cfg: ArrayConfig, M: int, K: int, N: int, k: int, k_x: int,
                          cycles: int) -> float:
    """Budgeted term pairs over the term-pair capacity ``R * C * cycles`` of the array."""
    return term_pair_slots(M, K, N, cfg.g, k, k_x) / (cfg.rows * cfg.cols * cycles)
