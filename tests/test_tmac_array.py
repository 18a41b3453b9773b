"""tMAC systolic arrays on Verilator: bit-exact against macforge.golden.tmac.tmac_gemm (= data_budget(A) @
group_budget(W), the ``tq`` mode's arithmetic) and cycle-exact against macforge.golden.cycles with ``L = k k_x``
and the reduction counted in groups; every run-time ``k`` (1..k_max) and ``k_x`` (1..4) and both encodings on
ONE build per configuration; operands at their extremes (incl. values whose HESE form carries into the next
bit); K not a multiple of g; random idle input + backpressure and reset mid-job; a faulted PE is caught.

Re-run a failure with the printed seed: ``MACFORGE_SEED=<seed> pytest tests/test_tmac_array.py -k <id>``.
"""

import pytest

from array_jobs import run_array
from macforge.golden.config import ArrayConfig, Fault

ENCS = ("binary", "hese")


def tcfg(rows, cols, dataflow, g, k_max, kx_max=4, **kw):
    return ArrayConfig(rows=rows, cols=cols, dataflow=dataflow, mac="tmac", a_width=8, w_width=8, max_k=300,
                       max_m=32, g=g, k_max=k_max, kx_max=kx_max, **kw)


def budget_jobs(cfg: ArrayConfig) -> list[dict]:
    """Every (k, k_x) once (encodings alternating), both encodings at the maxima; K never a multiple of g
    (except g = 1), partial edge tiles (M = R+1, N = C+1)."""
    R, C, g = cfg.rows, cfg.cols, cfg.g
    K = 2 * g + max(1, g // 2 - 1) if g > 1 else 5
    jobs = []
    for k in range(1, cfg.k_max + 1):
        for kx in range(1, cfg.kx_max + 1):
            jobs.append({"M": R + 1, "K": K, "N": C + 1, "k": k, "k_x": kx, "encoding": ENCS[(k + kx) % 2]})
    for e in ENCS:
        K_long = min(3 * R * g, (cfg.max_k - 1) // g * g) + 1      # several WS K-chunks, within max_k
        jobs.append({"M": R, "K": K_long, "N": C, "k": cfg.k_max, "k_x": cfg.kx_max, "encoding": e})
        jobs.append({"M": 1, "K": 1, "N": 1, "k": 1, "k_x": 1, "encoding": e})
    return jobs


def stress(cfg: ArrayConfig) -> list[dict]:
    R, C, g = cfg.rows, cfg.cols, cfg.g
    job = {"M": 2 * R + 1, "K": (R + 1) * g + 1, "N": 2 * C + 1, "k": min(3, cfg.k_max), "k_x": 2,
           "encoding": "hese"}
    return [{**job, "idle": 0.3, "bp": 0.4}, {**job, "reset_at": 5 * R + 11}, dict(job)]


def check(cfg, jobs, res, seed):
    assert len(res) == len(jobs), f"seed={seed}"
    clean = [r for r in res if "cycles" in r and not r["job"].get("idle") and not r["job"].get("bp")]
    assert clean and all(r["cycles"] == r["model"] for r in clean), f"seed={seed}"
    got = {(r["job"]["k"], r["job"]["k_x"]) for r in clean}
    assert got >= {(k, kx) for k in range(1, cfg.k_max + 1) for kx in range(1, cfg.kx_max + 1)}
    assert {r["job"]["encoding"] for r in clean} == set(ENCS)
    assert any(r.get("aborted") for r in res), "the reset-in-the-middle job did not run"


# (rows, cols, dataflow, g, k_max): default tier; every g of the acceptance list, both dataflows
FAST = [(1, 1, "os", 1, 7), (1, 1, "ws", 1, 7), (2, 2, "os", 4, 8), (2, 2, "ws", 4, 8), (4, 4, "os", 8, 12),
        (4, 4, "ws", 16, 16)]
SLOW = [(4, 4, "os", 16, 16), (4, 4, "ws", 8, 12), (8, 8, "os", 16, 16), (8, 8, "ws", 16, 16),
        (8, 8, "os", 4, 8), (8, 8, "ws", 1, 7)]


def _run(shape, seed, request):
    cfg = tcfg(*shape)
    jobs = budget_jobs(cfg) + stress(cfg)
    res = run_array(cfg, jobs, seed, request.node.name)["results"]
    check(cfg, jobs, res, seed)


@pytest.mark.parametrize("shape", FAST, ids=[f"{r}x{c}-{d}-g{g}-k{k}" for r, c, d, g, k in FAST])
def test_tmac_array(shape, seed, request):
    _run(shape, seed, request)


@pytest.mark.slow
@pytest.mark.parametrize("shape", SLOW, ids=[f"{r}x{c}-{d}-g{g}-k{k}" for r, c, d, g, k in SLOW])
def test_tmac_array_large(shape, seed, request):
    _run(shape, seed, request)


@pytest.mark.parametrize("dataflow,fault", [("os", Fault(row=1, col=0, mask=1 << 3)),
                                            ("ws", Fault(row=0, col=1, mask=1))])
def test_tmac_fault_is_caught(dataflow, fault, seed, request):
    """The same job passes on the clean 2x2 build (the matrix's own) and fails with one faulted PE."""
    base = dict(rows=2, cols=2, dataflow=dataflow, g=4, k_max=8)
    jobs = [{"M": 4, "K": 13, "N": 4, "k": 5, "k_x": 3, "encoding": "hese"}]
    run_array(tcfg(**base), jobs, seed, request.node.name + "-clean")
    with pytest.raises(AssertionError, match="rows differ"):
        run_array(tcfg(**base, fault=fault), jobs, seed, request.node.name + "-fault")
