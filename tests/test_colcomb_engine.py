"""Packed (column-combining) WS array inside the layer engine, cocotb on Verilator: bit-exact against
:func:`macforge.golden.colcomb.expected_rows_packed` (= the dense job of the surviving weights) and
cycle-exact against :func:`macforge.golden.colcomb.engine_job_cycles`, for the parallel and bit-serial MACs
at alpha 1, 2, 4, 8, with random idle input, random backpressure, reset in the middle of jobs, a bad
packet followed by recovery, and packets queued back to back.

Every PE of the packed array selects one of its row's ``alpha`` activations with the select index stored
beside its weight, so a wrong select bit, lane order or weight/select split shows up as a mismatch.
Random jobs print ``MACFORGE_SEED`` and take it from the environment.
"""

import random

import numpy as np
import pytest

from macforge.golden.colcomb import engine_job_cycles, pack
from macforge.golden.config import ArrayConfig
from macforge.golden.engine import command_word
from macforge.golden.engine_config import EngineConfig
from macforge.sim.engine_run import run_engine


def engine(mac: str, alpha: int) -> EngineConfig:
    # odd 3x2 array: activation words of 3 * alpha * 8 bits (multi-beat at alpha = 8 on the 64-bit bus)
    return EngineConfig(ArrayConfig(rows=3, cols=2, dataflow="ws", mac=mac, max_k=32, max_m=8, alpha=alpha),
                        max_m=40, max_n=8)


def jobs_for(e: EngineConfig, seed: int) -> list[dict]:
    rng = random.Random(seed)
    A = e.array.alpha
    ps = [8, 3] if e.array.mac == "bitserial" else [None]
    shapes = [
        dict(M=1, K=1, N=1),                                          # a single line
        dict(M=2 * e.block_rows + 1, K=A * 10, N=e.max_n),            # several K-chunks, 2 blocks, 4 tiles
        dict(M=5, K=A * 4, N=3, density=1.0, gamma=100.0),            # full conflicts: 1 survivor per position
        dict(M=4, K=7, N=5, gamma=0.0),                               # no conflicts allowed
        dict(M=rng.randint(1, 20), K=rng.randint(1, A * 12), N=rng.randint(1, e.max_n)),
    ]
    if A > 1:
        shapes.append(dict(M=6, K=20, N=4, alpha=max(1, A // 2)))     # packed with a smaller alpha
    jobs = []
    for p in ps:
        for i, sh in enumerate(shapes):
            base = dict(sh, relu=i % 2 == 0, requant=i != 1)
            if p is not None:
                base["precision"] = p
            jobs.append(dict(base))                                   # clean: cycle-exact
            jobs.append(dict(base, idle=0.3, bp=0.4))                 # random idle + backpressure
    # reset while loading and while computing (backpressured), then good jobs
    for after, bp in ((9, 0.0), (60, 0.7)):
        jobs.append({"kind": "reset", "M": 12, "K": A * 8, "N": 4, "reset_after": after, "bp": bp})
        jobs.append({"M": 9, "K": A * 5, "N": 3, "idle": 0.3, "bp": 0.3})
        jobs.append({"M": 9, "K": A * 5, "N": 3})
    # bad packet (K above max_k), then recovery
    jobs.append({"kind": "raw", "beats": [command_word(2, e.max_k + 1, 2), 5, 6], "code": 3})
    jobs.append({"M": 3, "K": 5, "N": 2})
    jobs.append({"kind": "burst", "idle": 0.2, "bp": 0.3,
                 "layers": [{"M": rng.randint(1, 12), "K": rng.randint(1, A * 8), "N": rng.randint(1, 6),
                             "relu": bool(i % 2), "requant": i != 1} for i in range(3)]})
    return jobs


#: default tier: two builds per MAC; every (MAC, alpha) in the slow tier (``make test-all``)
FAST = {("parallel", 1), ("parallel", 4), ("bitserial", 2), ("bitserial", 8)}
CASES = [pytest.param(mac, a, marks=() if (mac, a) in FAST else pytest.mark.slow, id=f"{mac}-{a}")
         for mac in ("parallel", "bitserial") for a in (1, 2, 4, 8)]


@pytest.mark.parametrize("mac,alpha", CASES)
def test_packed_engine(mac, alpha, seed):
    e = engine(mac, alpha)
    jobs = jobs_for(e, seed)
    res = run_engine(e, jobs, seed, name=f"cc_{mac}_{alpha}")["results"]
    assert len(res) == len(jobs)
    layers = [r for r in res if r["kind"] == "layer"]
    clean = [(r, j) for r, j in zip(res, jobs) if r["kind"] == "layer" and not j.get("idle") and not j.get("bp")]
    assert clean and all(r["cycles"] == r["model"] for r, _ in clean)
    # the engine K of a packed job is its group count: the array does fewer steps than the dense K
    assert any(r["dims"][1] < j["K"] for r, j in clean)
    assert len(layers) >= 10
    assert [r["code"] for r in res if r["kind"] == "raw"] == [3]


def test_cycle_model_counts_groups():
    e = engine("parallel", 4)
    rng = np.random.default_rng(0)
    w = rng.integers(-5, 5, (40, 8))
    w[rng.random(w.shape) > 0.2] = 0
    pm = pack(w, 4, 0.5)
    assert pm.groups <= 16
    from macforge.golden.engine_cycles import job_cycles
    assert engine_job_cycles(e, 20, pm) == job_cycles(e, 20, pm.groups, 8)
