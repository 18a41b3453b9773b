"""The bare packed (column-combining) WS array, cocotb on Verilator: bit-exact against ``X @ dense()`` of
the packed weights and cycle-exact against :func:`macforge.golden.cycles.ws_job_cycles` with ``K = G``, for
the parallel and bit-serial MACs at alpha 1, 2, 4, 8: K-chunk corners, a single line, full conflicts, a
smaller packing alpha than the build's, random idle input + backpressure, reset in the middle of a job.
(The same array inside the layer engine: ``tests/test_colcomb_engine.py``.)"""

import pytest

from macforge.golden.config import ArrayConfig
from array_jobs import run_array


def jobs(cfg: ArrayConfig) -> list[dict]:
    R, C, A = cfg.rows, cfg.cols, cfg.alpha
    p = [None] if cfg.mac == "parallel" else [cfg.a_width, 3]
    out = []
    for prec in p:
        for K in (1, R * A, R * A + 1, 3 * R * A + 2):
            out.append({"M": R + 1, "K": K, "N": C + 1, "precision": prec})
        out.append({"M": 3, "K": 4 * A, "N": C, "density": 1.0, "gamma": 100.0, "precision": prec})  # full conflicts
        if A > 1:
            out.append({"M": 4, "K": 13, "N": C + 2, "alpha": A // 2, "precision": prec})
    job = {"M": 2 * R + 1, "K": 2 * R * A + 3, "N": 2 * C + 1, "precision": p[0]}
    out += [{**job, "idle": 0.3, "bp": 0.4}, {**job, "reset_at": 3 * R + 7}, dict(job)]
    return out


#: default tier: one build per MAC; every (MAC, alpha) in the slow tier (``make test-all``)
FAST = {("parallel", 8), ("bitserial", 4)}
CASES = [pytest.param(mac, a, marks=() if (mac, a) in FAST else pytest.mark.slow, id=f"{mac}-{a}")
         for mac in ("parallel", "bitserial") for a in (1, 2, 4, 8)]


@pytest.mark.parametrize("mac,alpha", CASES)
def test_packed_array(mac, alpha, seed):
    cfg = ArrayConfig(rows=3, cols=4, dataflow="ws", mac=mac, alpha=alpha, max_k=128, max_m=16)
    js = jobs(cfg)
    res = run_array(cfg, js, seed, f"cc_array_{mac}_{alpha}")["results"]
    assert len(res) == len(js)
    clean = [r for r in res if not r.get("aborted") and not r["job"].get("idle") and not r["job"].get("bp")]
    assert len(clean) >= 6 and all(r["cycles"] == r["model"] for r in clean)
    assert sum(1 for r in res if r.get("aborted")) == 1
