"""Bit-serial MAC arrays on Verilator: every run-time precision p = 1..8 on ONE build per
configuration, bit-exact (activations saturated to p bits, as macforge.golden.gemm.clip_precision) and
cycle-exact; sizes 1x1 .. 8x8 incl. non-square; both dataflows; K 1..300.

Re-run a failure with the printed seed: ``MACFORGE_SEED=<seed> pytest tests/test_bitserial.py -k <id>``.
"""

import pytest

from array_jobs import run_array, stress_jobs, sweep_jobs
from macforge.golden.config import ArrayConfig
from macforge.golden.cycles import os_job_cycles

SHAPES = [(1, 1), (2, 3), (3, 8), (8, 8)]


def precision_jobs(cfg: ArrayConfig) -> list[dict]:
    R, C = cfg.rows, cfg.cols
    jobs = []
    for p in range(1, cfg.a_width + 1):
        ks = [1, R + 1, 300] if p in (1, 5, cfg.a_width) else [1, R + 1]
        jobs += sweep_jobs(cfg, p, ks)[:len(ks)]
        # values drawn from the full a_width range: the front end must saturate them to p bits
        jobs.append({"M": R + 1, "K": 6, "N": C, "precision": p, "wide": True})
    return jobs


@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("rows,cols", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_bitserial_array(rows, cols, dataflow, seed, request):
    cfg = ArrayConfig(rows=rows, cols=cols, dataflow=dataflow, mac="bitserial", a_width=8, w_width=8,
                      max_k=300, max_m=64)
    jobs = precision_jobs(cfg) + stress_jobs(cfg, precision=3)
    res = run_array(cfg, jobs, seed, request.node.name)["results"]
    checked = [r for r in res if "cycles" in r and not r["job"].get("idle") and not r["job"].get("bp")]
    assert {r["job"]["precision"] for r in checked} == set(range(1, 9)), f"seed={seed}"
    assert all(r["cycles"] == r["model"] for r in checked), f"seed={seed}"


def test_cycles_scale_with_precision(seed, request):
    """cycles(p) / cycles(8) == p / 8 once the fill and drain overhead the cycle model states
    (``2R + C + 1 + P`` for OS, ``P`` the pipelining option's extra latency, valid while ``K p >= R``) is
    taken off -- measured, on one build."""
    # the matrix's 2x3 OS configuration (cached build)
    cfg = ArrayConfig(rows=2, cols=3, dataflow="os", mac="bitserial", a_width=8, w_width=8, max_k=300,
                      max_m=64)
    M, K, N = 4, 16, 6
    jobs = [{"M": M, "K": K, "N": N, "precision": p} for p in range(1, 9)]
    res = run_array(cfg, jobs, seed, request.node.name)["results"]
    cyc = {r["job"]["precision"]: r["cycles"] for r in res}
    overhead = 2 * cfg.rows + cfg.cols + 1 + cfg.pipe_latency
    for p in range(1, 9):
        assert cyc[p] == os_job_cycles(cfg, [K] * 4, p)
        assert (cyc[p] - overhead) * 8 == (cyc[8] - overhead) * p, (p, cyc)
    print({p: round(cyc[p] / cyc[8], 4) for p in cyc})
