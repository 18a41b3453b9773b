"""Activation term encoder: a signed ``width``-bit value -> its ``k_x`` largest terms, most significant first.

Math (exactly :func:`macforge.golden.terms.data_budget`, term list :func:`macforge.golden.tmac.activation_terms`).
``m = |x|`` (``<= 2^(width-1)``, so ``width`` unsigned bits), bits ``b_p``. Digits at ``p = 0 .. width-1``:

* binary: ``d_p = b_p``;
* HESE: ``+1`` where ``b_p`` is an isolated one or ``p - 1`` is the top of a run of ones
  (``b_(p-1) b_(p-2) = 11``, ``b_p = 0``); ``-1`` where ``p`` is the bottom of a run (``b_(p+1) b_p b_(p-1) = 110``).
  A run ending at bit ``width-2`` carries into ``width-1``; none can carry further because ``m <= 2^(width-1)``.

A term's sign bit is ``(x < 0) xor (d_p = -1)``. Rank: ``r_p`` = number of nonzero digits above ``p``;
term ``j`` is the digit with ``d_p != 0`` and ``r_p = j`` (``valid = 0`` if none). :class:`TermEncoder` emits
terms ``0 .. kx_max-1`` and masks ``j >= k_x`` (an invalid term is all zeros); :class:`TermSelect` emits one term, the one of rank ``j``
(the front end's per-cycle view). Both are combinational (no latency); ``hese`` selects the encoding at
run time when the build supports both.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Signal, signed, unsigned
from amaranth.lib import data

from macforge.golden.tmac import exp_bits


def _term_layout(width: int) -> data.StructLayout:
    return data.StructLayout({"valid": 1, "sign": 1, "exp": unsigned(exp_bits(width))})


def _digits(m: Module, x, hese, width: int, encodings: tuple):
    """``(nz, tsign, rank)`` per position ``p`` (lists indexed by ``p``)."""
    neg = x[width - 1]
    mag = Signal(width)
    m.d.comb += mag.eq((x ^ neg.replicate(width)) + neg)
    b = [mag[p] for p in range(width)]
    above = [b[p + 1] if p + 1 < width else 0 for p in range(width)]
    below = [b[p - 1] if p else 0 for p in range(width)]
    nz, tsign = [], []
    for p in range(width):
        h_pos = (b[p] & ~above[p] & ~below[p]) | ((b[p - 1] & ~b[p] & (b[p - 2] if p >= 2 else 0)) if p else 0)
        h_neg = b[p] & above[p] & ~below[p]
        pos_p, neg_p = Signal(name=f"pos{p}"), Signal(name=f"neg{p}")
        if encodings == ("binary",):
            m.d.comb += [pos_p.eq(b[p]), neg_p.eq(0)]
        elif encodings == ("hese",):
            m.d.comb += [pos_p.eq(h_pos), neg_p.eq(h_neg)]
        else:
            m.d.comb += [pos_p.eq(hese.any() & h_pos | ~hese.any() & b[p]), neg_p.eq(hese.any() & h_neg)]
        nz.append(pos_p | neg_p)
        tsign.append(neg ^ neg_p)
    rank = [None] * width
    cnt = 0
    for p in range(width - 1, -1, -1):
        r = Signal(range(width + 1), name=f"rank{p}")
        m.d.comb += r.eq(cnt)
        rank[p] = r
        cnt = r + nz[p]
    return nz, tsign, rank


def _pick(m: Module, term, nz, tsign, rank, j, width: int, enable=1):
    valid = 0
    sign = 0
    exp = 0
    for p in range(width):
        hit = nz[p] & (rank[p] == j) & enable      # an invalid term is all zeros
        valid = valid | hit
        sign = sign | (hit & tsign[p])
        exp = exp | (hit.replicate(exp_bits(width)) & p)
    m.d.comb += [term.valid.eq(valid), term.sign.eq(sign), term.exp.eq(exp)]


class TermEncoder(Elaboratable):
    """All ``kx_max`` terms at once. Ports: ``x`` (signed ``width``), ``k_x`` (``1..kx_max``), ``hese`` in;
    ``t`` (``kx_max`` terms ``(valid, sign, exp)``) out, combinational."""

    def __init__(self, width: int, kx_max: int, encodings=("binary", "hese")):
        self.width, self.kx_max, self.encodings = width, kx_max, tuple(encodings)
        self.x = Signal(signed(width))
        self.k_x = Signal(range(kx_max + 1), init=kx_max)
        self.hese = Signal()
        self.t = Signal(data.ArrayLayout(_term_layout(width), kx_max))

    def elaborate(self, platform):
        m = Module()
        nz, tsign, rank = _digits(m, self.x, self.hese, self.width, self.encodings)
        for j in range(self.kx_max):
            _pick(m, self.t[j], nz, tsign, rank, j, self.width, enable=(j < self.k_x))
        return m


class TermSelect(Elaboratable):
    """One term: the one of rank ``j`` (``0 .. kx_max-1``). Ports: ``x``, ``j``, ``hese`` in; ``t`` out,
    combinational. The front end steps ``j`` through ``0 .. k_x-1``, so it never needs the mask."""

    def __init__(self, width: int, kx_max: int, encodings=("binary", "hese")):
        self.width, self.kx_max, self.encodings = width, kx_max, tuple(encodings)
        self.x = Signal(signed(width))
        self.j = Signal(range(max(kx_max, 2)))
        self.hese = Signal()
        self.t = Signal(_term_layout(width))

    def elaborate(self, platform):
        m = Module()
        nz, tsign, rank = _digits(m, self.x, self.hese, self.width, self.encodings)
        _pick(m, self.t, nz, tsign, rank, self.j, self.width)
        return m
