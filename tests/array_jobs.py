"""Job lists and the build-and-run helper shared by the array regressions."""

from __future__ import annotations

import re

from macforge.golden.config import ArrayConfig
from macforge.rtl.verilog import to_verilog
from macforge.sim import runner


def k_values(cfg: ArrayConfig, top: int = 300) -> list[int]:
    """Reduction lengths that hit every corner: 1, around R (OS drain spacing, WS chunking), 300."""
    R = cfg.rows
    ks = {1, 2, 3, R - 1, R, R + 1, 2 * R + 1, 17, 64, top}
    return sorted(k for k in ks if 1 <= k <= min(top, cfg.max_k))


def sweep_jobs(cfg: ArrayConfig, precision: int | None = None, ks: list[int] | None = None) -> list[dict]:
    """Bit- and cycle-exact jobs over K, with partial edge tiles (M = R+1, N = C+1) and exact tiles."""
    R, C = cfg.rows, cfg.cols
    jobs = []
    for k in ks or k_values(cfg):
        jobs.append({"M": R + 1, "K": k, "N": C + 1, "precision": precision})
    jobs.append({"M": R, "K": 5, "N": C, "precision": precision})
    jobs.append({"M": 1, "K": 9, "N": 1, "precision": precision})
    return jobs


def stress_jobs(cfg: ArrayConfig, precision: int | None = None) -> list[dict]:
    """Random idle input cycles + random output backpressure, then reset in the middle of a job
    followed by a clean job that must come out complete and correct."""
    R, C = cfg.rows, cfg.cols
    job = {"M": 2 * R + 1, "K": R + 3, "N": 2 * C + 1, "precision": precision}
    return [
        {**job, "idle": 0.3, "bp": 0.4},
        {**job, "reset_at": 3 * R + 7},
        dict(job),
    ]


def run_array(cfg: ArrayConfig, jobs: list[dict], seed: int, name: str, *, verilog_text: str | None = None,
              build_args=()) -> dict:
    """Build (cached) and run the cocotb array testbench; returns its result JSON (``verilog_text``: the
    emitted Verilog when the caller has it; ``build_args``: extra Verilator options)."""
    print(f"MACFORGE_SEED={seed} config={cfg}")
    model = runner.build(verilog_text if verilog_text is not None else to_verilog(cfg), cfg.top_name,
                         extra_args=build_args)
    jobs = [{k: v for k, v in j.items() if v is not None} for j in jobs]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-80:]
    return runner.run(model, "macforge.sim.tb.array_tb", {"config": cfg.to_dict(), "seed": seed, "jobs": jobs},
                      name=safe)
