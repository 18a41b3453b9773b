"""Column combining, trainer side: masked retraining, packed bundles and their validation, CLI errors."""

import numpy as np
import pytest

from macforge.golden import colcomb as cc
from macforge.golden.bundle import BundleValueError, load_bundle, save_bundle
from macforge.golden.mlp import mlp_forward_int
from macforge.golden.train.colcomb import ColcombConfig, GradMask, packed_cycles, train_colcomb
from macforge.golden.train.data import digits_split, hold_out
from macforge.golden.train.trainer import TrainConfig, new_model, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    split = hold_out(digits_split(), 0.2, 0)
    X, Xt = split.x_train / split.pixel_max, split.x_test / split.pixel_max
    tc = TrainConfig(hidden=(64,), epochs=20)
    m = new_model(split.n_features, split.n_classes, tc)
    train(m, X, split.y_train, tc, progress=False)
    c = ColcombConfig(alpha=4, gamma=0.5, retrain_epochs=12, qat_epochs=3, rounds=2)
    res = train_colcomb(m, X, split.y_train, Xt, split.y_test, X[:256], split.pixel_max, c, tc, progress=False)
    xi = res.int_model.quantize_input(split.x_test)
    stem = tmp_path_factory.mktemp("cc") / "bundle_cc"
    save_bundle(stem, res.int_model, xi, split.y_test, split.meta, packing=res.packing,
                packing_info={"gamma": c.gamma, "sparsity": c.sparsity})
    return res, xi, split.y_test, stem


def test_masked_training_keeps_packing(trained):
    res, xi, y, _ = trained
    for layer, pm, g in zip(res.int_model.layers, res.packing, res.groups):
        assert (pm.dense() == layer.w).all()
        assert all(len(grp) <= 4 for grp in g)
        # at most one nonzero per group and position: the packing needs no conflict pruning any more
        nz = (np.asarray(layer.w) != 0).astype(int)
        assert all(cc.conflicts(nz, grp) == 0 for grp in g)
    acc = np.mean(mlp_forward_int(res.int_model, xi).predict() == y)
    assert acc > 0.85, acc
    st = res.stats[0]
    assert st["line_reduction"] == st["packing_factor"] > 2 and st["sparsity"] > 0.7
    for st in res.stats:
        assert 1 <= st["alpha_achieved"] <= 4 and st["alpha_achieved"] <= st["line_reduction"]


def test_grad_mask_keeps_zeros():
    from macforge.golden.train.optim import make_optimizer
    rng = np.random.default_rng(0)
    mask = rng.random((5, 3)) < 0.5
    W = np.where(mask, rng.normal(size=(5, 3)), 0.0)
    gm = GradMask(mask)
    for name in ("sgd", "rmsprop", "adam"):
        opt = make_optimizer(name, 0.1)
        w = W.copy()
        for _ in range(5):
            opt.step([("W", w, gm.backward(rng.normal(size=(5, 3))))])
        assert (w[~mask] == 0).all() and (w[mask] != W[mask]).all()


def test_bundle_roundtrip(trained):
    res, xi, y, stem = trained
    b = load_bundle(stem)
    assert b.manifest["packing"]["alpha"] == 4
    for pm, ref in zip(b.packing, res.packing):
        np.testing.assert_array_equal(pm.lines, ref.lines)
        np.testing.assert_array_equal(pm.sel, ref.sel)
        np.testing.assert_array_equal(pm.w, ref.w)
    x = b.test_x[:7]
    np.testing.assert_array_equal(cc.packed_gemm(x, b.packing[0]), x @ b.model.layers[0].w)


def _edit(stem, tmp_path, key, fn):
    z = dict(np.load(f"{stem}.npz"))
    z[key] = fn(z[key].copy())
    out = tmp_path / "edited"
    np.savez(f"{out}.npz", **z)
    (tmp_path / "edited.json").write_text(open(f"{stem}.json").read())
    return out


def test_bundle_rejects_bad_select(trained, tmp_path):
    _, _, _, stem = trained

    def bump(a):
        a[0, 0] = 4
        return a
    with pytest.raises(BundleValueError, match=r"layer0.sel'. select index 4 \(group 0, column 0\) is out of range: "
                                               r"allowed \[0, 3\] \(alpha=4\)"):
        load_bundle(_edit(stem, tmp_path, "layer0.sel", bump))

    def neg(a):
        a[1, 2] = -1
        return a
    with pytest.raises(BundleValueError, match=r"select index -1 .* allowed \[0, 3\]"):
        load_bundle(_edit(stem, tmp_path, "layer1.sel", neg))

    def line(a):
        a[0, 0] = 999
        return a
    with pytest.raises(BundleValueError, match=r"line index 999 is out of range"):
        load_bundle(_edit(stem, tmp_path, "layer0.lines", line))


def test_bundle_rejects_weight_outside_packing(trained, tmp_path):
    res, _, _, stem = trained
    pm = res.packing[0]
    # put a nonzero weight on a (line, column) its group does not select
    g, n = np.argwhere(pm.w != 0)[0]
    other = [k for k in pm.lines[g] if k >= 0 and k != pm.lines[g, pm.sel[g, n]]]
    if not other:
        pytest.skip("first packed weight's group has one line")

    def put(a):
        a[other[0], n] = 1
        return a
    with pytest.raises(BundleValueError, match=r"is not the one its group selects"):
        load_bundle(_edit(stem, tmp_path, "layer0.w", put))


def test_packed_cycles_fewer(trained):
    res = trained[0]
    c = packed_cycles(res.packing, 150, axis_width=256)
    assert c["packed_cycles_per_inference"] < c["dense_cycles_per_inference"]
    assert c["packed_utilization"] > c["dense_utilization"]


@pytest.mark.parametrize("spec,msg", [
    ("alpha=0,gamma=1", "alpha=0 is out of range: allowed integers [1, 16]"),
    ("alpha=17,gamma=1", "alpha=17 is out of range: allowed integers [1, 16]"),
    ("alpha=2,gamma=-1", "gamma=-1.0 is out of range: allowed a finite number >= 0"),
    ("alpha=2,sparsity=1", "sparsity=1.0 is out of range: allowed [0, 1)"),
    ("alpha=2,sparsity=-0.1", "sparsity=-0.1 is out of range: allowed [0, 1)"),
    ("gamma=1", "needs alpha=N"),
    ("alpha=2,beta=1", "unknown key 'beta'"),
    ("alpha=2,w_bits=0", "w_bits=0 is out of range: allowed integers [2, 16]"),
    ("alpha=2,a_bits=99", "a_bits=99 is out of range: allowed integers [2, 16]"),
    ("alpha=2,w_bits=1", "w_bits=1 is out of range: allowed integers [2, 16]"),
    ("alpha=2,a_bits=17", "a_bits=17 is out of range: allowed integers [2, 16]"),
    ("alpha=2,rounds=0", "rounds=0 is out of range: allowed integers >= 1"),
])
def test_cli_refuses(spec, msg, tmp_path, capsys):
    from macforge.gen.cli import main
    rc = main(["train", "--out", str(tmp_path / "o"), "--column-combine", spec])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err, err
    assert not (tmp_path / "o").exists()


def test_colcomb_config_widths():
    from macforge.golden.config import WIDTH_RANGE
    assert WIDTH_RANGE == (2, 16)
    for n in ("w_bits", "a_bits"):
        for v in (2, 4, 16):
            assert getattr(ColcombConfig(alpha=2, **{n: v}), n) == v
        for v in (0, 1, 17, 99, True, 8.0):
            with pytest.raises(ValueError, match=rf"^{n}={v!r} is out of range: allowed integers \[2, 16\]$"):
                ColcombConfig(alpha=2, **{n: v})


def test_column_combine_help_lists_every_key(capsys):
    from macforge.gen.cli import main
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for key in ColcombConfig(alpha=2).to_dict():
        assert key in text, key
    assert "integers in [2, 16], default 8" in text and "integer in [1, 16], required" in text


def test_bundle_stems_unique():
    from macforge.golden.train.colcomb import bundle_stems
    a4 = ColcombConfig(alpha=4, gamma=0.5)
    a4g = ColcombConfig(alpha=4, gamma=0.25)
    a2 = ColcombConfig(alpha=2, gamma=0.5)
    assert bundle_stems([a4, a2]) == {"cc-a4-g0.5-s0.75": "bundle_cc_a4", "cc-a2-g0.5-s0.5": "bundle_cc_a2"}
    assert bundle_stems([a4, a4g, a2]) == {"cc-a4-g0.5-s0.75": "bundle_cc_a4_g0.5_s0.75",
                                           "cc-a4-g0.25-s0.75": "bundle_cc_a4_g0.25_s0.75",
                                           "cc-a2-g0.5-s0.5": "bundle_cc_a2"}
    # the same alpha, gamma and sparsity twice (other epochs) names one row and one bundle: refused
    with pytest.raises(ValueError, match=r"setting 3 \(alpha=4, gamma=0.5, sparsity=0.75\) repeats setting 1 "
                                         r"\(cc-a4-g0.5-s0.75\): allowed settings that differ in alpha, gamma or sparsity"):
        bundle_stems([a4, a2, ColcombConfig(alpha=4, gamma=0.5, retrain_epochs=5)])
    from macforge.golden.train.report import ExperimentConfig
    with pytest.raises(ValueError, match="repeats setting 1"):
        ExperimentConfig(column_combine=(a4, a4))


def test_cli_refuses_duplicate_setting(tmp_path, capsys):
    from macforge.gen.cli import main
    rc = main(["train", "--out", str(tmp_path / "o"), "--column-combine", "alpha=4,gamma=0.5",
               "--column-combine", "alpha=4,gamma=0.5,sparsity=0.75"])
    err = capsys.readouterr().err
    assert rc == 2 and "setting 2 (alpha=4, gamma=0.5, sparsity=0.75) repeats setting 1 (cc-a4-g0.5-s0.75)" in err, err
    assert not (tmp_path / "o").exists()


def test_same_alpha_settings_keep_both_bundles(tmp_path):
    """Two settings with alpha 2 (gamma 0 and 1): two rows, two bundles, each row naming its own bundle."""
    from macforge.golden.train.report import ExperimentConfig, run_experiment
    tc = TrainConfig(hidden=(16,), epochs=2)
    ccs = tuple(ColcombConfig(alpha=2, gamma=g, retrain_epochs=1, qat_epochs=1, rounds=1) for g in (0.0, 1.0))
    cfg = ExperimentConfig(train=tc, qat_epochs=1, uniform_bits=(8,), qat_uniform=(), tq_groups=(), tq_qat=(),
                           calib_samples=64, column_combine=ccs)
    rep = run_experiment(digits_split(), cfg, tmp_path, progress=False)
    rows = [r for r in rep["rows"] if r["kind"] == "colcomb"]
    assert [r["bundle"] for r in rows] == ["bundle_cc_a2_g0_s0.5", "bundle_cc_a2_g1_s0.5"]
    assert rep["bundles"]["cc-a2-g0-s0.5"][0].endswith("bundle_cc_a2_g0_s0.5.npz")
    b0, b1 = (load_bundle(tmp_path / r["bundle"]) for r in rows)
    assert b0.manifest["packing"]["gamma"] == 0.0 and b1.manifest["packing"]["gamma"] == 1.0
    assert not (tmp_path / "bundle_cc_a2.npz").exists()
