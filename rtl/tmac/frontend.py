"""tMAC front end: turns accepted input beats into term-pair slots (one per cycle) at the array's edge.

A beat carries one *group step*: ``R`` rows of ``g`` activations (``a``) and, OS only, ``C`` columns of
``k_max`` weight term slots (``extra``), plus ``first``/``last`` (and WS ``tlast``). The run-time budgets
``k`` (``1..k_max``) and ``k_x`` (``1..kx_max``) and the encoding (``hese``) are latched with each beat
(values outside the ranges are clamped into them). The beat is held for ``L = k * k_x`` cycles; slot
``t = s * k_x + j`` (weight slot ``s`` outer, activation term ``j`` inner) presents:

* on every row: term ``j`` of each of the ``g`` activations, from a :class:`~.encoder.TermSelect` per
  activation (HESE or binary, most significant first, exactly :func:`macforge.golden.terms.data_budget`);
  WS also the slot index ``s`` (the stationary PE selects its slot);
* OS, on every column: weight slot ``s`` of the beat;
* ``bit0`` on ``t = 0``, ``msb`` on ``t = L - 1``; ``first``/``last``/``tlast`` ride on those.

Transfer rules, ``hold_last``, stall behaviour and the ``beat_cycles`` output are those of
:class:`macforge.rtl.frontend.FrontEnd` (``ready`` while empty or emitting the beat's final slot, so
back-to-back beats leave no bubble; ``en = 0`` freezes everything).
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, Signal
from amaranth.lib import data

from macforge.golden.config import ArrayConfig
from ..slot import CtlLayout
from .encoder import TermSelect
from .layouts import group_act_shape, group_slots_shape, slot_layout, symbol_layout


class TmacFrontEnd(Elaboratable):
    def __init__(self, cfg: ArrayConfig, with_weights: bool):
        self.cfg = cfg
        R, C = cfg.rows, cfg.cols
        self.en = Signal()
        self.valid = Signal()
        self.ready = Signal()
        self.a = Signal(data.ArrayLayout(group_act_shape(cfg), R))
        self.first = Signal()
        self.last = Signal()
        self.tlast = Signal()
        self.wsel = Signal()
        self.extra = Signal(data.ArrayLayout(group_slots_shape(cfg), C)) if with_weights else None
        self.k = Signal(range(cfg.k_max + 1), init=cfg.k_max)
        self.k_x = Signal(range(cfg.kx_max + 1), init=cfg.kx_max)
        self.hese = Signal(init=int(cfg.encodings == ("hese",)))
        self.hold_last = Signal()
        self.slot_a = Signal(data.ArrayLayout(symbol_layout(cfg), R))
        self.slot_ctl = Signal(CtlLayout)
        self.slot_extra = Signal(data.ArrayLayout(slot_layout(cfg), C)) if with_weights else None
        self.accepted = Signal()
        self.beat_cycles = Signal(range(cfg.max_cycles_per_step + 1))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C, g = cfg.rows, cfg.cols, cfg.g

        busy = Signal()
        first, last, tlast, wsel = Signal(), Signal(), Signal(), Signal()
        vals = Signal.like(self.a)
        slots = Signal.like(self.extra) if self.extra is not None else None
        si = Signal(range(max(cfg.k_max, 2)))        # weight slot s
        ji = Signal(range(max(cfg.kx_max, 2)))       # activation term j
        kk = Signal(range(cfg.k_max + 1), init=cfg.k_max)
        kxx = Signal(range(cfg.kx_max + 1), init=cfg.kx_max)
        hese = Signal(init=int(cfg.encodings == ("hese",)))

        is_bit0, is_msb, j_end = Signal(), Signal(), Signal()
        m.d.comb += [j_end.eq(ji == kxx - 1), is_bit0.eq((si == 0) & (ji == 0)),
                     is_msb.eq((si == kk - 1) & j_end)]
        emits_last = busy & last & is_msb
        hold = emits_last & self.hold_last
        finishing = busy & is_msb & ~hold
        m.d.comb += [self.ready.eq(self.en & (~busy | finishing)), self.accepted.eq(self.valid & self.ready)]

        m.d.comb += [
            self.slot_ctl.valid.eq(busy & ~hold),
            self.slot_ctl.first.eq(first & is_bit0),
            self.slot_ctl.last.eq(last & is_msb),
            self.slot_ctl.bit0.eq(is_bit0),
            self.slot_ctl.msb.eq(is_msb),
            self.slot_ctl.wsel.eq(wsel),
            self.slot_ctl.tlast.eq(tlast & is_msb),
        ]
        # activation terms of this cycle: one TermSelect per held activation
        for r in range(R):
            for i in range(g):
                enc = TermSelect(cfg.a_width, cfg.kx_max, cfg.encodings)
                m.submodules[f"enc_{r}_{i}"] = enc
                m.d.comb += [enc.x.eq(vals[r][i]), enc.j.eq(ji), enc.hese.eq(hese),
                             self.slot_a[r].x[i].eq(enc.t)]
            if cfg.dataflow == "ws":
                m.d.comb += self.slot_a[r].s.eq(si)
        if slots is not None:
            for c in range(C):
                m.d.comb += self.slot_extra[c].eq(slots[c][si] if cfg.k_max > 1 else slots[c][0])

        # run-time budgets, clamped into range, latched with the beat
        k_in = Signal.like(kk)
        kx_in = Signal.like(kxx)
        def clamp(v, hi):   # no compare that is constant for the port width (Verilator CMPCONST)
            top = v if (1 << len(v)) - 1 <= hi else Mux(v > hi, hi, v)
            return Mux(v == 0, 1, top)

        m.d.comb += [k_in.eq(clamp(self.k, cfg.k_max)), kx_in.eq(clamp(self.k_x, cfg.kx_max)),
                     self.beat_cycles.eq(k_in * kx_in)]
        with m.If(self.en):
            with m.If(self.accepted):
                m.d.sync += [busy.eq(1), si.eq(0), ji.eq(0), vals.eq(self.a), first.eq(self.first),
                             last.eq(self.last), tlast.eq(self.tlast), wsel.eq(self.wsel),
                             kk.eq(k_in), kxx.eq(kx_in)]
                if len(cfg.encodings) == 2:
                    m.d.sync += hese.eq(self.hese)
                if slots is not None:
                    m.d.sync += slots.eq(self.extra)
            with m.Elif(finishing):
                m.d.sync += busy.eq(0)
            with m.Elif(busy & ~hold):
                with m.If(j_end):
                    m.d.sync += [ji.eq(0), si.eq(si + 1)]
                with m.Else():
                    m.d.sync += ji.eq(ji + 1)
        return m
