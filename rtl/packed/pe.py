"""Packed (column-combining) WS PEs: an ``alpha``-input activation multiplexer in front of the MAC.

Operands (``alpha = cfg.alpha``, ``sb = cfg.sel_bits = bitlen(alpha - 1)``):

* the row symbol is ``alpha`` lanes: ``ArrayLayout(signed(a_width), alpha)`` for the parallel MAC, ``alpha``
  bits (bit ``l`` = the current bit of lane ``l``'s activation) for the bit-serial MAC;
* the stationary weight is ``{w: signed(w_width), sel: unsigned(sb)}`` (``w`` in the low bits, ``sel``
  above it; the packet lane of :func:`macforge.golden.colcomb.encode_packed`); with ``alpha = 1`` it is the
  plain signed weight (``sb = 0``, lane 0 always).

Math: ``psum_out = psum_in + (valid ? a[sel] * w : 0)`` (parallel) and
``psum_out = psum_in + (valid & a_t[sel] ? w : 0)`` (bit-serial; the column unit weighs bit ``t`` by
``+-2^t`` exactly as for the plain array). Combinational, like every WS PE (the array registers
``psum_out``), so the packed array has the plain array's latency.
"""

from __future__ import annotations

from amaranth import Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.config import ArrayConfig
from macforge.rtl.mac import BitSerialWsPost, MacFamily, ParallelWsPost
from macforge.rtl.slot import CtlLayout


def packed_weight_shape(cfg: ArrayConfig):
    """``{w, sel}`` (``w`` low) or, for ``alpha = 1``, ``signed(w_width)``."""
    if cfg.sel_bits == 0:
        return signed(cfg.w_width)
    return data.StructLayout({"w": signed(cfg.w_width), "sel": unsigned(cfg.sel_bits)})


def packed_act_shape(cfg: ArrayConfig):
    """One row's element of an input beat: ``alpha`` signed activations."""
    return data.ArrayLayout(signed(cfg.a_width), cfg.alpha)


def packed_symbol_shape(cfg: ArrayConfig):
    """What one row carries per cycle: ``alpha`` activations (parallel) or ``alpha`` bits (bit-serial)."""
    if cfg.mac == "bitserial":
        return unsigned(cfg.alpha)
    return data.ArrayLayout(signed(cfg.a_width), cfg.alpha)


def _signature(cfg: ArrayConfig) -> wiring.Signature:
    return wiring.Signature({
        "a": In(packed_symbol_shape(cfg)),
        "w": In(packed_weight_shape(cfg)),
        "ctl": In(CtlLayout),
        "psum_in": In(signed(cfg.acc_width)),
        "psum_out": Out(signed(cfg.acc_width)),
    })


def _weight_and_sel(cfg, w):
    if cfg.sel_bits == 0:
        return w, 0
    return w.w, w.sel


class PackedParallelWsPE(wiring.Component):
    """``psum_out = psum_in + (valid ? a[sel] * w : 0)``: multiplexer, multiplier, adder."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        super().__init__(_signature(cfg))

    def elaborate(self, platform):
        m = Module()
        w, sel = _weight_and_sel(self.cfg, self.w)
        a = self.a[sel] if self.cfg.sel_bits else self.a[0]
        m.d.comb += self.psum_out.eq(self.psum_in + Mux(self.ctl.valid, a * w, 0))
        return m


class PackedBitSerialWsPE(wiring.Component):
    """``psum_out = psum_in + (valid & a_t[sel] ? w : 0)``: a one-bit multiplexer, AND gates, an adder."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        super().__init__(_signature(cfg))

    def elaborate(self, platform):
        m = Module()
        w, sel = _weight_and_sel(self.cfg, self.w)
        bit = self.a.bit_select(sel, 1) if self.cfg.sel_bits else self.a[0]
        m.d.comb += self.psum_out.eq(self.psum_in + Mux(self.ctl.valid & bit, w, 0))
        return m


def packed_family(cfg: ArrayConfig) -> MacFamily:
    """The MAC family of a packed array (``cfg.alpha`` set; parallel or bit-serial, WS)."""
    if cfg.mac == "parallel":
        pe, post = PackedParallelWsPE, ParallelWsPost
    elif cfg.mac == "bitserial":
        pe, post = PackedBitSerialWsPE, BitSerialWsPost
    else:
        raise ValueError(f"column combining needs mac 'parallel' or 'bitserial', got {cfg.mac!r}")

    def no_os(cfg):
        raise ValueError(f"column combining (alpha={cfg.alpha}) has no output-stationary array: dataflow='ws'")
    return MacFamily(packed_symbol_shape, no_os, pe, post, act_shape=packed_act_shape,
                     weight_shape=packed_weight_shape)
