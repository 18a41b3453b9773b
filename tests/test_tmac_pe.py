"""tMAC PEs alone in Amaranth's Python simulator: the binary-accumulator OS PE (used by the arrays) and the
exponent-histogram OS PE + its edge converter (kept for the area comparison, macforge.gen.tmac_area) both
accumulate random term pairs to sum (-1)^(s_w xor s_x) 2^(e_w + e_x) exactly, incl. the largest exponents."""

import numpy as np
from amaranth.sim import Simulator

from macforge.golden.config import ArrayConfig
from macforge.rtl.tmac.pe import HistToBinary, TmacHistOsPE, TmacOsPE


def _pairs(rng, cfg, n):
    """n random (slot, terms) pairs; returns them and the exact sum."""
    out, total = [], 0
    for _ in range(n):
        idx = int(rng.integers(0, cfg.g))
        slot = {"valid": int(rng.random() < 0.9), "sign": int(rng.integers(0, 2)),
                "exp": int(rng.choice([0, cfg.w_width - 1, rng.integers(0, cfg.w_width)])), "idx": idx}
        terms = [{"valid": int(rng.random() < 0.9), "sign": int(rng.integers(0, 2)),
                  "exp": int(rng.choice([0, cfg.a_width - 1, rng.integers(0, cfg.a_width)]))} for _ in range(cfg.g)]
        t = terms[idx]
        if slot["valid"] and t["valid"]:
            total += (-1) ** (slot["sign"] ^ t["sign"]) * 2 ** (slot["exp"] + t["exp"])
        out.append((slot, terms))
    return out, total


def _drive(pe, jobs, read):
    got = []

    async def bench(ctx):
        ctx.set(pe.en, 1)
        for pairs in jobs:
            for n, (slot, terms) in enumerate(pairs):
                ctx.set(pe.w, slot)
                ctx.set(pe.a, {"x": terms})
                last = n == len(pairs) - 1
                ctx.set(pe.ctl, {"valid": 1, "first": n == 0, "last": last, "bit0": n == 0, "msb": last,
                                 "wsel": 0, "tlast": 0})
                if last:
                    assert ctx.get(pe.result_valid)
                    got.append(read(ctx))
                await ctx.tick()

    sim = Simulator(pe)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def test_binary_and_histogram_pe(rng):
    cfg = ArrayConfig(rows=1, cols=1, mac="tmac", g=4, k_max=8, kx_max=3, max_k=64)
    jobs, want = [], []
    for n in (1, 5, 24, 48):        # 48 = ceil(64/4) * 3: the most pairs a histogram lane may count
        p, t = _pairs(rng, cfg, n)
        jobs.append(p)
        want.append(t)
    pe = TmacOsPE(cfg)
    assert _drive(pe, jobs, lambda ctx: ctx.get(pe.result)) == want
    h = TmacHistOsPE(cfg)
    hists = _drive(h, jobs, lambda ctx: [ctx.get(h.hist[e]) for e in range(h.lanes)])
    conv = HistToBinary(cfg, h.lanes, h.cb)
    got = []

    async def bench(ctx):
        for hv in hists:
            for e, v in enumerate(hv):
                ctx.set(conv.hist[e], v)
            got.append(ctx.get(conv.y))

    sim = Simulator(conv)
    sim.add_testbench(bench)
    sim.run()
    assert got == want
