"""The WS array proofs' internal lemmas (``macforge.rtl.formal._ws_lemmas``) read the array's internal state by
name (edge unit: ``skid_en``, ``c_r``, ``y_r``, ``base``, ``lb``, ``wrow``, ``cb``, the accumulator memory;
cells: ``wb0`` / ``wb1``). Without them the WS jobs of ``make formal`` fall back to plain BMC and stop
short of their whole-tile depth, so a restructured array must fail here, not silently in ``make formal``.
The slow tier runs the 2x2 WS parallel timing job to its full depth."""

import shutil

import pytest
from amaranth.back import rtlil

from macforge.gen.formal import FORMAL_DIR, jobs, run_job


@pytest.mark.parametrize("name", ["array_ws_parallel_2x2_timing", "array_ws_parallel_2x2_order",
                                  "array_ws_bitserial_2x2_timing", "fault_array_ws_bitserial_2x2"])
def test_ws_lemmas_attach(name):
    job = {j.name: j for j in jobs()}[name]
    h = job.make()
    text = rtlil.convert(h, name="top", ports=h.ports)
    assert h.lemmas and h.lemmas_used, f"{name}: the WS lemmas could not read the array's internals"
    assert "h_acc1_1" in text and "h_new0" in text      # the memory-row and written-row histories


@pytest.mark.slow
def test_ws_parallel_timing_reaches_full_depth(tmp_path):
    job = {j.name: j for j in jobs()}["array_ws_parallel_2x2_timing"]
    root = FORMAL_DIR / f"test_lemmas_{tmp_path.name}"
    try:
        r = run_job(job, root=root, timeout=1800)
        assert r["result"] == f"passed BMC depth {job.depth}", r
    finally:
        shutil.rmtree(root, ignore_errors=True)
