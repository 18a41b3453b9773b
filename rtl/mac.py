"""MAC families behind one processing-element (PE) interface.

A *MAC family* tells the systolic array three things:

* :meth:`MacFamily.symbol_shape` -- what one activation *symbol* on the row wires is per cycle (the full
  signed value for the parallel MAC, one bit for the bit-serial MAC);
* :meth:`MacFamily.os_pe` -- the output-stationary PE: an accumulator fed one slot per cycle;
* :meth:`MacFamily.ws_pe` / :meth:`MacFamily.ws_post` -- the weight-stationary PE (adds its per-cycle
  contribution to the partial sum flowing down its column) and the per-column unit at the bottom of the
  array that folds the per-cycle column sums of one product into a product sum.

A multi-cycle MAC spreads one product over ``L`` slots (``bit0`` ... ``msb``, see :mod:`macforge.rtl.slot`); the
array does not care how many, so a MAC whose cycles per product are bounded by a budget (the tMAC)
plugs in the same way. All PEs are registered: their outputs change at the clock edge after the slot,
and only when the array advances (``en``).

OS PE ports (:class:`OsPE`): ``a`` (symbol), ``w`` (signed weight), ``ctl`` (slot control), ``en``
(array advances) in; ``result`` / ``result_valid`` out, combinational: the finished dot product during
the cycle that carries the ``last`` slot.

WS PE ports (:class:`WsPE`): ``a``, ``w`` (the stationary weight), ``ctl``, ``psum_in`` in; ``psum_out``
(combinational ``psum_in + contribution``; the array registers it) out.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.config import ArrayConfig
from .dsp import RegisteredProduct
from .slot import CtlLayout


def os_pe_signature(cfg: ArrayConfig, symbol_shape) -> wiring.Signature:
    return wiring.Signature({
        "en": In(1),
        "a": In(symbol_shape),
        "w": In(signed(cfg.w_width)),
        "ctl": In(CtlLayout),
        "result": Out(signed(cfg.acc_width)),
        "result_valid": Out(1),
    })


def ws_pe_signature(cfg: ArrayConfig, symbol_shape) -> wiring.Signature:
    return wiring.Signature({
        "a": In(symbol_shape),
        "w": In(signed(cfg.w_width)),
        "ctl": In(CtlLayout),
        "psum_in": In(signed(cfg.acc_width)),
        "psum_out": Out(signed(cfg.acc_width)),
    })


def with_operand_d_inputs(cfg: ArrayConfig, sig: wiring.Signature) -> wiring.Signature:
    """Add ``a_next``/``w_next`` to a parallel PE's signature when it registers its product
    (``cfg.pipeline``): the D inputs of the array's registers that hold ``a`` and ``w``, which the ECP5
    target loads into the DSP block's own input registers (:class:`macforge.rtl.dsp.RegisteredProduct`)."""
    if not cfg.pipeline:
        return sig
    members = dict(sig.members.items())
    members["a_next"] = In(signed(cfg.a_width))
    members["w_next"] = In(signed(cfg.w_width))
    return wiring.Signature(members)


class ParallelOsPE(wiring.Component):
    """Output-stationary parallel MAC: ``acc <- (first ? 0 : acc) + a * w`` once per valid slot.

    Timing: one product per cycle; ``result`` is ``acc`` including the ``last`` slot's product,
    combinational in that cycle. With ``cfg.pipeline`` it comes ``cfg.os_pipe = 2`` advancing cycles
    later: the product is registered by :class:`macforge.rtl.dsp.RegisteredProduct` (on the ECP5 target
    inside the DSP block, whose input registers load ``a_next``/``w_next``) and once more in the fabric
    (the route out of a DSP block is long: the accumulator's adder starts at a flip-flop next to it).
    A cycle with ``en = 0`` changes nothing.
    """

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        super().__init__(with_operand_d_inputs(cfg, os_pe_signature(cfg, signed(cfg.a_width))))

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self.cfg.acc_width))
        nxt = Signal(signed(self.cfg.acc_width))
        if self.cfg.os_pipe:
            # pipelining option: the product (and its slot control) is registered twice, the accumulator
            # adds it two cycles later: result two cycles later, same throughput
            mul = m.submodules.mul = RegisteredProduct(self.cfg.a_width, self.cfg.w_width)
            m.d.comb += [mul.en.eq(self.en), mul.a.eq(self.a), mul.b.eq(self.w),
                         mul.a_d.eq(self.a_next), mul.b_d.eq(self.w_next)]
            prod = Signal(signed(self.cfg.a_width + self.cfg.w_width))
            ctl1 = Signal.like(self.ctl)
            ctl = Signal.like(self.ctl)
            # The accumulator register holds base = (valid & first ? 0 : acc) -- what the next product is
            # added to -- decided one cycle ahead from ctl1 (the slot control one cycle ahead), so the adder
            # runs from two flip-flops with nothing in front of its carry chain. A bubble keeps it.
            base = acc
            restart = Signal()
            m.d.comb += [nxt.eq(base + prod), restart.eq(ctl1.valid & ctl1.first)]
            with m.If(self.en):
                m.d.sync += [prod.eq(mul.p), ctl1.eq(self.ctl), ctl.eq(ctl1),
                             base.eq(Mux(restart, 0, Mux(ctl.valid, nxt, base)))]
        else:
            prod, ctl = self.a * self.w, self.ctl
            m.d.comb += nxt.eq(Mux(ctl.first, 0, acc) + prod)
            with m.If(self.en & ctl.valid):
                m.d.sync += acc.eq(nxt)
        m.d.comb += [self.result.eq(nxt), self.result_valid.eq(ctl.valid & ctl.last)]
        return m


class BitSerialOsPE(wiring.Component):
    """Output-stationary bit-serial MAC: the activation arrives LSB first, one bit per cycle.

    Math (two's complement, precision ``p``): ``a * w = sum_{t<p-1} a_t w 2^t - a_{p-1} w 2^(p-1)``.
    A shift register of ``w_width + a_width - 1`` bits holds ``w * 2^t`` (loaded with ``w`` on ``bit0``,
    doubled every slot), so each cycle needs only AND gates and one adder with carry-in:
    ``acc += a_t ? (msb ? -w2^t : w2^t) : 0`` with ``-x = ~x + 1``.
    Timing: ``p`` cycles per product; ``result`` valid in the cycle of the ``last`` slot. With
    ``cfg.pipeline`` (``cfg.os_pipe = 1``) the result is the accumulator register itself and ``result_valid``
    a flag registered with it, one advancing cycle later: the drain register then loads a flip-flop, and the
    adder's sum ends in the accumulator, not in the drain select (ECP5 8x8: README, FPGA section). A cycle with
    ``en = 0`` changes nothing (the flag and the accumulator hold, so the result waits for the next advance).
    """

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        super().__init__(os_pe_signature(cfg, unsigned(1)))

    def elaborate(self, platform):
        m = Module()
        n = self.cfg.acc_width
        sw = self.cfg.w_width + self.cfg.a_width - 1   # holds w * 2^t for every t <= a_width - 1
        acc = Signal(signed(n))
        wsh = Signal(signed(sw))           # w * 2^t for the current bit position t
        cur = Signal(signed(sw))
        addend = Signal(signed(sw))
        nxt = Signal(signed(n))
        # acc +- (a_t ? w 2^t : 0) as ONE adder: subtract = add the one's complement plus a carry-in
        sub = self.ctl.msb & self.a
        m.d.comb += [
            cur.eq(Mux(self.ctl.bit0, self.w, wsh)),
            addend.eq(Mux(self.a, cur, 0) ^ sub.replicate(sw)),
            nxt.eq(Mux(self.ctl.first, 0, acc) + addend + sub),
        ]
        with m.If(self.en & self.ctl.valid):
            m.d.sync += [acc.eq(nxt), wsh.eq(cur << 1)]
        if self.cfg.os_pipe:
            # pipelining option: the finished sum is read from the accumulator one advancing cycle later
            done = Signal()
            with m.If(self.en):
                m.d.sync += done.eq(self.ctl.valid & self.ctl.last)
            m.d.comb += [self.result.eq(acc), self.result_valid.eq(done)]
        else:
            m.d.comb += [self.result.eq(nxt), self.result_valid.eq(self.ctl.valid & self.ctl.last)]
        return m


class ParallelWsPE(wiring.Component):
    """Weight-stationary parallel MAC: ``psum_out = psum_in + a * w`` (combinational).

    With ``cfg.pipeline`` the PE also registers its contribution (the array adds it to the partial sum
    :attr:`contrib_latency` = 2 advancing cycles after the slot): extra ports ``en``, ``a_next``/``w_next``
    (D inputs of the array's registers holding ``a`` and ``w``) and ``contrib`` = ``valid ? a * w : 0``
    of the slot two advancing cycles back, a register: the product registered by
    :class:`macforge.rtl.dsp.RegisteredProduct` (inside the DSP block on ECP5), then gated and registered
    again in the fabric next to the column adder. ``psum_out`` stays the combinational form (used by the
    unpipelined array and by unit tests).
    """

    contrib_latency = 2

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        sig = ws_pe_signature(cfg, signed(cfg.a_width))
        if cfg.pipeline:
            members = dict(with_operand_d_inputs(cfg, sig).members.items())
            members["en"] = In(1)
            members["contrib"] = Out(signed(cfg.acc_width))
            sig = wiring.Signature(members)
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.psum_out.eq(self.psum_in + Mux(self.ctl.valid, self.a * self.w, 0))
        if self.cfg.pipeline:
            mul = m.submodules.mul = RegisteredProduct(self.cfg.a_width, self.cfg.w_width)
            valid = Signal()
            contrib = Signal(signed(self.cfg.acc_width))
            m.d.comb += [mul.en.eq(self.en), mul.a.eq(self.a), mul.b.eq(self.w),
                         mul.a_d.eq(self.a_next), mul.b_d.eq(self.w_next)]
            with m.If(self.en):
                m.d.sync += [valid.eq(self.ctl.valid), contrib.eq(Mux(valid, mul.p, 0))]
            m.d.comb += self.contrib.eq(contrib)
        return m


class BitSerialWsPE(wiring.Component):
    """Weight-stationary bit-serial MAC: ``psum_out = psum_in + (a_t ? w : 0)``: AND gates and an
    adder. The column's sum of one bit position is weighted by ``+-2^t`` once per column, in
    :class:`BitSerialWsPost`."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        super().__init__(ws_pe_signature(cfg, unsigned(1)))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.psum_out.eq(self.psum_in + Mux(self.ctl.valid & self.a, self.w, 0))
        return m


class WsPost(Elaboratable):
    """Bottom-of-column unit (WS): turns per-slot column sums into one product sum per activation row.

    Ports: ``en``, ``s`` (column sum of this slot), ``ctl`` in; ``y``, ``ctl_out`` out, registered
    (one cycle latency); ``ctl_out.valid`` is set once per product (on the ``msb`` slot).
    """

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        self.en = Signal()
        self.s = Signal(signed(cfg.acc_width))
        self.ctl = Signal(CtlLayout)
        self.y = Signal(signed(cfg.acc_width))
        self.ctl_out = Signal(CtlLayout)


class ParallelWsPost(WsPost):
    """Parallel MAC: every slot is a whole product; a register."""

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += [self.y.eq(self.s), self.ctl_out.eq(self.ctl)]
        return m


class BitSerialWsPost(WsPost):
    """Bit-serial MAC: ``P = sum_t (t == p-1 ? -1 : 1) * s_t * 2^t`` over the slots ``bit0`` .. ``msb``
    of one product; emits ``P`` (registered) on the ``msb`` slot. One shifter per column, not per PE."""

    def elaborate(self, platform):
        m = Module()
        n = self.cfg.acc_width
        part = Signal(signed(n))
        pos = Signal(range(self.cfg.a_width))
        sh = Signal(signed(n))
        nxt = Signal(signed(n))
        m.d.comb += [
            sh.eq(self.s << Mux(self.ctl.bit0, 0, pos)),
            nxt.eq(Mux(self.ctl.bit0, 0, part) + Mux(self.ctl.msb, -sh, sh)),
        ]
        first = Signal()     # ``first`` rides on the bit0 slot; the product leaves on the msb slot
        with m.If(self.en):
            m.d.sync += [self.ctl_out.eq(self.ctl), self.ctl_out.valid.eq(self.ctl.valid & self.ctl.msb),
                         self.ctl_out.first.eq(Mux(self.ctl.bit0, self.ctl.first, first)),
                         self.y.eq(nxt)]
            with m.If(self.ctl.valid):
                m.d.sync += [part.eq(nxt), pos.eq(Mux(self.ctl.bit0, 1, pos + 1))]
                with m.If(self.ctl.bit0):
                    m.d.sync += first.eq(self.ctl.first)
        return m


class MacFamily:
    """Factory for one MAC kind's pieces (see the module docstring).

    Besides the PEs a family states the shapes of its operands: ``act_shape`` (one row's element of an
    input beat: a signed activation, or for the tMAC a group of ``g``), ``weight_shape`` (one column's
    element of a weight row: a signed weight, or the tMAC's ``k_max`` term slots of a group; the WS PE's
    stationary weight) and ``os_weight_shape`` (what the OS column wires carry per cycle: the weight, or
    the tMAC's weight slot of this cycle).
    """

    def __init__(self, symbol_shape, os_pe, ws_pe, ws_post, act_shape=None, weight_shape=None,
                 os_weight_shape=None):
        self._symbol_shape = symbol_shape
        self.os_pe, self.ws_pe, self.ws_post = os_pe, ws_pe, ws_post
        self._act = act_shape or (lambda cfg: signed(cfg.a_width))
        self._wgt = weight_shape or (lambda cfg: signed(cfg.w_width))
        self._os_wgt = os_weight_shape or self._wgt

    def symbol_shape(self, cfg: ArrayConfig):
        return self._symbol_shape(cfg)

    def act_shape(self, cfg: ArrayConfig):
        return self._act(cfg)

    def weight_shape(self, cfg: ArrayConfig):
        return self._wgt(cfg)

    def os_weight_shape(self, cfg: ArrayConfig):
        return self._os_wgt(cfg)


def _tmac_family() -> MacFamily:
    from .tmac import layouts as tl
    from .tmac.pe import TmacOsPE, TmacWsPE, TmacWsPost
    return MacFamily(tl.symbol_layout, TmacOsPE, TmacWsPE, TmacWsPost, act_shape=tl.group_act_shape,
                     weight_shape=tl.group_slots_shape, os_weight_shape=tl.slot_layout)


FAMILIES = {
    "parallel": MacFamily(lambda cfg: signed(cfg.a_width), ParallelOsPE, ParallelWsPE, ParallelWsPost),
    "bitserial": MacFamily(lambda cfg: unsigned(1), BitSerialOsPE, BitSerialWsPE, BitSerialWsPost),
    "tmac": _tmac_family(),
}


def family(cfg: ArrayConfig) -> MacFamily:
    """The MAC family of ``cfg``; a packed array (``cfg.alpha``, column combining) gets the family of
    :func:`macforge.rtl.packed.packed_family` (per-PE activation multiplexer)."""
    if getattr(cfg, "alpha", None) is not None:
        from .packed import packed_family
        return packed_family(cfg)
    return FAMILIES[cfg.mac]
