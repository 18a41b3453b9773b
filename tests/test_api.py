"""The Python API (``import macforge as mf``): typed results equal the CLI's JSON reports, NumPy batches
run through the RTL, and bad arguments fail before anything is built."""

from __future__ import annotations

import json

import numpy as np
import pytest

import macforge as mf
from macforge.gen.cli import main

from test_engine_e2e import synthetic_bundle


def test_top_level_names_are_the_documented_api():
    for name in mf.__all__:
        assert getattr(mf, name) is not None, name
    assert mf.ArrayConfig is __import__("macforge.golden.config", fromlist=["ArrayConfig"]).ArrayConfig


def test_simulate_result_equals_cli_report_and_numpy_batch(tmp_path):
    path = synthetic_bundle(tmp_path / "net")
    hw = dict(rows=4, cols=4, dataflow="ws", mac="parallel")
    # the CLI writes report.json ...
    out = tmp_path / "cli"
    assert main(["sim", "--model", str(path), "--rows", "4", "--cols", "4", "--dataflow", "ws", "--batch", "16",
                 "--limit", "20", "--out", str(out), "--no-progress", "--no-lower-bound"]) == 0
    cli = json.loads((out / "report.json").read_text())
    # ... and the API returns the same fields (wall times differ from run to run)
    res = mf.simulate(path, limit=20, batch=16, progress=False, out_dir=tmp_path / "api", **hw)
    api = res.to_dict()
    assert set(api) == set(cli)
    timing = {"wall_s", "testbench_wall_s", "build_s", "sim_cycles_per_s"}
    assert {k: v for k, v in api.items() if k not in timing} == {k: v for k, v in cli.items() if k not in timing}
    assert json.loads((tmp_path / "api" / "report.json").read_text())["cycles"] == res.cycles
    assert res.mismatches == 0 and res.cycle_exact
    bundle = mf.load_bundle(path)
    golden = mf.Accelerator(bundle, batch=16, **hw).predict(bundle.test_x[:20])
    assert np.array_equal(res.predictions, golden) and np.array_equal(res.golden_predictions, golden)
    assert [o.shape for o in res.layer_outputs] == [(20, 24), (20, 10)]

    # a plain NumPy batch of an IntMLP, no labels: accuracy is None, integers still checked
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, size=(9, 64))
    acc = mf.Accelerator(bundle.model, batch=16, **hw)
    r2 = acc.simulate(x=x, progress=False, out_dir=tmp_path / "np")
    assert r2.accuracy is None and r2.images == 9 and r2.mismatches == 0 and r2.cycle_exact
    assert np.array_equal(r2.predictions, acc.predict(x))


def test_bad_arguments_name_the_parameter(tmp_path):
    path = synthetic_bundle(tmp_path / "net")
    bundle = mf.load_bundle(path)
    with pytest.raises(ValueError, match=r"x must have shape \(images, 64\)"):
        mf.simulate(bundle, x=np.zeros((3, 5), dtype=int), out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        mf.Accelerator(bundle, batch=0)
    with pytest.raises(ValueError, match="rows"):
        mf.Accelerator(bundle, rows=0)
    with pytest.raises(ValueError, match=r"bp must be a probability in \[0, 1\)"):
        mf.simulate(bundle, bp=1.5, out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="x .* is required"):
        mf.simulate(bundle.model, out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="config must be an ArrayConfig or an EngineConfig"):
        mf.emit("8x8", tmp_path / "e")
    with pytest.raises(ValueError, match="bundle 'nope' was not written"):
        mf.TrainResult(tmp_path, {}).bundle("nope")
    assert not (tmp_path / "a").exists() and not (tmp_path / "e").exists()


def test_emit_array_matches_cli(tmp_path):
    cfg = mf.ArrayConfig(rows=2, cols=2, dataflow="os", mac="parallel")
    r = mf.emit(cfg, tmp_path / "api")
    assert r.verilog.is_file() and r.manifest["top"] == cfg.top_name
    assert json.loads((tmp_path / "api" / "manifest.json").read_text()) == r.to_dict()
    assert main(["gen", "--top", "array", "--rows", "2", "--cols", "2", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / r.verilog.name).read_text() == r.verilog.read_text()


def test_explicit_engine_is_checked_before_anything_is_built(tmp_path, monkeypatch):
    """An engine that cannot run the model is refused with the parameter named, before any build."""
    import macforge.sim.engine_run as engine_run

    def no_build(*a, **k):
        raise AssertionError("the engine was built although the arguments were invalid")

    monkeypatch.setattr(engine_run, "build_engine", no_build)
    bundle = mf.load_bundle(synthetic_bundle(tmp_path / "net"))
    small = mf.engine_for(bundle, rows=2, cols=2, batch=4)
    with pytest.raises(ValueError, match=r"batch=16 is out of range for this engine: allowed \[1, 4\]"):
        mf.simulate(bundle, small, batch=16, out_dir=tmp_path / "a")
    narrow = mf.EngineConfig(mf.ArrayConfig(rows=2, cols=2, a_width=4, w_width=8, max_k=64), max_m=16, max_k=64)
    with pytest.raises(ValueError, match="a_width/w_width = 4/8 differ from the model's a_bits/w_bits = 8/8"):
        mf.simulate(bundle, narrow, batch=16, out_dir=tmp_path / "a")
    short = mf.EngineConfig(mf.ArrayConfig(rows=2, cols=2, max_k=32), max_m=16, max_k=32)
    with pytest.raises(ValueError, match=r"layer 0: K=64 is out of range for this engine: allowed \[1, 32\]"):
        mf.simulate(bundle, short, batch=16, out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="conflict with the explicit engine"):
        mf.simulate(bundle, small, batch=4, rows=8, out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="conflict with the explicit engine"):
        mf.Accelerator(bundle, small, rows=8)
    assert not (tmp_path / "a").exists()
