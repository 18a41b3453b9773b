"""The tMAC activation term encoder alone, exhaustively: every 8-bit input (-128..127), every k_x and both
encodings, against macforge.golden.terms.data_budget (value) and macforge.golden.tmac.activation_terms (the
term list, most significant first), in Amaranth's Python simulator."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from macforge.golden import terms
from macforge.golden.tmac import activation_terms, terms_value
from macforge.rtl.tmac.encoder import TermEncoder, TermSelect

WIDTH, KX_MAX = 8, 7          # k_x up to 7: every term an 8-bit value can have


def _run(dut, body):
    sim = Simulator(dut)
    sim.add_testbench(body)
    sim.run()


@pytest.mark.parametrize("enc", ["binary", "hese"])
def test_encoder_exhaustive(enc):
    dut = TermEncoder(WIDTH, KX_MAX, ("binary", "hese"))
    vals = np.arange(-128, 128)
    got = np.zeros((KX_MAX, 256, KX_MAX, 3), np.int64)

    async def body(ctx):
        ctx.set(dut.hese, enc == "hese")
        for kx in range(1, KX_MAX + 1):
            ctx.set(dut.k_x, kx)
            for n, v in enumerate(vals.tolist()):
                ctx.set(dut.x, v)
                for j in range(KX_MAX):
                    t = dut.t[j]
                    got[kx - 1, n, j] = (ctx.get(t.valid), ctx.get(t.sign), ctx.get(t.exp))

    _run(dut, body)
    for kx in range(1, KX_MAX + 1):
        ref = activation_terms(vals, kx, enc, WIDTH, KX_MAX)
        assert np.array_equal(got[kx - 1], ref), f"k_x={kx} {enc}"
        assert np.array_equal(terms_value(got[kx - 1]), terms.data_budget(vals, kx, enc)), f"k_x={kx} {enc}"


@pytest.mark.parametrize("encodings", [("binary",), ("hese",)])
def test_single_encoding_builds_and_select(encodings):
    """Builds with one encoding ignore ``hese``; TermSelect (the front end's per-cycle encoder) gives the
    term of rank j, every j, every input."""
    enc = encodings[0]
    full = TermEncoder(WIDTH, 4, encodings)
    sel = TermSelect(WIDTH, 4, encodings)
    vals = np.arange(-128, 128)
    a = np.zeros((256, 4, 3), np.int64)
    b = np.zeros((256, 4, 3), np.int64)

    async def body_full(ctx):
        ctx.set(full.hese, enc == "binary")        # the wrong value: must be ignored
        ctx.set(full.k_x, 4)
        for n, v in enumerate(vals.tolist()):
            ctx.set(full.x, v)
            for j in range(4):
                a[n, j] = (ctx.get(full.t[j].valid), ctx.get(full.t[j].sign), ctx.get(full.t[j].exp))

    async def body_sel(ctx):
        for n, v in enumerate(vals.tolist()):
            ctx.set(sel.x, v)
            for j in range(4):
                ctx.set(sel.j, j)
                b[n, j] = (ctx.get(sel.t.valid), ctx.get(sel.t.sign), ctx.get(sel.t.exp))

    _run(full, body_full)
    _run(sel, body_sel)
    ref = activation_terms(vals, 4, enc, WIDTH, 4)
    assert np.array_equal(a, ref) and np.array_equal(b, ref)
