"""Issue 11 (verification depth), default-tier subset: the packet oracle against the golden encoder, a
formal PE proof, the broken-PE proof failing with a trace, a short seeded fuzz run on the RTL and the
mutation scheme of ``make mutate`` killing a known mutant (one netlist, mutants selected by ``+mutsel``).
The full targets are ``make formal`` and ``make fuzz``; ``MACFORGE_WAVES=1`` / ``macforge sim --waves`` is
tested in the slow tier (a traced Verilator build takes minutes on the shared machine)."""

import os
import random

import numpy as np
import pytest

from macforge.golden.config import ArrayConfig
from macforge.golden.engine import Layer, encode, expected_rows, rows_before_cut
from macforge.golden.engine_config import EngineConfig
from macforge.golden.packet_oracle import predict


@pytest.mark.parametrize("df", ["os", "ws"])
def test_packet_oracle_matches_golden(df, rng):
    """The fuzzer's oracle agrees with the golden encoder / expected rows / truncation rule on every cut."""
    e = EngineConfig(ArrayConfig(rows=3, cols=2, dataflow=df, max_k=32, max_m=4), max_m=20, max_n=8)
    M, K, N = 9, 7, 5
    L = Layer(rng.integers(-128, 128, (M, K)), rng.integers(-128, 128, (K, N)), rng.integers(-999, 999, N),
              rng.integers(1 << 29, 1 << 31, N), rng.integers(24, 40, N), relu=True)
    beats = encode(e, L)
    exp = expected_rows(e, L)
    a = predict(e, beats)
    assert a.code is None and (a.rows == exp).all()
    for cut in range(1, len(beats)):
        a = predict(e, beats[:cut])
        if 7 in a.codes:            # cut inside a wide parameter word: 4 or 7, no rows
            assert len(a.rows) == 0
            continue
        assert a.code == 4 and len(a.rows) == rows_before_cut(e, M, K, N, cut)
        assert (a.rows == exp[:len(a.rows)]).all()
    assert predict(e, beats + [0x4C]).code == 5
    bad = list(beats)
    bad[0] = (bad[0] & ~0xFF) | 0x13
    assert predict(e, bad).code == 1


def test_formal_pe_and_broken_pe():
    """k-induction proves the unpipelined parallel PE; the 2x2 OS array with the test-only broken PE fails its
    BMC with a counterexample VCD."""
    from macforge.gen.formal import FORMAL_DIR, jobs, run_job
    by = {j.name: j for j in jobs()}
    root = FORMAL_DIR / f"test_{os.getpid()}"
    import shutil
    try:
        r = run_job(by["pe_parallel_nopipe"], root=root)
        assert r["ok"] and r["result"] == "proved", r
        f = run_job(by["fault_array_os_parallel_2x2"], root=root)
        assert f["ok"] and f["result"] == "FAILED" and f["traces"], f
        assert all(t.endswith(".vcd") for t in f["traces"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_fuzz_short_seeded():
    """A short seeded fuzz run on the parallel OS engine (the same build as tests/test_engine.py)."""
    from macforge.gen.fuzz import CONFIGS, fuzz_config
    seed = int(os.environ.get("MACFORGE_SEED", "11"))
    print(f"MACFORGE_SEED={seed}")
    r = fuzz_config("os_par_4x4", CONFIGS["os_par_4x4"], seed, 60, do_shrink=False)
    assert r["fail"] is None, r.get("msg")
    assert r["packets"] >= 60 and len(r["codes"]) >= 4



def test_mutation_scheme_kills_known_mutant(tmp_path, monkeypatch):
    """``make mutate``'s scheme on the 2x3 parallel OS array: one netlist holding two sampled mutants plus a
    known one (the LSB of PE (0, 0)'s product tied to 0) behind ``mutsel``, one Verilator build; the
    original design (``+mutsel=0``) passes the focused check, the known mutant is killed with the failing
    row named; the report has the documented keys (kill ratio raw and excluding proven-equivalent mutants,
    per target)."""
    import json
    import re

    from macforge.gen import mutate as M
    from macforge.sim import runner
    monkeypatch.setattr(M, "MUT_DIR", tmp_path)
    monkeypatch.setattr(M, "REL_FILE", tmp_path / "reliability" / "mutate.json")
    seed = int(os.environ.get("MACFORGE_SEED", "3"))
    print(f"MACFORGE_SEED={seed}")
    t = next(x for x in M.targets(2) if x.name == "array_parallel_os")
    t.jobs = t.jobs[:2] + [j for j in t.jobs if j.get("bp")][:1]
    muts = M.sample(t, 2, seed)
    il = (tmp_path / t.name / "design.il").read_text()
    mul = re.search(r"cell \$mul (\S*pe_r0_c0\S*)", il).group(1)
    known = {"id": len(muts) + 1, "wire": None, "src": [],
             "mutation": f"mutate -mode const0 -module {t.top} -cell {mul} -port Y -portbit 0"}
    muts.append(known)
    text, width = M.mutated_verilog(t, muts)
    assert width == 8 and "mutsel" in text and "$value$plusargs" in text
    model = runner.build(text, t.top)
    ok, why, _ = M.simulate(model, t, 0, seed, 300)
    assert ok, why
    ok, why, _ = M.simulate(model, t, known["id"], seed, 300)
    assert not ok and "differ" in why, why
    # the structural (cone-of-influence) proof: the known mutant reaches an output; the parallel PE never
    # reads its slot's ``msb`` bit (bit 4 of ctl), so inverting it in PE (0, 0) is a proven-dead mutant
    assert M.dead_check(tmp_path / t.name, t.top, known["mutation"]) is False
    msb = re.search(r"cell \$mux (\S*pe_r0_c0\.\\pe\.\S+)\n(?:    .*\n)*?    connect \\B \\pe_r0_c0\.pe\.ctl\n", il)
    assert M.dead_check(tmp_path / t.name, t.top,
                        f"mutate -mode inv -module {t.top} -cell {msb.group(1)} -port B -portbit 4") is True
    res = {"target": t.name, "kind": "array", "config": t.cfg.to_dict(), "testbench": t.testbench,
           "jobs": len(t.jobs), "seed": seed, "mutants": 2, "killed": 1, "survived": 1, "clean_run_s": 1.0,
           "build_s": model.build_s, "seconds": 1.0,
           "results": [{**known, "verdict": "killed", "killed_by": why},
                       {**muts[0], "verdict": "survived", "equivalence": "proved", "reason": "test"}]}
    doc = M.report([res], seed, 1.0)
    assert doc["kill_ratio_raw"] == 0.5 and doc["kill_ratio"] == 1.0 and doc["equivalent_proved"] == 1
    rel = json.loads((tmp_path / "reliability" / "mutate.json").read_text())
    assert rel["targets"][t.name] == {"mutants": 2, "killed": 1, "equivalent": 1, "kill_ratio_raw": 0.5,
                                      "kill_ratio": 1.0}
    md = (tmp_path / "report.md").read_text()
    assert "| array_parallel_os |" in md and f"array_parallel_os #{muts[0]['id']}" in md

@pytest.mark.slow
def test_waves_env_writes_fst_with_axis_ports(monkeypatch):
    """MACFORGE_WAVES=1: the run writes an FST (VCD without liblz4) whose signals include the AXI4-Stream
    ports and the PE instances."""
    from macforge.sim.engine_run import build_engine, run_engine
    from macforge.sim.waves import signal_names
    monkeypatch.setenv("MACFORGE_WAVES", "1")
    e = EngineConfig(ArrayConfig(rows=4, cols=4, dataflow="os", max_k=64), max_m=64, max_n=16)
    res = run_engine(e, [{"M": 3, "K": 5, "N": 4}], 1, name="waves", model=build_engine(e))
    names = set(signal_names(res["waves"]))
    for port in ("s_axis_tdata", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast", "m_axis_tdata",
                 "m_axis_tvalid", "m_axis_tready", "m_axis_tlast", "m_axis_tuser", "status"):
        assert port in names, port
    assert any(n.startswith("pe_") for n in names)
