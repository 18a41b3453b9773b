"""Parallel-MAC systolic arrays on Verilator: bit-exact against golden.gemm and cycle-exact against
golden.cycles, over sizes 1x1 .. 16x16 (square and not), both dataflows, widths 4, 8 and 16, and
K from 1 to 300; random idle/backpressure and reset in the middle of traffic.

Re-run a failure with the printed seed: ``MACFORGE_SEED=<seed> pytest tests/test_array.py -k <id>``.
"""

import pytest

from array_jobs import run_array, stress_jobs, sweep_jobs
from golden.config import ArrayConfig

# (rows, cols, a_width, w_width): every size of the acceptance list, widths 4, 8 and 16 all covered.
SHAPES = [
    (1, 1, 16, 16),
    (2, 2, 4, 4),
    (4, 4, 8, 8),
    (8, 8, 8, 8),
    (4, 8, 4, 16),
    (8, 4, 16, 4),
    (16, 16, 8, 8),
]


@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("rows,cols,aw,ww", SHAPES, ids=[f"{r}x{c}-a{a}w{w}" for r, c, a, w in SHAPES])
def test_parallel_array(rows, cols, aw, ww, dataflow, seed, request):
    cfg = ArrayConfig(rows=rows, cols=cols, dataflow=dataflow, mac="parallel", a_width=aw, w_width=ww,
                      max_k=300, max_m=64)
    jobs = sweep_jobs(cfg) + stress_jobs(cfg)
    res = run_array(cfg, jobs, seed, request.node.name)["results"]
    assert len(res) == len(jobs)
    checked = [r for r in res if "cycles" in r and not r["job"].get("idle") and not r["job"].get("bp")]
    assert checked and all(r["cycles"] == r["model"] for r in checked), f"seed={seed}"
    assert any(r.get("aborted") for r in res), "the reset-in-the-middle job did not run"
    assert {r["job"]["K"] for r in checked} >= {1, 300}
