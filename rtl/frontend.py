"""Front end: turns accepted input beats into slots (one per cycle) at the array's edge.

A beat carries one activation column vector ``a[0..R-1]`` (plus a payload the dataflow carries along,
e.g. the OS weight row) and the flags ``first``/``last`` (and WS ``tlast``). The front end holds the beat
for ``L`` cycles and emits ``L`` slots:

* parallel MAC: ``L = 1``; the slot carries ``a`` as is.
* bit-serial MAC: ``L = p``, the run-time precision latched with the beat (``precision`` port, values
  outside ``1..a_width`` are clamped into it). Each activation is first saturated to the ``p``-bit signed
  range ``[-2^(p-1), 2^(p-1)-1]`` (what the golden model's bit-serial mode does), then shifted out LSB
  first, one bit per slot; ``bit0`` marks bit 0 and ``msb`` bit ``p-1``.

Transfer rules: ``ready`` (combinational) is high when the array advances and the front end is empty or
emitting the final slot of its beat (so back-to-back beats leave no bubble). ``hold_last`` from the array
delays the emission of a slot that carries ``last`` (output-stationary drain spacing); the held cycle is a
bubble. When the array stalls (``en = 0``) nothing changes.
"""

from __future__ import annotations

from amaranth import Cat, Elaboratable, Module, Mux, Signal, signed
from amaranth.lib import data
from amaranth.lib.wiring import In

from macforge.golden.config import ArrayConfig
from .mac import family
from .slot import CtlLayout


def with_precision_port(cfg: ArrayConfig, members: dict) -> dict:
    """Add the run-time inputs of the MAC to an array signature: bit-serial ``precision``
    (``1..a_width``); tMAC ``k`` (``1..k_max``), ``k_x`` (``1..kx_max``) and, when the build supports
    both encodings, ``hese`` (1 = HESE, 0 = binary)."""
    if cfg.mac == "bitserial":
        members["precision"] = In(range(cfg.a_width + 1), init=cfg.a_width)
    if cfg.mac == "tmac":
        members["k"] = In(range(cfg.k_max + 1), init=cfg.k_max)
        members["k_x"] = In(range(cfg.kx_max + 1), init=cfg.kx_max)
        if len(cfg.encodings) == 2:
            members["hese"] = In(1)
    return members


def make_frontend(cfg: ArrayConfig, with_weights: bool = False):
    """The family's front end: :class:`FrontEnd` (OS carries the weight row as ``extra``), or the tMAC's
    :class:`macforge.rtl.tmac.frontend.TmacFrontEnd`."""
    if cfg.mac == "tmac":
        from .tmac.frontend import TmacFrontEnd
        return TmacFrontEnd(cfg, with_weights)
    return FrontEnd(cfg, extra_shape=data.ArrayLayout(signed(cfg.w_width), cfg.cols) if with_weights else None)


def connect_runtime(m, cfg: ArrayConfig, fe, top) -> None:
    """Drive the front end's run-time inputs from the array ports of :func:`with_precision_port`."""
    if cfg.mac == "bitserial":
        m.d.comb += fe.precision.eq(top.precision)
    if cfg.mac == "tmac":
        m.d.comb += [fe.k.eq(top.k), fe.k_x.eq(top.k_x)]
        if len(cfg.encodings) == 2:
            m.d.comb += fe.hese.eq(top.hese)


class FrontEnd(Elaboratable):
    def __init__(self, cfg: ArrayConfig, extra_shape=None):
        self.cfg = cfg
        R, aw = cfg.rows, cfg.a_width
        self.bitserial = cfg.mac == "bitserial"
        # --- beat side
        self.en = Signal()                     # array advances this cycle
        self.valid = Signal()
        self.ready = Signal()
        # a packed array (column combining) carries ``lanes = alpha`` activations per row; the front end
        # treats them as R * lanes independent lanes (row r, lane l = lane r * lanes + l)
        self.a = Signal(data.ArrayLayout(signed(aw), R * cfg.lanes))
        self.first = Signal()
        self.last = Signal()
        self.tlast = Signal()
        self.wsel = Signal()
        self.extra = Signal(extra_shape) if extra_shape is not None else None
        self.precision = Signal(range(aw + 1), init=aw)
        self.hold_last = Signal()
        # --- slot side (registers)
        sym = family(cfg).symbol_shape(cfg)
        self.slot_a = Signal(data.ArrayLayout(sym, R))
        self.slot_ctl = Signal(CtlLayout)
        self.slot_extra = Signal(extra_shape) if extra_shape is not None else None
        self.accepted = Signal()               # a beat was taken this cycle (valid & ready)
        self.beat_cycles = Signal(range(aw + 1))  # L of the beat offered now: clamped p, or 1 (parallel)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, aw = cfg.rows * cfg.lanes, cfg.a_width     # lanes (rows x alpha for a packed array)

        busy = Signal()
        first = Signal()
        last = Signal()
        tlast = Signal()
        wsel = Signal()
        vals = Signal(data.ArrayLayout(signed(aw), R))   # held beat (bit-serial: shifted right per slot)
        extra = Signal.like(self.extra) if self.extra is not None else None
        # Slot position as registered flags (no compare on the ready path): ``is_bit0`` on the first slot
        # of the held beat, ``is_msb`` on its last; ``left`` = slots after the current one.
        left = Signal(range(aw))
        is_bit0 = Signal(init=1)
        is_msb = Signal(init=not self.bitserial)
        emits_last = busy & last & is_msb
        hold = emits_last & self.hold_last
        finishing = busy & is_msb & ~hold
        m.d.comb += [
            self.ready.eq(self.en & (~busy | finishing)),
            self.accepted.eq(self.valid & self.ready),
        ]

        # The slot currently presented (combinational view of the held beat).
        slot_ctl = Signal(CtlLayout)
        m.d.comb += [
            slot_ctl.valid.eq(busy & ~hold),
            slot_ctl.first.eq(first & is_bit0),
            slot_ctl.last.eq(last & is_msb),
            slot_ctl.bit0.eq(is_bit0),
            slot_ctl.msb.eq(is_msb),
            slot_ctl.wsel.eq(wsel),
            slot_ctl.tlast.eq(tlast & is_msb),
        ]
        if self.bitserial:
            slot_a = Cat(vals[i][0] for i in range(R))
        else:
            slot_a = vals
        m.d.comb += [self.slot_ctl.eq(slot_ctl), self.slot_a.eq(slot_a)]
        if extra is not None:
            m.d.comb += self.slot_extra.eq(extra)

        # Precision clamp and saturation of the incoming beat (bit-serial only).
        p_in = Signal(range(aw + 1))
        m.d.comb += p_in.eq(Mux(self.precision < 1, 1, Mux(self.precision > aw, aw, self.precision)))
        m.d.comb += self.beat_cycles.eq(p_in if self.bitserial else 1)
        sat = Signal(data.ArrayLayout(signed(aw), R))
        if self.bitserial:
            # x fits p signed bits iff its bits p-1 .. aw-1 all equal the sign; else it saturates to
            # hi = 2^(p-1) - 1 (x > 0) or lo = -2^(p-1) (x < 0). Bit masks instead of comparators: a few
            # LUT levels, no carry chain. ``upper[k]`` = (k >= p-1); ``hi`` has ones below bit p-1.
            upper = Signal(aw)
            m.d.comb += upper.eq(Cat(*[p_in <= k + 1 for k in range(aw)]))
            hi = Signal(aw)
            m.d.comb += hi.eq(~upper)
            for i in range(R):
                x = self.a[i].as_unsigned()
                sign = x[aw - 1]
                over = Signal(name=f"over{i}")
                under = Signal(name=f"under{i}")
                m.d.comb += [over.eq(~sign & (x & upper).any()), under.eq(sign & (~x & upper).any())]
                m.d.comb += sat[i].eq(Mux(over, hi, Mux(under, ~hi, x)))
        else:
            m.d.comb += sat.eq(self.a)

        with m.If(self.en):
            with m.If(self.accepted):
                m.d.sync += [busy.eq(1), vals.eq(sat), first.eq(self.first),
                             last.eq(self.last), tlast.eq(self.tlast), wsel.eq(self.wsel), is_bit0.eq(1)]
                if self.bitserial:
                    m.d.sync += [left.eq(p_in - 1), is_msb.eq(p_in == 1)]
                if extra is not None:
                    m.d.sync += extra.eq(self.extra)
            with m.Elif(finishing):
                m.d.sync += busy.eq(0)
            with m.Elif(busy & ~hold):
                m.d.sync += is_bit0.eq(0)
                if self.bitserial:
                    m.d.sync += [left.eq(left - 1), is_msb.eq(left == 1)]
                    m.d.sync += [vals[i].eq(vals[i] >> 1) for i in range(R)]
        return m
