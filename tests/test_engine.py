"""Layer engine RTL (cocotb + cocotbext-axi on Verilator): bit-exact and cycle-exact against
:mod:`macforge.golden.engine` / :mod:`macforge.golden.engine_cycles`, random idle cycles and backpressure, reset in the
middle of a job, bad input (error beat, status, recovery).

Each configuration is one Verilator build and one simulation running the whole job list; random jobs
print their seed and take ``MACFORGE_SEED`` from the environment.
"""

import random

import pytest

from macforge.golden.config import ArrayConfig
from macforge.golden.engine import command_word, section_beats
from macforge.golden.engine_config import EngineConfig
from macforge.sim.engine_run import run_engine, seed_from_env

CONFIGS = {
    # 32-bit activation / weight words (2 per beat), 6-beat parameter words
    "os_par_4x4": EngineConfig(ArrayConfig(rows=4, cols=4, dataflow="os", max_k=64), max_m=64, max_n=16),
    # odd sizes: 24-bit activation words, 16-bit weight words, 3-beat parameter words, 2 WS blocks
    "ws_par_3x2": EngineConfig(ArrayConfig(rows=3, cols=2, dataflow="ws", max_k=32, max_m=8), max_m=40, max_n=8),
    # bit-serial WS at p = 8 and p = 4
    "ws_bs_2x3": EngineConfig(ArrayConfig(rows=2, cols=3, dataflow="ws", mac="bitserial", max_k=32, max_m=8),
                              max_m=40, max_n=8),
}


def jobs_for(e: EngineConfig, seed: int) -> list[dict]:
    rng = random.Random(seed)
    bs = e.array.mac == "bitserial"
    ps = [8, 4] if bs else [None]
    mk, nk, mm = e.max_k, e.max_n, min(e.max_m, 3 * e.block_rows + 1)
    shapes = [(1, 1, 1), (mm, 13, nk), (2 * e.block_rows + 1, mk, 5), (e.rows + 1, 2 * e.rows + 1, e.cols + 1)]
    # seeded random shapes (different for every MACFORGE_SEED)
    shapes += [(rng.randint(1, e.max_m), rng.randint(1, mk), rng.randint(1, nk)) for _ in range(2)]
    jobs = []
    for p in ps:
        for i, (M, K, N) in enumerate(shapes):
            base = {"M": M, "K": K, "N": N, "relu": i % 2 == 0, "requant": i != 2}
            if p is not None:
                base["precision"] = p
            jobs.append(dict(base))                              # clean: cycle-exact check
            jobs.append(dict(base, idle=0.3, bp=0.4))            # random idle + backpressure
    M, K, N = 2 * e.block_rows + 1, 9, e.cols + 1
    hdr = sum(section_beats(e, M, K, N)[:3])
    blk0 = section_beats(e, M, K, N)[3]
    dims = {"M": M, "K": K, "N": N, "idle": 0.2, "bp": 0.3}
    bad = [
        # header errors, with and without a payload behind the command word
        {"kind": "raw", "beats": [command_word(2, 2, 2, opcode=0x13), 1, 2, 3], "code": 1},
        {"kind": "raw", "beats": [command_word(0, 2, 2)], "code": 2},
        {"kind": "raw", "beats": [command_word(2, e.max_k + 1, 2), 5, 6], "code": 3},
        {"kind": "raw", "beats": [command_word(2, 2, e.max_n + 1)], "code": 3},
        {"kind": "raw", "beats": [command_word(2, 2, 2)], "code": 4},     # tlast on the command word
        # truncated inside the weights, and after the first activation block (its rows still come out)
        {"kind": "trunc", **dims, "cut": hdr - 1},
        {"kind": "trunc", **dims, "cut": hdr + blk0 + 1},
        # too long: all results, then the error beat
        {"kind": "long", **dims, "extra": 3},
    ]
    # capabilities query with a payload behind it (a one-beat packet only): too long
    bad.append({"kind": "raw", "beats": [0x43, 0, 7], "code": 5})
    # bad requantization parameters: S = 0, S > 62, M0 >= 2^31 on a channel < N (padding lanes are free)
    for i, what in enumerate(("s0", "s63", "m0big")):
        bad.append({"kind": "badparam", "what": what, "channel": i, "M": 3, "K": 5, "N": e.cols + 1,
                    "idle": 0.2 * i, "bp": 0.1 * i})
    if e.array.mac == "bitserial":
        bad.append({"kind": "raw", "beats": [command_word(2, 2, 2, precision=e.array.a_width + 1), 0], "code": 6})
    for b in bad:
        jobs.append(b)
        jobs.append({"M": 3, "K": 5, "N": 2})                    # recovers: a good job right after
    jobs += [{"kind": "caps"}, {"M": 2, "K": 3, "N": 1}, {"kind": "caps", "bp": 0.5}]
    # reset in the middle of jobs (during loading and during compute), then correct jobs
    Mr = 2 * e.block_rows + 1
    total = sum(section_beats(e, Mr, mk, nk))
    # while loading; after the whole packet is in (computing, draining) with m_axis backpressured
    for after, bp in ((7, 0.0), (total + 6, 0.7)):
        jobs.append({"kind": "reset", "M": Mr, "K": mk, "N": nk, "reset_after": after, "bp": bp})
        jobs.append({"M": e.block_rows + 2, "K": 11, "N": 3, "idle": 0.3, "bp": 0.3})
        jobs.append({"M": e.block_rows + 2, "K": 11, "N": 3})
    jobs.append({"kind": "burst", "idle": 0.2, "bp": 0.3,
                 "layers": [{"M": rng.randint(1, 2 * e.block_rows), "K": rng.randint(1, mk),
                             "N": rng.randint(1, nk), "relu": bool(i % 2), "requant": i != 1} for i in range(3)]})
    return jobs


@pytest.mark.parametrize("name", list(CONFIGS))
def test_engine_rtl(name):
    e = CONFIGS[name]
    seed = seed_from_env(1234)
    jobs = jobs_for(e, seed)
    res = run_engine(e, jobs, seed, name=f"test_{name}")
    # the testbench asserts every check; here: the job list really ran, clean jobs were cycle-exact
    kinds = [r["kind"] for r in res["results"]]
    assert kinds.count("raw") >= 12 and kinds.count("reset") == 2 and kinds.count("burst") == 1
    assert kinds.count("caps") == 2
    codes = [r["code"] for r in res["results"] if r["kind"] == "raw"]
    assert codes.count(7) == 3 and 5 in codes
    clean = [r for r, j in zip(res["results"], jobs) if r["kind"] == "layer" and not j.get("idle")]
    assert clean and all(r["cycles"] == r["model"] for r in clean)


@pytest.mark.slow
@pytest.mark.parametrize("df", ["os", "ws"])
def test_engine_256_cubed_utilization_8x8(df):
    """256x256x256 on 8x8: measured cycles == model and utilization >= 90% including loads and drain."""
    e = EngineConfig(ArrayConfig(rows=8, cols=8, dataflow=df, max_k=256), max_m=256, max_n=256)
    res = run_engine(e, [{"M": 256, "K": 256, "N": 256, "relu": True}], seed_from_env(5), name="util256")
    r = res["results"][0]
    assert r["cycles"] == r["model"]
    util = 256 ** 3 / (64 * r["cycles"])
    print(f"{df}: {r['cycles']} cycles, utilization {util:.4f}")
    assert util >= 0.90


@pytest.mark.parametrize("df", ["os", "ws"])
def test_engine_ecp5_target(df):
    """The ECP5 netlist of the engine (MULT18X18D with input and output registers in the PEs and in the
    requantization partial products, DP16KD with the output register for the weight and activation
    buffers, behavioural models of :mod:`macforge.sim.ecp5_models`) is bit- and cycle-exact like the
    generic one."""
    from macforge.rtl.dsp import target
    from macforge.rtl.engine import engine_verilog
    from macforge.sim.ecp5_models import ECP5_MODELS
    from macforge.sim.runner import build

    e = EngineConfig(ArrayConfig(rows=3, cols=2, dataflow=df, max_k=32, max_m=8), max_m=40, max_n=8)
    text = engine_verilog(e, target("ecp5"))
    assert text.count("MULT18X18D ") >= 4 * e.cols      # the requantization's partial products at least
    assert text.count("DP16KD ") >= 2                   # the weight and activation buffers
    model = build(ECP5_MODELS + text, e.top_name)
    jobs = [{"M": 17, "K": 13, "N": 5, "relu": True, "requant": True}, {"M": 9, "K": 32, "N": 8, "requant": True},
            {"M": 3, "K": 5, "N": 3, "requant": False}, {"M": 20, "K": 7, "N": 7, "requant": True, "idle": 0.3, "bp": 0.4}]
    res = run_engine(e, jobs, seed_from_env(7), name=f"ecp5_{df}", model=model)
    clean = [r for r, j in zip(res["results"], jobs) if not j.get("idle")]
    assert len(res["results"]) == len(jobs) and all(r["cycles"] == r["model"] for r in clean)
