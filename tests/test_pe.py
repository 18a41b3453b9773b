"""Processing elements in Amaranth's Python simulator (fine for one PE; arrays run on Verilator).

Each OS PE accumulates a random dot product slot by slot and must equal the integer reference;
the bit-serial PE gets the activation LSB first at every precision p, the sign bit weighted -2^(p-1).
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from macforge.golden.config import ArrayConfig
from macforge.golden.gemm import clip_precision
from macforge.rtl.mac import BitSerialOsPE, ParallelOsPE


def run_os_pe(pe, slots):
    """Drive (a, w, first, last, bit0, msb) slots; collect results at every ``last``."""
    out = []

    async def bench(ctx):
        ctx.set(pe.en, 1)
        for a, w, first, last, bit0, msb in slots:
            ctx.set(pe.a, a)
            ctx.set(pe.w, w)
            ctx.set(pe.ctl, {"valid": 1, "first": first, "last": last, "bit0": bit0, "msb": msb,
                             "wsel": 0, "tlast": 0})
            if ctx.get(pe.result_valid):
                out.append(ctx.get(pe.result))
            await ctx.tick()
        # a registered product (ArrayConfig.pipeline) delivers the last result one cycle later
        ctx.set(pe.ctl, {"valid": 0, "first": 0, "last": 0, "bit0": 0, "msb": 0, "wsel": 0, "tlast": 0})
        for _ in range(getattr(pe.cfg, "os_pipe", 0)):
            if ctx.get(pe.result_valid):
                out.append(ctx.get(pe.result))
            await ctx.tick()

    sim = Simulator(pe)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("pipeline", [True, False])
@pytest.mark.parametrize("aw,ww", [(4, 4), (8, 8), (16, 5)])
def test_parallel_os_pe(aw, ww, pipeline, rng):
    cfg = ArrayConfig(rows=1, cols=1, a_width=aw, w_width=ww, max_k=16, pipeline=pipeline)
    slots, ref = [], []
    for _ in range(3):
        k = int(rng.integers(1, 17))
        a = rng.integers(-(1 << (aw - 1)), 1 << (aw - 1), k)
        w = rng.integers(-(1 << (ww - 1)), 1 << (ww - 1), k)
        a[0], w[0] = -(1 << (aw - 1)), -(1 << (ww - 1))
        ref.append(int(a @ w))
        slots += [(int(a[i]), int(w[i]), i == 0, i == k - 1, 1, 1) for i in range(k)]
    assert run_os_pe(ParallelOsPE(cfg), slots) == ref


@pytest.mark.parametrize("p", range(1, 9))
def test_bitserial_os_pe(p, rng):
    cfg = ArrayConfig(rows=1, cols=1, mac="bitserial", a_width=8, w_width=8, max_k=12)
    slots, ref = [], []
    for _ in range(2):
        k = int(rng.integers(1, 13))
        a = clip_precision(rng.integers(-128, 128, k), p)
        w = rng.integers(-128, 128, k)
        a[0] = -(1 << (p - 1))
        ref.append(int(a @ w))
        for i in range(k):
            bits = int(a[i]) & ((1 << p) - 1)          # two's complement, LSB first
            for t in range(p):
                slots.append(((bits >> t) & 1, int(w[i]), i == 0 and t == 0, i == k - 1 and t == p - 1,
                              t == 0, t == p - 1))
    assert run_os_pe(BitSerialOsPE(cfg), slots) == ref
