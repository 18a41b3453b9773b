import gzip
import struct

import numpy as np
import pytest

from macforge.golden.mlp import TQConfig
from macforge.golden.train.data import digits_split, hold_out, load_idx, mnist_split
from macforge.golden.train.layers import Dropout, Linear, ReLU, Sequential, build_mlp
from macforge.golden.train.losses import distillation, l2_penalty, mse, softmax, softmax_cross_entropy
from macforge.golden.train.optim import SGD, Adam, RMSProp
from macforge.golden.train.qat import ActQuant, QuantConfig, attach_quantizers, calibrate_activations
from macforge.golden.train.schedules import Constant, CosineWarmRestarts, Cyclical, Multistage
from macforge.golden.train.trainer import TrainConfig, loss_and_grads, new_model, train


def num_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def check_layer(layer, x, rng):
    dy = rng.normal(size=layer.forward(x, train=True).shape)
    f = lambda: float(np.sum(layer.forward(x, train=True) * dy))
    layer.forward(x, train=True)
    dx = layer.backward(dy)
    assert np.allclose(dx, num_grad(f, x), atol=1e-6)
    for k, p in layer.params.items():
        layer.forward(x, train=True)
        layer.backward(dy)
        assert np.allclose(layer.grads[k], num_grad(f, p), atol=1e-6), k


def test_gradcheck_linear_relu_dropout(rng):
    check_layer(Linear(5, 4, rng), rng.normal(size=(3, 5)), rng)
    check_layer(ReLU(), rng.normal(size=(3, 5)) + 0.01, rng)
    d = Dropout(0.5, np.random.default_rng(0))
    x = rng.normal(size=(4, 6))
    y1 = d.forward(x, train=True)
    mask = d._mask
    dy = rng.normal(size=x.shape)
    assert np.allclose(d.backward(dy), dy * mask) and np.allclose(y1, x * mask)
    assert set(np.unique(mask)) <= {0.0, 2.0}
    assert np.array_equal(d.forward(x, train=False), x)


def test_gradcheck_losses(rng):
    z = rng.normal(size=(4, 6))
    y = rng.integers(0, 6, 4)
    _, dz = softmax_cross_entropy(z, y)
    assert np.allclose(dz, num_grad(lambda: softmax_cross_entropy(z, y)[0], z), atol=1e-7)
    t = rng.normal(size=(4, 6))
    assert np.allclose(mse(z, t)[1], num_grad(lambda: mse(z, t)[0], z), atol=1e-7)
    w = [rng.normal(size=(3, 2))]
    assert np.allclose(l2_penalty(w, 0.1)[1][0], num_grad(lambda: l2_penalty(w, 0.1)[0], w[0]), atol=1e-7)
    # softmax CE value against the definition
    s = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert softmax_cross_entropy(z, y)[0] == pytest.approx(-np.mean(np.log(s[np.arange(4), y])))


def test_gradcheck_distillation(rng):
    z, t = rng.normal(size=(5, 7)), 3 * rng.normal(size=(5, 7))
    y = rng.integers(0, 7, 5)
    for alpha, T in ((0.0, 4.0), (0.7, 4.0), (1.0, 1.0), (0.5, 2.5)):
        _, dz = distillation(z, y, t, alpha, T)
        assert np.allclose(dz, num_grad(lambda: distillation(z, y, t, alpha, T)[0], z), atol=1e-7), (alpha, T)
    # value against the definition: (1 - a) CE + a T^2 KL(p_t || p_s) at temperature T
    a, T = 0.6, 3.0
    p, q = softmax(t / T), softmax(z / T)
    kl = np.mean(np.sum(p * np.log(p / q), axis=1))
    assert distillation(z, y, t, a, T)[0] == pytest.approx((1 - a) * softmax_cross_entropy(z, y)[0] + a * T * T * kl)
    assert distillation(t, y, t, 1.0, T)[0] == pytest.approx(0.0, abs=1e-12)  # student == teacher
    with pytest.raises(ValueError, match="alpha"):
        distillation(z, y, t, 1.5, T)
    with pytest.raises(ValueError, match="teacher"):
        distillation(z, y, t[:, :3], 0.5, T)


def test_distillation_in_training_loop(rng):
    sp = digits_split()
    X = sp.x_train[:256] / 16
    teacher = new_model(64, 10, TrainConfig(hidden=(16,), seed=3))
    cfg = TrainConfig(hidden=(16,), epochs=3, lr=5e-3, distill_alpha=1.0, distill_T=2.0, dropout=0.0)
    student = new_model(64, 10, cfg)
    t_log = teacher.forward(X, train=False)
    before = distillation(student.forward(X), sp.y_train[:256], t_log, 1.0, 2.0)[0]
    train(student, X, sp.y_train[:256], cfg, progress=False, teacher=teacher)
    after = distillation(student.forward(X), sp.y_train[:256], t_log, 1.0, 2.0)[0]
    assert after < 0.5 * before, (before, after)  # alpha = 1: the student learns the teacher, not the labels


def test_gradcheck_full_mlp_with_weight_decay(rng):
    m = build_mlp([6, 5, 4, 3], rng)
    X, y = rng.normal(size=(5, 6)), rng.integers(0, 3, 5)
    loss_and_grads(m, X, y, 0.01)
    for layer, k in m.parameters():
        g = layer.grads[k].copy()
        assert np.allclose(g, num_grad(lambda: loss_and_grads(m, X, y, 0.01), layer.params[k]), atol=1e-6)


def test_ste_masks_clipped_inputs():
    q = ActQuant(4, "maxabs", 10, None, fixed_L=1.0)
    x = np.array([[-2.0, -0.3, 0.2, 0.9, 1.5]])
    y = q.forward(x)
    assert np.allclose(y, np.array([[-7, -2, 1, 6, 7]]) * (2 / 14))
    assert q.backward(np.ones_like(x)).tolist() == [[0, 1, 1, 1, 0]]


def test_kaiming_variance():
    lin = Linear(400, 300, np.random.default_rng(0))
    assert lin.params["W"].var() == pytest.approx(2 / 400, rel=0.05)


def test_optimizers_lecture_form():
    p, g = np.array([1.0]), np.array([0.5])
    sgd = SGD(0.1, momentum=0.9)
    sgd.step([("p", p, g)])
    sgd.step([("p", p, g)])  # g1 = 0.05, g2 = 0.9*0.05 + 0.05 = 0.095
    assert p[0] == pytest.approx(1.0 - 0.1 * 0.05 - 0.1 * 0.095)
    p = np.array([1.0])
    RMSProp(0.1, eps=0.0).step([("p", p, g)])  # E = 0.1 * 0.25 -> step 0.1*0.5/sqrt(0.025)
    assert p[0] == pytest.approx(1.0 - 0.1 * 0.5 / np.sqrt(0.025))
    p = np.array([1.0])
    Adam(0.1, eps=0.0).step([("p", p, g)])  # bias-corrected first step is lr * sign(g)
    assert p[0] == pytest.approx(0.9)


def test_schedules():
    assert Constant(0.1)(1000) == 0.1
    ms = Multistage(1.0, [10, 20], 0.1)
    assert [ms(0), ms(10), ms(25)] == pytest.approx([1.0, 0.1, 0.01])
    c = CosineWarmRestarts(1.0, t0=10, t_mult=2, lr_min=0.0)
    assert c(0) == 1.0 and c(5) == pytest.approx(0.5) and c(10) == 1.0 and c(20) == pytest.approx(0.5)
    cy = Cyclical(0.1, 1.0, 5)
    assert [cy(0), cy(5), cy(10)] == pytest.approx([0.1, 1.0, 0.1])
    with pytest.raises(ValueError, match="milestones"):
        Multistage(1.0, [20, 10])


def test_digits_split_fixed_and_stratified():
    a, b = digits_split(), digits_split()
    assert np.array_equal(a.x_test, b.x_test) and len(a.y_test) == 450 and len(a.y_train) == 1347
    frac = np.bincount(a.y_test, minlength=10) / np.bincount(a.y_train, minlength=10)
    assert np.all(np.abs(frac - 1 / 3) < 0.02)


def test_hold_out_validation_split():
    sp = digits_split()
    v = hold_out(sp, 0.2, 0)
    assert len(v.y_val) == 270 and len(v.y_train) == 1077 and np.array_equal(v.x_test, sp.x_test)
    # disjoint and together the original training set (rows compared as whole images + labels)
    rows = lambda x, y: {tuple(r) + (int(l),) for r, l in zip(x, y)}
    full = rows(sp.x_train, sp.y_train)
    assert rows(v.x_train, v.y_train) | rows(v.x_val, v.y_val) <= full
    assert len(v.y_train) + len(v.y_val) == len(sp.y_train)
    frac = np.bincount(v.y_val, minlength=10) / np.bincount(sp.y_train, minlength=10)
    assert np.all(np.abs(frac - 0.2) < 0.02)                       # stratified
    assert np.array_equal(hold_out(sp, 0.2, 0).x_val, v.x_val)     # fixed
    assert v.meta["n_val"] == 270 and v.meta["n_train"] == 1077 and "val_indices_sha256_16" in v.meta
    for bad in (0.0, 0.6, -0.1):
        with pytest.raises(ValueError, match=r"val_frac=.*allowed \(0, 0.5\]"):
            hold_out(sp, bad)
    with pytest.raises(ValueError, match="already"):
        hold_out(v, 0.2)


def test_training_learns_and_qat_runs(rng):
    sp = digits_split()
    X, Xt = sp.x_train / 16, sp.x_test / 16
    cfg = TrainConfig(hidden=(32,), epochs=5, optimizer="sgd", lr=0.5, schedule="multistage")
    m = new_model(64, 10, cfg)
    h = train(m, X, sp.y_train, cfg, Xt, sp.y_test, progress=False)
    assert h.loss[-1] < h.loss[0] and h.test_acc[-1] > 0.85
    q = attach_quantizers(m, QuantConfig(8, 8, TQConfig(8, 4, 2, "hese")))
    calibrate_activations(q, X[:256])
    h2 = train(q, X, sp.y_train, TrainConfig(hidden=(32,), epochs=1, lr=1e-4), progress=False)
    assert np.isfinite(h2.loss[-1])


def _write_idx(path, arr, code):
    hdr = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    body = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(hdr + body)


def test_idx_loader(tmp_path, rng):
    imgs = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labs = rng.integers(0, 10, 5).astype(np.uint8)
    for n in ("train", "t10k"):
        _write_idx(tmp_path / f"{n}-images-idx3-ubyte", imgs, 0x08)
        _write_idx(tmp_path / f"{n}-labels-idx1-ubyte.gz", labs, 0x08)
    assert np.array_equal(load_idx(tmp_path / "train-images-idx3-ubyte"), imgs)
    sp = mnist_split(tmp_path)
    assert sp.x_train.shape == (5, 784) and np.array_equal(sp.y_test, labs) and sp.pixel_max == 255.0
    f32 = rng.normal(size=(3, 2)).astype(np.float32)
    _write_idx(tmp_path / "f.idx", f32, 0x0D)
    assert np.array_equal(load_idx(tmp_path / "f.idx"), f32)
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "bad").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="needs"):
        load_idx(tmp_path / "bad")
    (tmp_path / "bad2").write_bytes(b"\x01\x00\x08\x01")
    with pytest.raises(ValueError, match="not an IDX"):
        load_idx(tmp_path / "bad2")
