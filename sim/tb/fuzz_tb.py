"""cocotb testbench of the engine packet fuzzer (:mod:`macforge.gen.fuzz`).

Job file (``MACFORGE_JOB``): ``engine``, ``seed`` and ``items``; an item is ``{"packets": [[beat, ...], ...],
"idle": p, "bp": p, "reset_after": cycles | None}``. The packets of one item are queued back to back (no
gap); each must come back as exactly one ``m_axis`` frame that :func:`macforge.golden.packet_oracle.predict`
states (result rows bit for bit, then at most one error beat with the right code, ``tuser`` only on it),
in order; ``status`` must hold the error code afterwards and ``busy`` must fall; a packet sent with no idle
cycles and no backpressure must be answered within the cycle bound of :func:`response_bound` (valid jobs:
exactly the cycle model). An item with ``reset_after`` resets the engine that many cycles after its first
packet starts (its answer is abandoned); the engine must be idle with ``status = 0`` after it.

The testbench stops at the first violation and writes ``{"fail": index, "msg": ...}`` to ``MACFORGE_RESULT``
(the fuzzer then shrinks the item list), else ``{"fail": None, "packets": n, ...}``.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamFrame

from macforge.golden.engine import beats_to_rows
from macforge.golden.engine_config import EngineConfig
from macforge.golden.packet_oracle import predict
from macforge.sim.tb.engine_tb import PERIOD, EngineBench, get_sim_time_ns


def response_bound(ecfg: EngineConfig, ans, n_beats: int) -> int:
    """Most cycles from the command word to the answer's ``tlast`` with no idle input and no
    backpressure: the cycle model of the job the header announces (it covers loading every beat and
    computing every block), plus the beats beyond the job's own (discarded) and 8 cycles of error-beat
    and drain overhead; header errors: the beats plus 8."""
    from macforge.golden.engine_cycles import job_cycles
    if ans.dims is None:
        return n_beats + 8 + (len(ans.rows) if ans.caps else 0)
    M, K, N, p = ans.dims
    return job_cycles(ecfg, M, K, N, precision=p) + n_beats + 8


class Fail(Exception):
    pass


def check_answer(ecfg, frame, ans, tag):
    rows = beats_to_rows(frame.tdata, ecfg.cols)
    users = list(frame.tuser) if frame.tuser else [0] * len(rows)
    if ans.code is None:
        if any(users):
            raise Fail(f"{tag}: error beat {rows[-1].tolist()} in a good packet's answer")
        if rows.shape != ans.rows.shape or (rows != ans.rows).any():
            bad = np.argwhere(rows != ans.rows)[:1].tolist() if rows.shape == ans.rows.shape else "shape"
            raise Fail(f"{tag}: {len(rows)} beats, expected {len(ans.rows)}; first difference {bad}")
        return None
    if not users or users[-1] != 1:
        raise Fail(f"{tag}: no error beat at the end (expected code {ans.code}), {len(rows)} beats")
    if any(users[:-1]):
        raise Fail(f"{tag}: more than one error beat")
    got = int(rows[-1][0])
    if not ans.accepts(got):
        raise Fail(f"{tag}: error code {got}, expected {ans.code}{' or ' + str(ans.codes) if ans.codes else ''}")
    body = rows[:-1]
    if body.shape != ans.rows.shape or (body != ans.rows).any():
        raise Fail(f"{tag}: {len(body)} result beats before the error beat, expected {len(ans.rows)} "
                   "(or their values differ)")
    return got


@cocotb.test()
async def fuzz(dut):
    with open(os.environ["MACFORGE_JOB"]) as f:
        spec = json.load(f)
    ecfg = EngineConfig.from_dict(spec["engine"])
    seed = int(spec["seed"])
    bench = EngineBench(dut, ecfg, seed)
    await bench.start()
    out = {"fail": None, "packets": 0, "resets": 0, "codes": {}, "max_bound_ratio": 0.0}
    try:
        for idx, item in enumerate(spec["items"]):
            tag = f"item {idx}"
            packets = [[int(b) for b in p] for p in item["packets"]]
            bench.traffic(item.get("idle", 0.0), item.get("bp", 0.0))
            if item.get("reset_after") is not None:
                await FallingEdge(dut.clk)
                cocotb.start_soon(bench.src.send(AxiStreamFrame(packets[0])))
                for _ in range(item["reset_after"]):
                    await RisingEdge(dut.clk)
                await bench.reset()
                while not bench.sink.empty():
                    bench.sink.recv_nowait()
                for _ in range(2):
                    await RisingEdge(dut.clk)
                if int(dut.status.value) != 0:
                    raise Fail(f"{tag}: status {int(dut.status.value):#x} after reset")
                out["resets"] += 1
                continue
            answers = [predict(ecfg, p) for p in packets]
            clean = not item.get("idle") and not item.get("bp")
            await FallingEdge(dut.clk)
            e = (get_sim_time("ns") // PERIOD + 1) * PERIOD
            for p in packets:
                bench.src.send_nowait(AxiStreamFrame(p))
            slow = 1.0 / max(0.05, (1 - item.get("idle", 0.0)) * (1 - item.get("bp", 0.0)))
            t_prev = e
            for i, (p, ans) in enumerate(zip(packets, answers)):
                bound = response_bound(ecfg, ans, len(p))
                limit = int(4 * slow * bound) + 200
                try:
                    frame = await with_timeout(bench.sink.recv(compact=False), limit * PERIOD, "ns")
                except Exception as exc:  # noqa: BLE001  (cocotb's SimTimeoutError)
                    raise Fail(f"{tag} packet {i}: no answer within {limit} cycles (hang?) {type(exc).__name__}")
                got = check_answer(ecfg, frame, ans, f"{tag} packet {i} ({ans.kind})")
                key = str(got if got is not None else ("caps" if ans.caps else "ok"))
                out["codes"][key] = out["codes"].get(key, 0) + 1
                t_end = get_sim_time_ns(frame.sim_time_end)
                cyc = int(round((t_end - t_prev) / PERIOD))
                if clean and len(packets) == 1:
                    if ans.code is None and not ans.caps:
                        from macforge.golden.engine_cycles import job_cycles
                        M, K, N, pr = ans.dims
                        model = job_cycles(ecfg, M, K, N, precision=pr)
                        if cyc != model:
                            raise Fail(f"{tag}: valid job took {cyc} cycles, the model states {model}")
                    if cyc > bound:
                        raise Fail(f"{tag} ({ans.kind}): answered after {cyc} cycles, bound {bound}")
                    out["max_bound_ratio"] = max(out["max_bound_ratio"], cyc / bound)
                t_prev = t_end
                out["packets"] += 1
            # status holds the last packet's error; busy falls
            for _ in range(4):
                await RisingEdge(dut.clk)
            st = int(dut.status.value)
            last = answers[-1]
            if st & 1:
                raise Fail(f"{tag}: still busy 4 cycles after the last answer (status {st:#x})")
            if last.code is None and st & 2:
                raise Fail(f"{tag}: status error bit after a good packet (status {st:#x})")
            if last.code is not None and not ((st >> 1) & 1 and last.accepts(st >> 4)):
                raise Fail(f"{tag}: status {st:#x}, expected error code {last.code}")
            if not bench.sink.empty():
                raise Fail(f"{tag}: spurious output after the answers")
    except Fail as exc:
        out["fail"] = idx
        out["msg"] = str(exc)
    with open(os.environ["MACFORGE_RESULT"], "w") as f:
        json.dump(out, f)
