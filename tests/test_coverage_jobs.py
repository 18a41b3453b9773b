"""Coverage closure jobs (issue 11, ``make coverage``: the last entry of ``gen/coverage.py`` ``SUITE``).

Directed jobs on the same builds as the regressions they extend (so Verilator's coverage points of those
builds are shared), each bit- and cycle-exact through the existing testbenches:

* every engine of the coverage suite (parallel OS/WS, bit-serial WS, tMAC OS/WS, packed parallel /
  bit-serial) runs one job at its largest ``M``, ``K``, ``N``: the high bits of every tiling counter
  (rows, K-chunks, tiles, buffer addresses) and of the parameter / weight memories' addresses toggle;
* the WS arrays run a block of exactly ``max_m`` rows (the accumulator row counter reaches ``max_m - 1``)
  and, bit-serial at precision 1 (one cycle per beat), K-chunks accumulating into one row in back-to-back
  cycles (the accumulator's forwarding of the row written in the previous cycle) and into two rows
  alternately (the read port's transparency to the write of the same cycle).
* the bit-serial arrays (OS, WS, packed WS) get a precision port value outside ``1 .. a_width`` (the front
  end's clamp) and activations wider than the precision (its saturation).

Random operands print ``MACFORGE_SEED``; ``make coverage`` fixes it (``gen/coverage.py`` ``SEED``). The jobs
are in the slow tier (``make test-all`` and ``make coverage`` run them); the default tier checks the coverage
report's module kinds and unreachable-point rules on hand-made points.
"""

import pytest

from array_jobs import run_array
from macforge.golden.config import ArrayConfig
from macforge.golden.engine_config import EngineConfig
from macforge.sim.engine_run import run_engine
from test_colcomb_engine import engine as packed_engine
from test_engine import CONFIGS as DENSE
from test_tmac_engine import CONFIGS as TMAC

ENGINES = {**DENSE, **TMAC, "cc_par_4": packed_engine("parallel", 4), "cc_bs_2": packed_engine("bitserial", 2)}


def max_jobs(e: EngineConfig) -> list[dict]:
    """The largest job of the engine (relu + requant), then a small one (the engine is idle again)."""
    a = e.array
    extra = {}
    if a.mac == "bitserial":
        extra["precision"] = a.a_width
    if a.mac == "tmac":
        extra.update(k=a.k_max, k_x=a.kx_max, encoding=a.encodings[-1])
    return [dict(M=e.max_m, K=e.max_k, N=e.max_n, relu=True, requant=True, **extra),
            dict(M=3, K=5, N=2, relu=False, requant=True, **extra)]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_largest_job(name, seed):
    e = ENGINES[name]
    jobs = max_jobs(e)
    res = run_engine(e, jobs, seed, name=f"cov_{name}")["results"]
    assert len(res) == len(jobs), f"seed={seed}"
    assert [r["dims"] for r in res][0][0] == e.max_m
    assert all(r["kind"] == "layer" and r["cycles"] == r["model"] for r in res), f"seed={seed}"


@pytest.mark.slow
@pytest.mark.parametrize("mac", ["parallel", "bitserial"])
def test_ws_array_full_block_and_back_to_back_rows(mac, seed, request):
    # the builds of tests/test_array.py (2x2, 4-bit) and tests/test_bitserial.py (2x3, 8-bit)
    if mac == "parallel":
        cfg = ArrayConfig(rows=2, cols=2, dataflow="ws", mac="parallel", a_width=4, w_width=4, max_k=300,
                          max_m=64)
        ps = [None]
    else:
        cfg = ArrayConfig(rows=2, cols=3, dataflow="ws", mac="bitserial", a_width=8, w_width=8, max_k=300,
                          max_m=64)
        ps = [1, 8]
    R = cfg.rows
    jobs = []
    for p in ps:
        jobs.append({"M": cfg.max_m, "K": R + 1, "N": cfg.cols, "precision": p})    # one full block
        for M in (1, 2, 3):                                                        # rows re-read at once
            jobs.append({"M": M, "K": 4 * R + 1, "N": cfg.cols + 1, "precision": p})
    res = run_array(cfg, jobs, seed, request.node.name)["results"]
    assert len(res) == len(jobs), f"seed={seed}"
    assert all(r["cycles"] == r["model"] for r in res), f"seed={seed}"


@pytest.mark.slow
@pytest.mark.parametrize("dataflow,alpha", [("os", None), ("ws", None), ("ws", 4)])
def test_bitserial_precision_clamp_and_saturation(dataflow, alpha, seed, request):
    """The bit-serial front end clamps the precision port into 1 .. a_width (0 -> 1, above a_width ->
    a_width) and saturates activations wider than p bits: bit- and cycle-exact against the model at the
    clamped precision. Builds of tests/test_bitserial.py (2x3) and tests/test_colcomb_array.py (3x4, alpha 4)."""
    if alpha is None:
        cfg = ArrayConfig(rows=2, cols=3, dataflow=dataflow, mac="bitserial", a_width=8, w_width=8, max_k=300,
                          max_m=64)
    else:
        cfg = ArrayConfig(rows=3, cols=4, dataflow="ws", mac="bitserial", alpha=alpha, max_k=128, max_m=16)
    jobs = [{"M": 3, "K": 7, "N": 4, "precision": 1, "port_precision": 0, "wide": True},
            {"M": 3, "K": 7, "N": 4, "precision": cfg.a_width, "port_precision": 15},
            {"M": 3, "K": 7, "N": 4, "precision": 3, "wide": True},
            {"M": 3, "K": 7, "N": 4, "precision": 1, "wide": True}]
    res = run_array(cfg, jobs, seed, request.node.name)["results"]
    assert len(res) == len(jobs), f"seed={seed}"
    assert all(r["cycles"] == r["model"] for r in res), f"seed={seed}"


def test_coverage_kinds_and_unreachable_rules(tmp_path):
    """gen/coverage.py: module kinds per design; an ``en = 0`` branch not hit counts as unreachable inside an
    engine (the array never stalls there) but as a miss in a bare array; a constant temporary never toggles."""
    from macforge.gen.coverage import module_kind, summarize
    assert module_kind("macforge_engine_parallel_os_4x4.array.pe_r1_c2") == "parallel OS array: array.pe"
    assert module_kind("macforge_engine_bitserial_ws_2x3.up_a") == "engine: up_a"
    assert module_kind("macforge_engine_bitserial_ws_3x2_cc2.array.post_c1") == "bit-serial packed WS array: array.post"
    assert module_kind("macforge_tmac_ws_2x2.frontend.enc_0_1") == "tMAC WS array: array.frontend.enc"
    assert module_kind("macforge_pe_parallel_ws_a8w8acc21_cc4_912225.mul") == "parallel packed WS array: array.pe.mul"
    assert module_kind("macforge_cell_tmac_ws_a8w8acc22_b5d203.pe") == "tMAC WS array: array.cell.pe"
    assert module_kind("macforge_dly15_parallel_os_a8w8acc22_ad10a2") == "parallel OS array: array.dly"
    assert module_kind("macforge_edge_bitserial_ws_a8w8acc21_cc2_87608a.frontend") == \
        "bit-serial packed WS array: array.edge.frontend"
    v = tmp_path / "x.v"
    v.write_text("module m;\n  always @* begin\n    if (en) begin\n      x = 1;\n    end\n  end\n"
                 "  wire [2:0] \\$7 ;\n  assign \\$7  = 3'h0;\nendmodule\n")

    def key(**f):
        return "\x01".join(f"{k}\x02{v}" for k, v in f.items())
    pts = {key(f=str(v), l="3", page="v_branch/macforge_engine_parallel_ws_3x2.array", o="else",
               h="macforge_engine_parallel_ws_3x2.array"): 0,
           key(f=str(v), l="3", page="v_branch/macforge_parallel_ws_2x2", o="else", h="macforge_parallel_ws_2x2"): 0,
           key(f=str(v), l="3", page="v_branch/macforge_parallel_ws_2x2", o="if", h="macforge_parallel_ws_2x2"): 5,
           key(f=str(v), l="7", page="v_toggle/macforge_parallel_ws_2x2", o="__0247[1]:0->1",
               h="macforge_parallel_ws_2x2"): 0}
    gaps = {}
    doc = summarize(pts, gaps)
    mod = doc["modules"]["parallel WS array: array"]
    assert (mod["line_points"], mod["line_pct"], mod["line_reach_pct"]) == (3, 33.33, 50.0)
    assert (mod["toggle_points"], mod["toggle_pct"], mod["toggle_reach_pct"]) == (1, 0.0, None)
    assert {u["ctx"] for u in doc["unreachable"]} == {"engine", "any"}
    assert [g[:3] for g in gaps["parallel WS array: array"]] == [("line", "3", "else")]
