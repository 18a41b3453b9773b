"""tMAC processing elements: one term pair per cycle.

Per slot (``L = k * k_x`` slots per group of ``g`` products, :mod:`macforge.golden.tmac`) a PE sees a weight
term slot ``(v_w, s_w, e_w, i)`` and term ``j`` of each of the ``g`` activations of its group; it selects
activation ``i``'s term ``(v_x, s_x, e_x)`` (a ``g:1`` mux) and adds the term pair

    p = v_w v_x (-1)^(s_w xor s_x) 2^(e_w + e_x)

Binary accumulator with a shifter (the family's PEs): ``2^(e_w+e_x)`` is a one-hot decoder of the
exponent sum, the subtraction is the one's complement plus a carry-in, so a slot costs one
``acc_width`` adder: ``acc <- (first ? 0 : acc) + (neg ? ~h : h) + neg`` with ``h = v 2^e``. Two's
complement addition is exact modulo ``2^acc_width``, so partial sums may wrap: only the final sum, a
dot product of truncated operands with ``|x| <= 2^(a-1)``, ``|w| <= 2^(w-1)``, must fit (it does, by the
:mod:`macforge.golden.config` accumulator-width formula).

Exponent histogram (:class:`TmacHistOsPE`, measured for the area comparison, not used by the arrays):
one signed counter per exponent sum ``e`` (``a + w - 1`` of them, each ``bitlen(G k k_x) + 1`` bits),
``count[e] += +-1`` per pair; the edge converts ``sum_e count[e] 2^e`` once per output
(:class:`HistToBinary`).

Timing: as the other families' PEs (:mod:`macforge.rtl.mac`): registered state, ``result`` combinational in
the cycle of the ``last`` slot, nothing changes while ``en = 0`` or on a bubble.
"""

from __future__ import annotations

from amaranth import Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.config import ArrayConfig
from ..slot import CtlLayout
from .layouts import exp_sum_bits, group_slots_shape, slot_layout, symbol_layout


def _pair(m: Module, cfg: ArrayConfig, x_terms, slot, ctl_valid):
    """``(v, neg, e)`` of the term pair of ``slot`` with the selected activation term."""
    t = x_terms[slot.idx] if cfg.g > 1 else x_terms[0]
    v = Signal(name="pair_v")
    neg = Signal(name="pair_neg")
    e = Signal(exp_sum_bits(cfg), name="pair_e")
    m.d.comb += [v.eq(ctl_valid & slot.valid & t.valid), neg.eq(slot.sign ^ t.sign), e.eq(slot.exp + t.exp)]
    return v, neg, e


def _signed_onehot(m: Module, n: int, v, neg, e):
    """``(addend, carry)`` with ``addend + carry = v ? (neg ? -2^e : 2^e) : 0`` modulo ``2^n``."""
    h = Signal(n, name="onehot")
    sub = Signal(name="sub")
    add = Signal(n, name="addend")
    m.d.comb += [h.eq(Mux(v, Const(1, n) << e, 0)), sub.eq(v & neg), add.eq(h ^ sub.replicate(n))]
    return add, sub


class TmacOsPE(wiring.Component):
    """Output-stationary tMAC PE. Ports: ``en``, ``a`` (row symbol: term ``j`` of the ``g`` activations),
    ``w`` (the weight slot of this cycle, selected by the front end), ``ctl`` in; ``result``,
    ``result_valid`` out (see the module docstring for the math and timing)."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        super().__init__(wiring.Signature({
            "en": In(1),
            "a": In(symbol_layout(cfg)),
            "w": In(slot_layout(cfg)),
            "ctl": In(CtlLayout),
            "result": Out(signed(cfg.acc_width)),
            "result_valid": Out(1),
        }))

    def elaborate(self, platform):
        m = Module()
        n = self.cfg.acc_width
        acc = Signal(signed(n))
        nxt = Signal(signed(n))
        v, neg, e = _pair(m, self.cfg, self.a.x, self.w, self.ctl.valid)
        add, sub = _signed_onehot(m, n, v, neg, e)
        m.d.comb += nxt.eq(Mux(self.ctl.first, 0, acc) + add + sub)
        with m.If(self.en & self.ctl.valid):
            m.d.sync += acc.eq(nxt)
        m.d.comb += [self.result.eq(nxt), self.result_valid.eq(self.ctl.valid & self.ctl.last)]
        return m


class TmacWsPE(wiring.Component):
    """Weight-stationary tMAC PE: holds the ``k_max`` slots of its group (``w``) and pairs slot ``a.s``
    with the activation terms of this cycle: ``psum_out = psum_in +- 2^(e_w + e_x)`` (combinational;
    the array registers it)."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        super().__init__(wiring.Signature({
            "a": In(symbol_layout(cfg)),
            "w": In(group_slots_shape(cfg)),
            "ctl": In(CtlLayout),
            "psum_in": In(signed(cfg.acc_width)),
            "psum_out": Out(signed(cfg.acc_width)),
        }))

    def elaborate(self, platform):
        m = Module()
        n = self.cfg.acc_width
        slot = self.w[self.a.s] if self.cfg.k_max > 1 else self.w[0]
        v, neg, e = _pair(m, self.cfg, self.a.x, slot, self.ctl.valid)
        add, sub = _signed_onehot(m, n, v, neg, e)
        m.d.comb += self.psum_out.eq(self.psum_in + add + sub)
        return m


class TmacWsPost(Elaboratable):
    """Bottom of a WS column: ``P = sum`` of the column sums of the ``L`` slots ``bit0 .. msb`` of one
    group; emits ``P`` (registered, one cycle latency) with ``ctl_out.valid`` on the ``msb`` slot and the
    ``first`` flag of the group's ``bit0`` slot. Same ports as :class:`macforge.rtl.mac.WsPost`."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        self.en = Signal()
        self.s = Signal(signed(cfg.acc_width))
        self.ctl = Signal(CtlLayout)
        self.y = Signal(signed(cfg.acc_width))
        self.ctl_out = Signal(CtlLayout)

    def elaborate(self, platform):
        m = Module()
        n = self.cfg.acc_width
        part = Signal(signed(n))
        nxt = Signal(signed(n))
        m.d.comb += nxt.eq(Mux(self.ctl.bit0, 0, part) + self.s)
        first = Signal()
        with m.If(self.en):
            m.d.sync += [self.ctl_out.eq(self.ctl), self.ctl_out.valid.eq(self.ctl.valid & self.ctl.msb),
                         self.ctl_out.first.eq(Mux(self.ctl.bit0, self.ctl.first, first)),
                         self.y.eq(nxt)]
            with m.If(self.ctl.valid):
                m.d.sync += part.eq(nxt)
                with m.If(self.ctl.bit0):
                    m.d.sync += first.eq(self.ctl.first)
        return m


def hist_counter_bits(cfg: ArrayConfig) -> int:
    """Signed bits of one histogram lane: it counts at most ``ceil(max_k/g) * k_max * kx_max`` pairs."""
    return (-(-cfg.max_k // cfg.g) * cfg.k_max * cfg.kx_max).bit_length() + 1


class TmacHistOsPE(wiring.Component):
    """Output-stationary tMAC PE with an exponent histogram instead of a binary accumulator:
    ``cnt[e] <- (first ? 0 : cnt[e]) + (pair at e ? +-1 : 0)`` for every ``e`` in ``0 .. a+w-2``. Output
    ``hist`` (all lanes, combinational incl. the ``last`` slot) with ``result_valid``; the binary value is
    formed at the array edge by :class:`HistToBinary`. Same inputs and timing as :class:`TmacOsPE`."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        self.lanes = cfg.a_width + cfg.w_width - 1
        self.cb = hist_counter_bits(cfg)
        super().__init__(wiring.Signature({
            "en": In(1),
            "a": In(symbol_layout(cfg)),
            "w": In(slot_layout(cfg)),
            "ctl": In(CtlLayout),
            "hist": Out(data.ArrayLayout(signed(self.cb), self.lanes)),
            "result_valid": Out(1),
        }))

    def elaborate(self, platform):
        m = Module()
        v, neg, e = _pair(m, self.cfg, self.a.x, self.w, self.ctl.valid)
        for lane in range(self.lanes):
            cnt = Signal(signed(self.cb), name=f"cnt{lane}")
            nxt = Signal(signed(self.cb), name=f"nxt{lane}")
            hit = v & (e == lane)
            m.d.comb += nxt.eq(Mux(self.ctl.first, 0, cnt) + Mux(hit, Mux(neg, -1, 1), 0))
            with m.If(self.en & self.ctl.valid):
                m.d.sync += cnt.eq(nxt)
            m.d.comb += self.hist[lane].eq(nxt)
        m.d.comb += self.result_valid.eq(self.ctl.valid & self.ctl.last)
        return m


class HistToBinary(wiring.Component):
    """Edge converter: ``y = sum_e hist[e] 2^e`` (combinational shift-and-add tree, one per column)."""

    def __init__(self, cfg: ArrayConfig, lanes: int, cb: int):
        self.cfg = cfg
        super().__init__(wiring.Signature({"hist": In(data.ArrayLayout(signed(cb), lanes)),
                                           "y": Out(signed(cfg.acc_width))}))

    def elaborate(self, platform):
        m = Module()
        total = 0
        for e in range(len(self.hist)):
            total = total + (self.hist[e] << e) if e else self.hist[e]
        m.d.comb += self.y.eq(total)
        return m
