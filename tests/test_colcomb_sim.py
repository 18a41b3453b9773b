"""``macforge sim`` on packed (column-combining) bundles: end to end through the packed engine (synthetic
bundle, default tier; the trained digits MLP on the whole test set, slow), and every dense/packed mismatch
refused before anything is built."""

import json
from pathlib import Path

import numpy as np
import pytest

from macforge.api import engine_for, simulate
from macforge.gen.cli import main
from macforge.golden import colcomb as cc
from macforge.golden.bundle import load_bundle, save_bundle
from macforge.golden.mlp import IntLayer, IntMLP
from macforge.golden.requant import quantize_multipliers


def packed_bundle(path: Path, alpha: int = 4, seed: int = 5) -> Path:
    """A random sparse 64-40-10 integer MLP, every layer packed with ``alpha`` (gamma 0.5)."""
    rng = np.random.default_rng(seed)
    sizes = [64, 40, 10]
    layers, packing = [], []
    for i, (ci, co) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        w = rng.integers(-127, 128, size=(ci, co))
        w[rng.random(w.shape) >= 1.0 / alpha] = 0
        pm = cc.pack(w, alpha, 0.5)
        w = pm.dense()
        packing.append(pm)
        b = rng.integers(-3000, 3000, size=co)
        s_w = np.full(co, 0.01)
        if last:
            layers.append(IntLayer(w, b, None, None, False, 8, 8, 0.01, s_w, None))
        else:
            m0, sh = quantize_multipliers(rng.uniform(6e-4, 1.5e-3, size=co))
            layers.append(IntLayer(w, b, m0, sh, True, 8, 8, 0.01, s_w, 0.05))
    model = IntMLP(layers, a_bits=8, w_bits=8)
    x = rng.integers(0, 128, size=(37, 64))
    y = rng.integers(0, 10, size=37)
    save_bundle(path, model, x, y, packing=packing, packing_info={"gamma": 0.5})
    return path.with_suffix(".npz")


def test_macforge_sim_packed_bundle(tmp_path):
    bundle = packed_bundle(tmp_path / "net")
    b = load_bundle(bundle)
    out = tmp_path / "rep"
    hw = ["--rows", "4", "--cols", "4", "--dataflow", "ws"]
    rc = main(["sim", "--model", str(bundle), *hw, "--batch", "16", "--limit", "33", "--out", str(out),
               "--no-progress", "--no-lower-bound"])
    rep = json.loads((out / "report.json").read_text())
    assert rc == 0
    assert rep["engine"]["array"]["alpha"] == 4
    assert rep["images"] == 33 and rep["jobs"] == 3 * 2 and rep["mismatches"] == 0
    assert rep["accuracy"] == rep["golden_accuracy"]
    assert rep["cycles_per_inference"] == rep["cycles_model"]
    assert rep["packing"]["groups"] == [pm.groups for pm in b.packing]
    net = cc.network_packing(b.packing)
    assert rep["packing"]["line_reduction"] == rep["packing"]["packing_factor"] == net["line_reduction"] > 2
    assert rep["packing"]["alpha_achieved"] == net["alpha_achieved"]
    assert 1 < rep["packing"]["alpha_achieved"] <= 4
    assert 0 < rep["useful_utilization"] <= rep["utilization"]
    # under random idle input and output backpressure (same build)
    rc = main(["sim", "--model", str(bundle), *hw, "--batch", "16", "--limit", "33", "--out", str(out),
               "--no-progress", "--no-lower-bound", "--idle", "0.3", "--bp", "0.3"])
    rep2 = json.loads((out / "report.json").read_text())
    assert rc == 0 and rep2["mismatches"] == 0 and rep2["cycles_per_inference"] > rep["cycles_per_inference"]


def test_packed_dense_mismatch_refused(tmp_path, capsys):
    packed = packed_bundle(tmp_path / "packed")
    pb = load_bundle(packed)
    dense = load_bundle(packed)
    dense.packing = None
    # packed bundle -> engine built without packing
    plain = engine_for(dense.model, rows=4, cols=4, dataflow="ws", batch=16)
    with pytest.raises(ValueError, match=r"packed layer \(alpha=4\) needs an engine built with column combining"):
        simulate(pb, plain, limit=3)
    # dense model -> packed engine
    packed_e = engine_for(pb, rows=4, cols=4, dataflow="ws", batch=16)
    assert packed_e.array.alpha == 4 and packed_e.max_k == max(pm.groups for pm in pb.packing)
    with pytest.raises(ValueError, match=r"built with column combining \(alpha=4\): it takes packed bundles"):
        simulate(dense, packed_e, limit=3)
    # CLI: alpha below the bundle's, a dense bundle with --alpha, a packed bundle on an OS array
    for extra, msg in [(["--dataflow", "ws", "--alpha", "2"], "alpha=2 is out of range for this bundle: allowed [4, 16]"),
                       (["--dataflow", "ws", "--alpha", "17"], "alpha=17 is out of range: allowed [1, 16]"),
                       (["--dataflow", "os"], "alpha=4 (column combining) needs dataflow='ws'")]:
        rc = main(["sim", "--model", str(packed), *extra, "--out", str(tmp_path / "x"), "--no-progress",
                   "--no-lower-bound"])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err, err
    save_bundle(tmp_path / "dense", dense.model, dense.test_x, dense.test_y)
    rc = main(["sim", "--model", str(tmp_path / "dense.npz"), "--dataflow", "ws", "--alpha", "2",
               "--out", str(tmp_path / "x"), "--no-progress", "--no-lower-bound"])
    err = capsys.readouterr().err
    assert rc == 2 and "alpha=2: column combining needs a packed bundle" in err, err
    assert not (tmp_path / "x").exists()


def test_accelerator_builds_the_packed_engine(tmp_path):
    import macforge as mf
    packed = packed_bundle(tmp_path / "p", alpha=8)
    acc = mf.Accelerator(packed, rows=4, cols=4, dataflow="ws", batch=16)
    pb = load_bundle(packed)
    assert acc.engine.array.alpha == 8 and acc.engine.max_k == max(pm.groups for pm in pb.packing)
    assert acc.engine.a_word == 4 * 8 * 8 and acc.engine.w_word == 4 * (8 + 3)
    from macforge.golden.mlp import mlp_forward_int
    np.testing.assert_array_equal(acc.predict(pb.test_x[:5]), mlp_forward_int(pb.model, pb.test_x[:5]).predict())


@pytest.mark.slow
def test_packed_digits_mlp_end_to_end(tmp_path):
    """Issue 14 acceptance: a packed digits MLP within 1.0 point of the dense float accuracy, 0 mismatches on
    the whole test set through the packed engine, measured cycles = model, and >= 3x fewer *array* cycles
    per inference than the dense w8a8 network on the same 8x8 WS array at the same batch (the issue's
    criterion: ``packed_gemm_cycles``, K -> groups, against ``gemm_cycles`` of the dense layers), and also
    >= 3x fewer engine cycles with a 256-bit s_axis (batch 150; on the default 64-bit bus the engine's
    gain is smaller, ~2.8x, as loading the alpha-wide activation words dominates)."""
    tr = tmp_path / "train"
    assert main(["train", "--quick", "--no-progress", "--out", str(tr), "--column-combine", "alpha=4,gamma=0.5"]) == 0
    rep = json.loads((tr / "report.json").read_text())
    row = next(r for r in rep["rows"] if r["kind"] == "colcomb")
    assert row["bundle"] == "bundle_cc_a4"
    assert row["alpha_achieved"] <= 4 and row["line_reduction"] == row["packing_factor"] >= row["alpha_achieved"]
    assert rep["float_accuracy"] - row["accuracy"] <= 0.010 + 1e-12, (rep["float_accuracy"], row["accuracy"])
    res = {}
    for name in ("bundle_w8a8", "bundle_cc_a4"):
        out = tmp_path / name
        rc = main(["sim", "--model", str(tr / f"{name}.npz"), "--dataflow", "ws", "--rows", "8", "--cols", "8",
                   "--axis-width", "256", "--out", str(out), "--no-progress", "--no-lower-bound"])
        res[name] = json.loads((out / "report.json").read_text())
        assert rc == 0 and res[name]["mismatches"] == 0 and res[name]["images"] == rep["n_test"]
        assert res[name]["cycles_per_inference"] == res[name]["cycles_model"]
    p, d = res["bundle_cc_a4"], res["bundle_w8a8"]
    assert p["accuracy"] == row["accuracy"]
    assert d["cycles_per_inference"] / p["cycles_per_inference"] >= 3.0, (d["cycles_per_inference"],
                                                                          p["cycles_per_inference"])
    # array level (the criterion): the same 8x8 WS array, the same batches of the whole test set
    from macforge.golden.config import ArrayConfig
    from macforge.golden.cycles import gemm_cycles
    db, pb = load_bundle(tr / "bundle_w8a8.npz"), load_bundle(tr / "bundle_cc_a4.npz")
    n, batch = rep["n_test"], 150
    assert n == 450 and p["batch"] == d["batch"] == batch
    kd = max(l.w.shape[0] for l in db.model.layers)
    da = ArrayConfig(rows=8, cols=8, dataflow="ws", mac="parallel", max_k=kd)
    pa = ArrayConfig(rows=8, cols=8, dataflow="ws", mac="parallel", max_k=kd, alpha=4)
    blocks = [min(batch, n - m0) for m0 in range(0, n, batch)]
    dense_arr = sum(gemm_cycles(da, M, *l.w.shape).cycles for M in blocks for l in db.model.layers) / n
    packed_arr = sum(cc.packed_gemm_cycles(pa, M, pm).cycles for M in blocks for pm in pb.packing) / n
    # the dense network's array cycles do not depend on training: 64-128-10 at batch 150 on 8x8 WS
    # (ArrayConfig.pipe_latency 4 for the parallel WS array: each cycle of pipe_latency adds one cycle
    # per GEMM, i.e. 3 blocks x 2 layers / 450 images: 160.38667 at 2, 160.4 at 3)
    assert da.pipe_latency == 4
    assert dense_arr == pytest.approx(160.41333, abs=1e-4)
    # the packed network's: the same model with K -> groups of each layer (the packed PE registers its
    # product once, the plain parallel PE twice: pipe_latency 3 against 4, one cycle per GEMM)
    dp = da.pipe_latency - pa.pipe_latency
    assert dp == 1
    assert packed_arr == sum(gemm_cycles(da, M, pm.groups, pm.n).cycles - dp
                             for M in blocks for pm in pb.packing) / n
    assert dense_arr / packed_arr >= 3.0, (dense_arr, packed_arr)
