"""The ECP5 emission target (:mod:`macforge.rtl.dsp`): MULT18X18D primitives with their internal registers.

The ECP5 netlist of a parallel array must behave exactly like the generic one: it is simulated in
Verilator with the primitive's behavioural model (:mod:`macforge.sim.ecp5_models`) through the same
bit- and cycle-exact array regressions (sweep over K, idle cycles, backpressure, reset in mid-job).
"""

from __future__ import annotations

import re

import pytest

from macforge.golden.config import ArrayConfig
from macforge.rtl.dsp import Target, target
from macforge.rtl.verilog import to_verilog
from macforge.sim import runner
from macforge.sim.ecp5_models import ECP5_MODELS

from array_jobs import stress_jobs, sweep_jobs


def ecp5_verilog(cfg: ArrayConfig) -> str:
    return to_verilog(cfg, platform=target("ecp5"))


def test_target_names():
    assert Target().name == "generic" and target(None).name == "generic"
    with pytest.raises(ValueError, match="target must be one of generic, ecp5"):
        target("xilinx")


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_ecp5_netlist_instantiates_registered_dsps(dataflow):
    cfg = ArrayConfig(rows=2, cols=3, dataflow=dataflow, mac="parallel")
    text = ecp5_verilog(cfg)
    assert "MULT18X18D" not in to_verilog(cfg)
    # one DSP per PE definition; every one with its input and output registers on CLK0
    assert text.count("MULT18X18D ") >= 1
    for reg in ("INPUTA", "INPUTB", "OUTPUT"):
        assert re.search(rf'\.REG_{reg}_CLK\("CLK0"\)', text), reg
    # without the pipelining option no PE registers its product: nothing to put in the DSP
    assert "MULT18X18D" not in ecp5_verilog(ArrayConfig(rows=2, cols=3, dataflow=dataflow, pipeline=False))


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_ecp5_netlist_simulates_like_generic(dataflow, seed, request):
    cfg = ArrayConfig(rows=3, cols=2, dataflow=dataflow, mac="parallel", max_k=64, max_m=16)
    print(f"MACFORGE_SEED={seed} config={cfg} target=ecp5")
    model = runner.build(ECP5_MODELS + ecp5_verilog(cfg), cfg.top_name)
    jobs = sweep_jobs(cfg, ks=[1, 3, 4, 17, 64]) + stress_jobs(cfg)
    jobs = [{k: v for k, v in j.items() if v is not None} for j in jobs]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[-80:]
    res = runner.run(model, "macforge.sim.tb.array_tb", {"config": cfg.to_dict(), "seed": seed, "jobs": jobs},
                     name=safe)["results"]
    assert len(res) == len(jobs)
    checked = [r for r in res if "cycles" in r and not r["job"].get("idle") and not r["job"].get("bp")]
    assert checked and all(r["cycles"] == r["model"] for r in checked), f"seed={seed}"
    assert any(r.get("aborted") for r in res), "the reset-in-the-middle job did not run"
