"""tMAC layer engine (cocotb + cocotbext-axi on Verilator): term slots in the weight section, the budget
word after the command word, bit-exact against macforge.golden.engine (tq arithmetic: data_budget(X) @
group_budget(W), then bias/requant/ReLU) and cycle-exact against macforge.golden.engine_cycles; random idle +
backpressure, reset mid-job, bad packets (incl. bad budgets) followed by good jobs -- the job list of
tests/test_engine.py plus tMAC budgets, on one build per configuration.

Re-run with the printed seed: ``MACFORGE_SEED=<seed> pytest tests/test_tmac_engine.py``.
"""

import random

import pytest

from macforge.golden.config import ArrayConfig
from macforge.golden.engine import budget_word, command_word
from macforge.golden.engine_config import EngineConfig
from macforge.sim.engine_run import run_engine, seed_from_env
from test_engine import jobs_for

CONFIGS = {
    # 2 rows x g=4 x 8 bits = 64-bit activation words; 2 x 8 slots x 7 bits = 112-bit weight words (2 beats)
    "os_tmac_2x2": EngineConfig(ArrayConfig(rows=2, cols=2, dataflow="os", mac="tmac", g=4, k_max=8, kx_max=4,
                                            max_k=64), max_m=24, max_n=8),
    # WS, K chunks of 2 groups of 8, two WS blocks, HESE only
    "ws_tmac_2x3": EngineConfig(ArrayConfig(rows=2, cols=3, dataflow="ws", mac="tmac", g=8, k_max=6, kx_max=3,
                                            max_k=64, max_m=8, encodings=("hese",)), max_m=20, max_n=8),
}


def tmac_jobs(e: EngineConfig, seed: int) -> list[dict]:
    rng = random.Random(seed + 1)
    a = e.array
    jobs = []
    for j in jobs_for(e, seed):
        if j.get("kind", "layer") in ("layer", "trunc", "long", "reset"):
            j = dict(j, k=rng.randint(1, a.k_max), k_x=rng.randint(1, a.kx_max), encoding=rng.choice(a.encodings))
        jobs.append(j)
    # the budget extremes, cycle-exact
    for k, kx in ((1, 1), (a.k_max, a.kx_max)):
        jobs.append({"M": e.rows + 1, "K": 2 * a.g + 3, "N": e.cols + 1, "k": k, "k_x": kx,
                     "encoding": a.encodings[0], "relu": True})
    cmd = command_word(2, 2, 2)
    bad = [
        {"kind": "raw", "beats": [cmd, budget_word(a.k_max + 1, 1, 1), 7, 7], "code": 6},
        {"kind": "raw", "beats": [command_word(2, 2, 2, precision=3), budget_word(1, 1, 1)], "code": 6},
        {"kind": "raw", "beats": [cmd, budget_word(1, 1, 1)], "code": 4},          # tlast on the budget word
    ]
    if a.kx_max < 15:
        bad.append({"kind": "raw", "beats": [cmd, budget_word(1, a.kx_max + 1, 1)], "code": 6})
    if a.encodings == ("hese",):
        bad.append({"kind": "raw", "beats": [cmd, budget_word(1, 1, 0), 0], "code": 6})
    for b in bad:
        jobs += [b, {"M": 3, "K": 5, "N": 2, "k": 1, "k_x": 2}]
    return jobs


@pytest.mark.parametrize("name", list(CONFIGS))
def test_tmac_engine_rtl(name):
    e = CONFIGS[name]
    seed = seed_from_env(4321)
    jobs = tmac_jobs(e, seed)
    res = run_engine(e, jobs, seed, name=f"test_{name}")
    kinds = [r["kind"] for r in res["results"]]
    assert kinds.count("raw") >= 11 and kinds.count("reset") == 2 and kinds.count("burst") == 1
    clean = [r for r, j in zip(res["results"], jobs) if r["kind"] == "layer" and not j.get("idle")]
    assert len(clean) >= 8 and all(r["cycles"] == r["model"] for r in clean), f"seed={seed}"
