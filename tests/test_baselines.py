"""FPGA baselines (``make check-baselines``): the committed file, the tolerance rule, and (slow tier) a real
re-measurement that passes on the current design and fails on a deliberately worse configuration."""

from __future__ import annotations

import dataclasses

import pytest

from macforge.gen.baselines import AREA_KEYS, DEFAULT_TOLERANCE, check, compare, load, reference_configs
from macforge.golden.config import ArrayConfig


def test_baseline_file_covers_every_family_and_dataflow():
    doc = load()
    assert set(doc["configs"]) == set(reference_configs())
    assert {(c["config"]["mac"], c["config"]["dataflow"]) for c in doc["configs"].values()} == {
        (m, d) for m in ("parallel", "bitserial", "tmac") for d in ("os", "ws")}
    for name, e in doc["configs"].items():
        assert ArrayConfig.from_dict(e["config"]) == reference_configs()[name], name
        assert e["fmax_mhz"] > 50 and e["lut"] > 0 and e["ff"] > 0, name
    assert doc["device"]["speed"] == 8 and doc["tolerance"] == DEFAULT_TOLERANCE


def test_compare_applies_the_tolerance():
    base = {"x": {"lut": 100, "ff": 200, "carry": 10, "dsp": 4, "bram": 0, "fmax_mhz": 200.0}}
    tol = {"area_rel": 0.05, "area_abs": 2, "fmax_rel": 0.10}
    same = {"x": dict(base["x"])}
    assert compare(base, same, tol) == ([], [])
    edge = {"x": {**base["x"], "lut": 107, "fmax_mhz": 180.0}}          # 100 * 1.05 + 2 = 107; 200 * 0.9
    assert compare(base, edge, tol)[0] == []
    worse = {"x": {**base["x"], "lut": 108, "dsp": 7, "fmax_mhz": 179.9}}
    fails, _ = compare(base, worse, tol)
    assert len(fails) == 3 and any("lut 108" in f for f in fails) and any("Fmax 179.9" in f for f in fails)
    better = {"x": {**base["x"], "ff": 150, "fmax_mhz": 250.0}}
    fails, imp = compare(base, better, tol)
    assert fails == [] and len(imp) == 2
    assert compare(base, {}, tol)[0] == ["x: not measured"]


@pytest.mark.slow
def test_check_baselines_passes_on_the_current_design(tmp_path):
    fails, better = check(root=tmp_path)
    assert fails == [], fails
    print("improvements:", better)


@pytest.mark.slow
def test_check_baselines_fails_on_a_worse_configuration(tmp_path):
    """A 48-bit accumulator instead of 24 (same function, more LUTs, FFs and carries) must fail the check."""
    name = "parallel_os_4x4"
    worse = dataclasses.replace(reference_configs()[name], acc_width=48)
    fails, _ = check(root=tmp_path, overrides={name: worse})
    assert fails, "a worse configuration passed the baseline check"
    assert all(f.startswith(name) for f in fails)
    assert any(f.split(":")[1].split()[0] in AREA_KEYS for f in fails), fails
