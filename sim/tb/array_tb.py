"""cocotb testbench of the systolic array (both dataflows, every MAC kind).

Split as in cocotb's ``matrix_multiplier`` example: the *driver* streams the beats of
:func:`macforge.golden.gemm.schedule`, the *monitor* collects output rows, the *model* is the golden GEMM, and the
*checker* compares every integer and the ``last`` flags in order (so nothing lost, duplicated or
reordered), then compares the measured cycle count with :mod:`macforge.golden.cycles` when the run had no idle
input cycles and no backpressure.

The job file (``MACFORGE_JOB``, written by :func:`macforge.sim.runner.run`) holds ``config`` (an
:class:`~macforge.golden.config.ArrayConfig` as a dict), ``seed`` and a list of ``jobs``, each with ``M``, ``K``,
``N`` and optionally ``precision``, ``idle``, ``bp`` (probabilities), ``reset_at`` (cycle at which reset
is asserted in the middle of the job; the job is then abandoned and must leave nothing behind),
``check_cycles`` and ``wide`` (draw activations from the full ``a_width`` range even at a lower
precision, to exercise the saturation), ``port_precision`` (bit-serial: the value driven on the
``precision`` port instead of ``precision``, e.g. 0 or above ``a_width``: the array clamps it into
``1 .. a_width``, so ``precision`` must be the clamped value the model uses); tMAC jobs carry ``k``, ``k_x`` and ``encoding`` (``port_k`` /
``port_kx``: the values driven on the ``k`` / ``k_x`` ports instead, e.g. 0 or above the maximum, which the
array clamps into range, so ``k`` / ``k_x`` must be the clamped values) and draw a third
of their operands from :func:`tmac_extremes`. Measurements go to ``MACFORGE_RESULT``.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from macforge.golden.config import ArrayConfig
from macforge.golden.cycles import job_cycles
from macforge.golden.gemm import Schedule, schedule
from macforge.golden.tmac import slot_bits, tmac_schedule
from macforge.sim.tb.streams import StreamSink, StreamSource, pack, unpack


def random_operands(cfg: ArrayConfig, M: int, K: int, N: int, rng: np.random.Generator,
                    precision: int | None = None, wide: bool = False):
    """Signed operands over the full range, with the extreme values always present."""
    pa = cfg.a_width if (precision is None or wide) else precision
    alo, ahi = -(1 << (pa - 1)), (1 << (pa - 1)) - 1
    wlo, whi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    a = rng.integers(alo, ahi + 1, size=(M, K), dtype=np.int64)
    w = rng.integers(wlo, whi + 1, size=(K, N), dtype=np.int64)
    a.flat[rng.integers(0, a.size)] = alo
    a.flat[rng.integers(0, a.size)] = ahi
    w.flat[rng.integers(0, w.size)] = wlo
    w.flat[rng.integers(0, w.size)] = whi
    if a.size >= 4 and w.size >= 4:      # min * min: the largest product, stresses the accumulator
        a[0, :] = alo
        w[:, 0] = wlo
    return a, w


#: tMAC extremes: the range ends and values whose HESE form carries into the next bit (127 = 2^7 - 1,
#: 63, 0b1101101, ...) or that have the most terms (0x55, 0x7F)
def tmac_extremes(width: int) -> list[int]:
    top = 1 << (width - 1)
    vals = {-top, top - 1, -(top - 1), top - 2, (top >> 1) - 1, -(top >> 1), 0, 1, -1,
            0x55 & (top - 1), -(0x55 & (top - 1)), 0x6D & (top - 1), -(0x6D & (top - 1)), 3, -3}
    return sorted(vals)


def tmac_operands(cfg: ArrayConfig, M: int, K: int, N: int, rng: np.random.Generator):
    """Like :func:`random_operands`, but a third of the values come from :func:`tmac_extremes`."""
    a, w = random_operands(cfg, M, K, N, rng)
    for x, width in ((a, cfg.a_width), (w, cfg.w_width)):
        ext = np.array(tmac_extremes(width))
        pick = rng.random(x.shape) < 0.33
        x[pick] = rng.choice(ext, size=int(pick.sum()))
    return a, w


class ArrayBench:
    """Drives one array instance; one clock loop steps every stream (see :mod:`macforge.sim.tb.streams`)."""

    def __init__(self, dut, cfg: ArrayConfig, rng: random.Random):
        self.dut, self.cfg, self.rng = dut, cfg, rng
        self.cycle = 0
        self.s = StreamSource(dut, "s", rng)
        self.w = StreamSource(dut, "w", rng) if cfg.dataflow == "ws" else None
        self.o = StreamSink(dut, "o", rng)
        self.sources = [x for x in (self.s, self.w) if x is not None]

    async def start(self) -> None:
        cocotb.start_soon(Clock(self.dut.clk, 10, unit="ns").start())
        self.dut.s__valid.value = 0
        if self.w:
            self.dut.w__valid.value = 0
        self.dut.o__ready.value = 0
        await self.reset()

    async def reset(self, cycles: int = 2) -> None:
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        for src in self.sources:
            src.abort()
            src.valid.value = 0
            src._pins = (0, None)
        for _ in range(cycles):
            await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    # ---- encoding (payload bit layout = the Amaranth StructLayouts of rtl/os_array.py, rtl/ws_array.py)
    def encode(self, sch: Schedule) -> tuple[list[int], list[int] | None]:
        cfg = self.cfg
        R, C, aw, ww = cfg.rows, cfg.cols, cfg.a_width, cfg.w_width
        abits = R * aw
        if cfg.mac == "tmac":
            return self.encode_tmac(sch)
        if cfg.alpha is not None:      # packed WS array: R x alpha activation lanes, {w, sel} weight lanes
            abits = R * cfg.alpha * aw
            beats = [pack(a, aw) | (int(f[0]) << abits) | (int(f[1]) << (abits + 1)) | (int(f[2]) << (abits + 2))
                     for a, f in zip(sch.acts.tolist(), sch.flags)]
            return beats, [pack(w, ww + cfg.sel_bits) for w in sch.weights.tolist()]
        if cfg.dataflow == "os":
            wbits = C * ww
            beats = [pack(a, aw) | (pack(w, ww) << abits) | (int(f[0]) << (abits + wbits))
                     | (int(f[1]) << (abits + wbits + 1))
                     for a, w, f in zip(sch.acts.tolist(), sch.weights.tolist(), sch.flags)]
            return beats, None
        beats = [pack(a, aw) | (int(f[0]) << abits) | (int(f[1]) << (abits + 1)) | (int(f[2]) << (abits + 2))
                 for a, f in zip(sch.acts.tolist(), sch.flags)]
        wbeats = [pack(w, ww) for w in sch.weights.tolist()]
        return beats, wbeats

    def encode_tmac(self, sch) -> tuple[list[int], list[int] | None]:
        """tMAC beats: ``a`` = R groups of g activations (row 0, element 0 lowest), ``w`` = C columns of
        ``k_max`` packed slot words (:func:`macforge.golden.tmac.slot_fields`)."""
        cfg = self.cfg
        R, C, aw, g, S = cfg.rows, cfg.cols, cfg.a_width, cfg.g, cfg.k_max
        abits = R * g * aw
        sb = slot_bits(cfg)
        acts = [pack(x, aw) for x in sch.acts.reshape(len(sch.acts), R * g).tolist()]
        wrows = [pack(x, sb) for x in sch.weights.reshape(len(sch.weights), C * S).tolist()]
        if cfg.dataflow == "os":
            wbits = C * S * sb
            return [a | (w << abits) | (int(f[0]) << (abits + wbits)) | (int(f[1]) << (abits + wbits + 1))
                    for a, w, f in zip(acts, wrows, sch.flags)], None
        beats = [a | (int(f[0]) << abits) | (int(f[1]) << (abits + 1)) | (int(f[2]) << (abits + 2))
                 for a, f in zip(acts, sch.flags)]
        return beats, wrows

    def decode(self, word: int) -> tuple[list[int], int]:
        C, n = self.cfg.cols, self.cfg.acc_width
        return unpack(word, n, C), (word >> (C * n)) & 1

    async def run_job(self, sch: Schedule, *, precision: int | None, idle: float, bp: float,
                      reset_at: int | None = None, timeout: int | None = None,
                      port_precision: int | None = None, port_k: int | None = None,
                      port_kx: int | None = None) -> dict:
        cfg = self.cfg
        if cfg.mac == "bitserial":
            p = precision if precision is not None else cfg.a_width
            self.dut.precision.value = p if port_precision is None else port_precision
        if cfg.mac == "tmac":
            self.dut.k.value = sch.k if port_k is None else port_k
            self.dut.k_x.value = sch.k_x if port_kx is None else port_kx
            if len(cfg.encodings) == 2:
                self.dut.hese.value = int(sch.encoding == "hese")
        beats, wbeats = self.encode(sch)
        self.s.load(beats)
        self.s.idle = idle
        if self.w is not None:
            self.w.load(wbeats)
            self.w.idle = idle
        for src in self.sources:
            src.first_cycle = None
        self.o.bp = bp
        self.o.received, self.o.cycles = [], []
        expected = len(sch.outputs)
        L = sch.L if cfg.mac == "tmac" else cfg.cycles_per_step(precision)
        model = job_cycles(cfg, sch.tiles, L)
        timeout = timeout or (model * 8 + 2000)
        t0 = time.perf_counter()
        start = self.cycle
        while len(self.o.received) < expected:
            for src in self.sources:
                src.drive(self.cycle)
            self.o.drive(self.cycle)
            await ReadOnly()
            for src in self.sources:
                src.observe()
            self.o.observe(self.cycle)
            await FallingEdge(self.dut.clk)
            self.cycle += 1
            if reset_at is not None and self.cycle - start == reset_at:
                await self.reset()
                self.cycle += 2
                return {"aborted": True, "received": len(self.o.received)}
            if self.cycle - start > timeout:
                raise AssertionError(
                    f"timeout: {len(self.o.received)} of {expected} rows after {self.cycle - start} cycles "
                    f"(model {model}); inputs sent {[s.idx for s in self.sources]}")
        wall = time.perf_counter() - t0
        first = min(s.first_cycle for s in self.sources if s.first_cycle is not None)
        measured = self.o.cycles[-1] - first + 1
        # Drain: nothing more may come out (no duplicates).
        for _ in range(cfg.rows + cfg.cols + L + 8):
            self.o.drive(self.cycle)
            await ReadOnly()
            extra = self.o.observe(self.cycle)
            await FallingEdge(self.dut.clk)
            self.cycle += 1
            assert not extra, f"spurious output row after the job finished: {self.decode(self.o.received[-1])}"
        return {"cycles": measured, "model": model, "wall_s": wall, "sim_cycles": self.cycle - start,
                "rows": [self.decode(x) for x in self.o.received]}


def check_rows(sch: Schedule, rows: list, tag: str) -> None:
    """Every output integer and ``last`` flag, in order."""
    exp = sch.outputs.tolist()
    assert len(rows) == len(exp), f"{tag}: {len(rows)} rows received, {len(exp)} expected"
    bad = []
    for i, ((y, last), e, el) in enumerate(zip(rows, exp, sch.out_last.tolist())):
        if y != e or last != el:
            bad.append((i, y, last, e, el))
    if bad:
        i, y, last, e, el = bad[0]
        raise AssertionError(f"{tag}: {len(bad)} of {len(exp)} rows differ; first at row {i}: "
                             f"got {y} last={last}, expected {e} last={el}")


@cocotb.test()
async def gemm_jobs(dut):
    """Run every job of the job file; bit-exact always, cycle-exact when ``check_cycles``."""
    with open(os.environ["MACFORGE_JOB"]) as f:
        spec = json.load(f)
    cfg = ArrayConfig.from_dict(spec["config"])
    seed = int(spec["seed"])
    dut._log.info("MACFORGE_SEED=%d config=%s", seed, cfg)
    rng = random.Random(seed)
    bench = ArrayBench(dut, cfg, rng)
    await bench.start()
    results = []
    for idx, job in enumerate(spec["jobs"]):
        nrng = np.random.default_rng([seed, idx])
        p = job.get("precision")
        if cfg.alpha is not None:      # column combining: a random sparse W, packed (macforge.golden.colcomb)
            from macforge.golden.colcomb import pack as cc_pack, packed_schedule
            a, w = random_operands(cfg, job["M"], job["K"], job["N"], nrng, p, job.get("wide", False))
            w[nrng.random(w.shape) >= job.get("density", 1.0 / cfg.alpha)] = 0
            pm = cc_pack(w, job.get("alpha", cfg.alpha), job.get("gamma", 0.5))
            sch = packed_schedule(cfg, a, pm, precision=p if cfg.mac == "bitserial" else None)
        elif cfg.mac == "tmac":
            a, w = tmac_operands(cfg, job["M"], job["K"], job["N"], nrng)
            sch = tmac_schedule(cfg, a, w, job.get("k", cfg.k_max), job.get("k_x", cfg.kx_max),
                                job.get("encoding", cfg.encodings[-1]))
        else:
            a, w = random_operands(cfg, job["M"], job["K"], job["N"], nrng, p, job.get("wide", False))
            sch = schedule(cfg, a, w, precision=p if cfg.mac == "bitserial" else None)
        tag = f"job {idx} {job} seed={seed}"
        r = await bench.run_job(sch, precision=p, idle=job.get("idle", 0.0), bp=job.get("bp", 0.0),
                                reset_at=job.get("reset_at"), port_precision=job.get("port_precision"),
                                port_k=job.get("port_k"), port_kx=job.get("port_kx"))
        if r.get("aborted"):
            results.append({"job": job, "aborted": True})
            continue
        check_rows(sch, r.pop("rows"), tag)
        if job.get("check_cycles", True) and not job.get("idle") and not job.get("bp"):
            assert r["cycles"] == r["model"], f"{tag}: measured {r['cycles']} cycles, model {r['model']}"
        results.append({"job": job, **r})
    with open(os.environ["MACFORGE_RESULT"], "w") as f:
        json.dump({"seed": seed, "results": results}, f)
