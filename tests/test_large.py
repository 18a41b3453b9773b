"""Large arrays (issue 13), slow tier: a 128x128 parallel WS array and a 64x64 parallel OS array are
emitted (hierarchical Verilog: the module count stays that of a 2x2 array), linted (``verilator
--lint-only -Wall``), built with Verilator and run a GEMM bit-exact and cycle-exact against
:mod:`macforge.golden.cycles` (the cocotb testbench packs each wide beat with NumPy: no per-lane Python
work per cycle, :func:`macforge.sim.tb.streams.pack`).

One large build at a time: both tests share an xdist group (``--dist loadgroup``), so one worker runs
them one after the other. Measured on the 2-core machine (see ``build/bench/large/large.json`` for
the benchmark figures).
"""

from __future__ import annotations

import time

import pytest

from array_jobs import run_array
from macforge.gen.bench_large import LARGE_BUILD_ARGS
from macforge.gen.equiv import module_count
from macforge.gen.lint import lint
from macforge.golden.config import ArrayConfig
from macforge.rtl.verilog import to_verilog

CASES = [
    # (dataflow, size, job): K spans two tiles of R, M beyond one accumulator tile for WS
    ("os", 64, {"M": 65, "K": 130, "N": 64}),
    ("ws", 128, {"M": 32, "K": 256, "N": 128}),
]


@pytest.mark.slow
@pytest.mark.xdist_group("large_arrays")
@pytest.mark.parametrize("df,size,job", CASES, ids=[f"{c[0]}_{c[1]}x{c[1]}" for c in CASES])
def test_large_array_gemm(df, size, job, tmp_path, request):
    cfg = ArrayConfig(rows=size, cols=size, dataflow=df, mac="parallel")
    t = time.perf_counter()
    text = to_verilog(cfg)
    emit_s = time.perf_counter() - t
    assert module_count(text) == module_count(to_verilog(ArrayConfig(rows=2, cols=2, dataflow=df)))
    vf = tmp_path / f"{cfg.top_name}.v"
    vf.write_text(text)
    r = lint(vf, cfg.top_name)
    assert r.ok, r.output[-3000:]
    t = time.perf_counter()
    res = run_array(cfg, [job], seed=13, name=request.node.name, verilog_text=text,
                    build_args=LARGE_BUILD_ARGS)["results"]
    run_s = time.perf_counter() - t
    assert len(res) == 1 and res[0]["cycles"] == res[0]["model"], res
    print(f"{cfg.top_name}: emit {emit_s:.1f} s, lint {r.seconds:.1f} s, build + run {run_s:.1f} s, "
          f"{res[0]['cycles']} cycles (model {res[0]['model']})")
