"""cocotb testbench of the layer engine, driven by cocotbext-axi (``AxiStreamSource``/``AxiStreamSink``).

Driver: one ``AxiStreamSource`` on ``s_axis`` (``byte_size = axis_width``: one list element per beat, so
the Python work per cycle is one integer). Monitor/collector: one ``AxiStreamSink`` on ``m_axis``
(``byte_size = 32 C``: one element per beat, split into int32 lanes with NumPy afterwards). Model: :mod:`macforge.golden.engine`. Scoreboard: every
output lane of every beat is compared in order with :func:`macforge.golden.engine.expected_rows` and each job
must come back as exactly one frame (``tlast`` only on its final beat, ``tuser = 0``), so nothing is
lost, duplicated or reordered; then the sink must stay empty.

Random idle cycles on the input and random backpressure on the output come from cocotbext-axi pause
generators (probabilities ``idle`` and ``bp`` of the job, seeded with ``MACFORGE_SEED``).

Cycle counting (the convention of :mod:`macforge.golden.engine_cycles`): the job is sent right after a falling
edge while the engine is idle; the source drives the command word at the next rising edge ``E`` and the
engine accepts it in the cycle ending at ``E + T`` (cycle 0). The job takes ``N = (t_end - E) / T``
cycles, ``t_end`` being the rising edge at which the sink takes the ``tlast`` beat.

Job file (``MACFORGE_JOB``): ``engine`` (an :class:`EngineConfig` dict), ``seed`` and ``jobs``; a job is

* ``{"kind": "layer", M, K, N, relu, requant, precision, idle, bp, check_cycles}``: random operands
  (tMAC engines also ``k``, ``k_x``, ``encoding``; a third of the operands at their extremes); optional
  ``shift: [lo, hi]``, ``m0: [lo, hi]``, ``bias: [lo, hi]``: the ranges (top exclusive) the requantization
  shifts S, multipliers M0 and biases are drawn from (defaults 24 .. 39, 2^29 .. 2^31 - 1, +-2^20, where
  most results saturate; e.g. S 38 .. 46 keeps them inside int8);
* ``{"kind": "reset", ..., "reset_after": cycles}``: a layer job interrupted by reset, then abandoned;
* ``{"kind": "burst", "layers": [...]}``: several layer packets queued at once (no gap between jobs);
* ``{"kind": "raw", "beats": [...], "code": c}``: hand-made (bad) packet; expects one error beat ``c``;
* ``{"kind": "mlp", "npz": path, "batch": B}``: run an integer MLP on a data set (end to end, see
  :mod:`macforge.gen.cmd_sim`); writes every layer's hardware outputs to ``<npz>.out.npz``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from macforge.golden.colcomb import PackedLayer, encode_packed, expected_rows_packed
from macforge.golden.engine import Layer, beats_to_rows, rows_before_cut
from macforge.golden.engine import encode as _encode_dense, expected_rows as _expected_dense
from macforge.golden.engine_config import EngineConfig

PERIOD = 10  # ns


def encode(ecfg: EngineConfig, L) -> list[int]:
    """The job's beats; packed layers (column combining) use :func:`macforge.golden.colcomb.encode_packed`."""
    return encode_packed(ecfg, L) if isinstance(L, PackedLayer) else _encode_dense(ecfg, L)


def expected_rows(ecfg: EngineConfig, L) -> np.ndarray:
    return expected_rows_packed(ecfg, L) if isinstance(L, PackedLayer) else _expected_dense(ecfg, L)


def random_layer(ecfg: EngineConfig, job: dict, rng: np.random.Generator) -> Layer:
    a = ecfg.array
    if a.alpha is not None:     # column combining: a random sparse W, packed (L.dims = (M, G, N))
        from macforge.sim.tb.colcomb_jobs import random_packed_layer
        return random_packed_layer(ecfg, job, rng)
    M, K, N = job["M"], job["K"], job["N"]
    p = job.get("precision")
    alo, ahi = -(1 << (a.a_width - 1)), (1 << (a.a_width - 1)) - 1
    wlo, whi = -(1 << (a.w_width - 1)), (1 << (a.w_width - 1)) - 1
    x = rng.integers(alo, ahi + 1, size=(M, K))
    w = rng.integers(wlo, whi + 1, size=(K, N))
    x.flat[0], w.flat[0] = alo, wlo
    if a.mac == "tmac":   # a third of the operands at the tMAC extremes (HESE carries, most terms)
        from macforge.sim.tb.array_tb import tmac_extremes
        for v, width in ((x, a.a_width), (w, a.w_width)):
            pick = rng.random(v.shape) < 0.33
            v[pick] = rng.choice(np.array(tmac_extremes(width)), size=int(pick.sum()))
    blo, bhi = job.get("bias", (-(1 << 20), 1 << 20))
    bias = rng.integers(blo, bhi, size=N)
    requant = job.get("requant", True)
    mlo, mhi = job.get("m0", (1 << 29, 1 << 31))
    m0 = rng.integers(mlo, mhi, size=N) if requant else None
    lo, hi = job.get("shift", (24, 40))     # S range (exclusive top); near 40+ most results stay unsaturated
    shift = rng.integers(lo, hi, size=N) if requant else None
    return Layer(x, w, bias, m0, shift, relu=job.get("relu", False), requant=requant, precision=p,
                 k=job.get("k"), k_x=job.get("k_x"), encoding=job.get("encoding"))


def _budgets(ecfg: EngineConfig, L: Layer) -> dict:
    """``k``/``k_x`` keywords of the cycle model (tMAC only)."""
    if ecfg.array.mac != "tmac":
        return {}
    from macforge.golden.engine import tmac_budgets
    k, k_x, _ = tmac_budgets(ecfg, L)
    return {"k": k, "k_x": k_x}


def _bernoulli(rng: random.Random, p: float):
    while True:
        yield rng.random() < p


class EngineBench:
    def __init__(self, dut, ecfg: EngineConfig, seed: int):
        self.dut, self.ecfg = dut, ecfg
        self.rng = random.Random(seed)
        for name in ("cocotb.macforge", "cocotb"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst,
                                   byte_size=ecfg.axis_width)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst,
                                  byte_size=ecfg.out_width)   # one list element per beat
        for x in (self.src, self.sink):
            x.log.setLevel(logging.WARNING)

    async def start(self):
        cocotb.start_soon(Clock(self.dut.clk, PERIOD, unit="ns").start())
        await self.reset()

    async def reset(self, cycles: int = 3):
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        for _ in range(cycles):
            await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await FallingEdge(self.dut.clk)

    def traffic(self, idle: float, bp: float):
        self.src.set_pause_generator(_bernoulli(self.rng, idle) if idle else None)
        self.sink.set_pause_generator(_bernoulli(self.rng, bp) if bp else None)
        if not idle:
            self.src.pause = False
        if not bp:
            self.sink.pause = False

    async def transact(self, beats: list[int], timeout_cycles: int = 10_000_000):
        """Send one packet, return (frame, cycles) for the one output frame it produces."""
        await FallingEdge(self.dut.clk)
        t_send = get_sim_time("ns")
        e = (t_send // PERIOD + 1) * PERIOD           # next rising edge: command word driven
        await self.src.send(AxiStreamFrame(beats))
        frame = await self.sink.recv(compact=False)
        t_end = get_sim_time_ns(frame.sim_time_end)
        return frame, int(round((t_end - e) / PERIOD))

    async def expect_quiet(self, cycles: int):
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        assert self.sink.empty(), "spurious output frame after the job"


def get_sim_time_ns(steps) -> float:
    from cocotb.utils import get_time_from_sim_steps
    return get_time_from_sim_steps(steps, "ns")


def check_frame(ecfg: EngineConfig, frame, exp: np.ndarray, tag: str) -> None:
    C = ecfg.cols
    rows = beats_to_rows(frame.tdata, C)
    users = np.asarray(frame.tuser if frame.tuser else [0] * len(rows))
    assert not users.any(), f"{tag}: error beat in a good job: {rows[users.astype(bool)]}"
    assert rows.shape == exp.shape, f"{tag}: {rows.shape[0]} beats received, {exp.shape[0]} expected"
    bad = np.argwhere(rows != exp)
    if len(bad):
        i = bad[0][0]
        raise AssertionError(f"{tag}: {len(np.unique(bad[:, 0]))} of {len(exp)} beats differ; first at beat "
                             f"{i}: got {rows[i].tolist()}, expected {exp[i].tolist()}")


@cocotb.test()
async def engine_jobs(dut):
    with open(os.environ["MACFORGE_JOB"]) as f:
        spec = json.load(f)
    ecfg = EngineConfig.from_dict(spec["engine"])
    seed = int(spec["seed"])
    dut._log.info("MACFORGE_SEED=%d engine=%s", seed, ecfg)
    bench = EngineBench(dut, ecfg, seed)
    await bench.start()
    results = []
    for idx, job in enumerate(spec["jobs"]):
        kind = job.get("kind", "layer")
        tag = f"job {idx} {({k: v for k, v in job.items() if k != 'beats'})} seed={seed}"
        nrng = np.random.default_rng([seed, idx])
        if kind == "mlp":
            results.append(await run_mlp(bench, job))
            continue
        bench.traffic(job.get("idle", 0.0), job.get("bp", 0.0))
        if kind == "caps":
            # capabilities query: one-beat packet -> the capability words, one per beat in lane 0
            from macforge.golden.engine import OPCODE_CAPS, capability_words
            frame, cyc = await bench.transact([OPCODE_CAPS])
            rows = beats_to_rows(frame.tdata, ecfg.cols)
            assert not any(frame.tuser or []), f"{tag}: error beat in the capabilities answer"
            words = [int(r[0]) & 0xFFFFFFFF for r in rows]
            assert words == capability_words(ecfg), f"{tag}: capabilities {words}"
            assert not rows[:, 1:].any(), f"{tag}: lanes 1.. of the capabilities beats must be 0"
            await bench.expect_quiet(4)
            assert int(dut.status.value) == 0, f"{tag}: status {int(dut.status.value):#x}"
            results.append({"kind": "caps", "words": words, "cycles": cyc})
            continue
        if kind == "badparam":
            # bad requantization parameter on a channel < N (S = 0, S > 62, M0 >= 2^31): error 7, no rows
            from macforge.golden.engine import encode as golden_encode
            L = random_layer(ecfg, {**job, "requant": True}, nrng)
            ch = job["channel"] % L.dims[2]
            if job["what"] == "s0":
                L.shift[ch] = 0
            elif job["what"] == "s63":
                L.shift[ch] = 63
            elif job["what"] == "s":          # any S outside 1..62, given as ``s_value`` (e.g. one high bit set)
                L.shift[ch] = int(job["s_value"])
            else:
                L.m0[ch] = 1 << 31
            beats = golden_encode(ecfg, L, check=False)
            job = {**job, "code": 7, "rows": 0}
            kind = "raw"
        elif kind in ("trunc", "long"):
            L = random_layer(ecfg, job, nrng)
            beats = encode(ecfg, L)
            exp = expected_rows(ecfg, L)
            if kind == "trunc":
                beats = beats[:job["cut"]]
                n_ok = rows_before_cut(ecfg, *L.dims, job["cut"])
                job = {**job, "code": 4, "rows": n_ok}
            else:
                beats = beats + [0x4C] * job["extra"]   # even a valid-looking command word is discarded
                job = {**job, "code": 5, "rows": len(exp)}
            job["exp"] = exp[:job["rows"]]
            kind = "raw"
        else:
            beats = job.get("beats")
        if kind == "raw":
            frame, cyc = await bench.transact([int(b) for b in beats])
            rows = beats_to_rows(frame.tdata, ecfg.cols)
            assert frame.tuser and frame.tuser[-1] == 1, f"{tag}: no error beat (tuser) at the end"
            got = int(rows[-1][0])
            assert got == job["code"], f"{tag}: error code {got}, expected {job['code']}"
            st = int(dut.status.value)
            assert (st >> 1) & 1 and (st >> 4) == job["code"], f"{tag}: status {st:#x}"
            good = len(rows) - 1
            assert good == job.get("rows", 0), f"{tag}: {good} result beats before the error beat"
            if good:
                assert (rows[:-1] == job["exp"]).all(), f"{tag}: result beats before the error beat differ"
            results.append({"kind": "raw", "code": got, "status": st, "rows": good})
            await bench.expect_quiet(4)
            continue
        if kind == "burst":
            # several packets queued back to back: one frame each, in order, nothing lost or merged
            Ls = [random_layer(ecfg, sub, np.random.default_rng([seed, idx, i]))
                  for i, sub in enumerate(job["layers"])]
            for L in Ls:
                bench.src.send_nowait(AxiStreamFrame(encode(ecfg, L)))
            for i, L in enumerate(Ls):
                frame = await bench.sink.recv(compact=False)
                check_frame(ecfg, frame, expected_rows(ecfg, L), f"{tag} packet {i}")
            await bench.expect_quiet(ecfg.rows + ecfg.cols + 8)
            results.append({"kind": "burst", "packets": len(Ls)})
            continue
        L = random_layer(ecfg, job, nrng)
        beats = encode(ecfg, L)
        if kind == "reset":
            await FallingEdge(dut.clk)
            cocotb.start_soon(bench.src.send(AxiStreamFrame(beats)))
            for _ in range(job["reset_after"]):
                await RisingEdge(dut.clk)
            await bench.reset()
            while not bench.sink.empty():
                bench.sink.recv_nowait()
            assert int(dut.status.value) == 0, f"{tag}: status {int(dut.status.value):#x} after reset"
            results.append({"kind": "reset"})
            continue
        exp = expected_rows(ecfg, L)
        t0 = time.perf_counter()
        frame, cyc = await bench.transact(beats)
        wall = time.perf_counter() - t0
        if not job.get("idle") and not job.get("bp"):
            # docs/engine.md "Status timing": busy holds in the cycle after the tlast transfer and is 0
            # from the second cycle on (the engine takes the next command word from then)
            busy = []
            for _ in range(3):
                await FallingEdge(dut.clk)
                busy.append(int(dut.status.value) & 1)
            assert busy == [1, 0, 0], f"{tag}: busy after the tlast transfer {busy}, expected [1, 0, 0]"
        check_frame(ecfg, frame, exp, tag)
        from macforge.golden.engine_cycles import job_cycles
        model = job_cycles(ecfg, *L.dims, precision=L.precision, **_budgets(ecfg, L))
        if job.get("check_cycles", True) and not job.get("idle") and not job.get("bp"):
            assert cyc == model, f"{tag}: measured {cyc} cycles, model {model}"
        await bench.expect_quiet(ecfg.rows + ecfg.cols + 8)
        assert int(dut.status.value) & 3 == 0, f"{tag}: status {int(dut.status.value):#x}"
        results.append({"kind": "layer", "dims": list(L.dims), "cycles": cyc, "model": model,
                        "beats_in": len(beats), "beats_out": len(exp), "wall_s": wall})
    with open(os.environ["MACFORGE_RESULT"], "w") as f:
        json.dump({"seed": seed, "results": results}, f)


async def run_mlp(bench: EngineBench, job: dict) -> dict:
    """Run an integer MLP layer by layer over a data set (see :mod:`macforge.gen.cmd_sim`)."""
    from macforge.golden.engine import decode_rows
    from macforge.golden.engine_cycles import job_cycles

    ecfg = bench.ecfg
    z = np.load(job["npz"])
    nl = int(z["n_layers"])
    X = z["x"]
    prec = int(z["precision"]) if int(z["precision"]) > 0 else None
    tq = {}
    if "tq_k" in z.files:     # tMAC: the bundle's own budgets and encoding
        tq = {"k": int(z["tq_k"]), "k_x": int(z["tq_kx"]), "encoding": str(z["tq_encoding"])}
    batch = int(job["batch"])
    progress = job.get("progress")
    bench.traffic(job.get("idle", 0.0), job.get("bp", 0.0))
    outs = [[] for _ in range(nl)]
    cycles, model, jobs = 0, 0, 0
    t0 = time.perf_counter()
    for b0 in range(0, len(X), batch):
        x = X[b0:b0 + batch]
        for l in range(nl):
            rq = bool(z[f"requant{l}"])
            L = Layer(x, z[f"w{l}"], z[f"b{l}"], z[f"m0_{l}"] if rq else None, z[f"s{l}"] if rq else None,
                      relu=bool(z[f"relu{l}"]), requant=rq, precision=prec, **tq)
            if f"lines{l}" in z.files:      # column combining: the packed layer (engine K = its groups)
                from macforge.golden.colcomb import PackedMatrix
                pm = PackedMatrix(z[f"w{l}"].shape[0], z[f"lines{l}"], z[f"pw{l}"], z[f"sel{l}"])
                L = PackedLayer(x, pm, L.bias, L.m0, L.shift, L.relu, L.requant, L.precision)
            frame, cyc = await bench.transact(encode(ecfg, L))
            if frame.tuser and any(frame.tuser):
                raise AssertionError(f"batch {b0} layer {l}: engine error {beats_to_rows(frame.tdata, ecfg.cols)[-1]}")
            M, K, N = L.dims
            y = decode_rows(ecfg, beats_to_rows(frame.tdata, ecfg.cols), M, N)
            outs[l].append(y)
            cycles += cyc
            model += job_cycles(ecfg, M, K, N, precision=prec, **_budgets(ecfg, L))
            jobs += 1
            x = y
        if progress:
            with open(progress, "w") as f:
                f.write(str(b0 + len(x)))
    wall = time.perf_counter() - t0
    np.savez(job["npz"] + ".out.npz", **{f"y{l}": np.concatenate(outs[l]) for l in range(nl)})
    return {"kind": "mlp", "cycles": cycles, "model": model, "jobs": jobs, "wall_s": wall,
            "sim_cycles": int(get_sim_time("ns") // PERIOD)}
