"""Verilator build cache (sim/runner.py): the precompiled headers are dropped once a build is done.

A finished build keeps no ``*.gch`` (they filled the disk: 59 GB under build/sim in one session), a
cached build is reused without them, and a rebuild in the same folder (stamp and executable gone) still
compiles: ``make`` regenerates the missing headers. Slow tier: two builds of a tiny module with
``--output-split 1`` (a model in one C++ file gets no precompiled header), ~35 s each on the shared machine.
"""

from __future__ import annotations

import shutil
import uuid

import pytest

from macforge.sim import runner

COUNTER = """module mf_cache_probe(input clk, input rst, output reg [7:0] q);
  // {token}
  always @(posedge clk) q <= rst ? 8'd0 : q + 8'd{step};
endmodule
"""


SPLIT = ["--output-split", "1"]


@pytest.mark.slow
def test_build_drops_pch_and_rebuilds():
    token = uuid.uuid4().hex
    text = COUNTER.format(token=token, step=1)      # unique text: a build never cached before
    m = runner.build(text, "mf_cache_probe", extra_args=SPLIT)
    try:
        assert not m.cached and (m.build_dir / "mf_cache_probe").exists()
        assert list(m.build_dir.glob("*.gch")) == [] and list(m.build_dir.glob("*__pch.h"))   # made, then dropped
        again = runner.build(text, "mf_cache_probe", extra_args=SPLIT)
        assert again.cached and again.build_dir == m.build_dir
        # a rebuild in the same folder: the headers are missing, make must recreate them
        (m.build_dir / ".built").unlink()
        (m.build_dir / "mf_cache_probe").unlink()
        rb = runner.build(text, "mf_cache_probe", extra_args=SPLIT)
        assert not rb.cached and (rb.build_dir / "mf_cache_probe").exists() and (rb.build_dir / ".built").exists()
        assert list(rb.build_dir.glob("*.gch")) == []
    finally:
        shutil.rmtree(m.build_dir, ignore_errors=True)
