"""Build and run the layer engine's cocotb testbench (:mod:`macforge.sim.tb.engine_tb`) through :mod:`macforge.sim.runner`."""

from __future__ import annotations

import os

from macforge.golden.engine_config import EngineConfig
from macforge.sim.runner import SimModel, build, run


def seed_from_env(default: int) -> int:
    v = os.environ.get("MACFORGE_SEED")
    return int(v) if v else default


def build_engine(ecfg: EngineConfig) -> SimModel:
    from macforge.rtl.engine import engine_verilog

    return build(engine_verilog(ecfg), ecfg.top_name)


def run_engine(ecfg: EngineConfig, jobs: list[dict], seed: int, name: str = "job",
               model: SimModel | None = None) -> dict:
    model = model or build_engine(ecfg)
    print(f"MACFORGE_SEED={seed} engine={ecfg.top_name} jobs={len(jobs)}")
    return run(model, "macforge.sim.tb.engine_tb", {"engine": ecfg.to_dict(), "seed": seed, "jobs": jobs}, name=name)
