import numpy as np
import pytest

from macforge.golden import terms
from macforge.golden.mlp import AccumulatorOverflow, TQConfig, layer_forward_int, mlp_forward_int
from helpers import random_int_mlp


def ref_forward(model, X, clip_p=None, tq=None):
    """Independent Python-int reference of the hardware contract."""
    outs = []
    x = [[int(v) for v in row] for row in X]
    for layer in model.layers:
        W = layer.w
        if tq is not None:
            W = terms.group_budget(W, tq.g, tq.k, tq.encoding, axis=0)
            x = terms.data_budget(np.array(x), tq.k_x, tq.encoding).tolist()
        if clip_p is not None:
            lo_p, hi_p = -(1 << (clip_p - 1)), (1 << (clip_p - 1)) - 1
            x = [[min(hi_p, max(lo_p, v)) for v in row] for row in x]
        y = []
        for row in x:
            yr = []
            for c in range(W.shape[1]):
                acc = sum(row[i] * int(W[i, c]) for i in range(W.shape[0])) + int(layer.bias[c])
                assert -(2**31) <= acc < 2**31
                if layer.requant:
                    m0, s = int(layer.m0[c]), int(layer.shift[c])
                    v = (acc * m0 + (1 << (s - 1))) >> s
                    lo = 0 if layer.relu else -(1 << (layer.a_bits - 1))
                    v = min((1 << (layer.a_bits - 1)) - 1, max(lo, v))
                else:
                    v = acc
                yr.append(v)
            y.append(yr)
        outs.append(y)
        x = y
    return outs


@pytest.mark.parametrize("mode", ["uniform", "bitserial", "tq"])
def test_against_python_reference(rng, mode):
    model = random_int_mlp(rng)
    X = rng.integers(-128, 128, (7, 12))
    tq = TQConfig(4, 5, 2, "hese")
    kw = {"precision": 5} if mode == "bitserial" else ({"tq": tq} if mode == "tq" else {})
    tr = mlp_forward_int(model, X, mode, **kw)
    ref = ref_forward(model, X, clip_p=kw.get("precision"), tq=kw.get("tq"))
    assert [o.tolist() for o in tr.outputs] == ref
    assert tr.logits.tolist() == ref[-1]
    assert np.all(tr.outputs[0] >= 0)  # hidden ReLU clamp


def test_bitserial_clips_inputs(rng):
    model = random_int_mlp(rng)
    X = rng.integers(-128, 128, (5, 12))
    tr = mlp_forward_int(model, X, "bitserial", precision=3)
    for x in tr.inputs:
        assert x.min() >= -4 and x.max() <= 3
    full = mlp_forward_int(model, X, "bitserial", precision=8)
    assert np.array_equal(full.logits, mlp_forward_int(model, X).logits)


def test_tq_uses_budgets_and_counts_pairs(rng):
    tq = TQConfig(4, 3, 2, "binary")
    model = random_int_mlp(rng, tq=tq)
    X = rng.integers(0, 128, (4, 12))
    tr = mlp_forward_int(model, X, "tq")
    for x, w in zip(tr.inputs, tr.weights):
        assert np.all(terms.count_terms(x) <= 2)
        for s in range(0, w.shape[0], 4):
            assert np.all(terms.count_terms(w[s:s + 4]).sum(axis=0) <= 3)
    assert tr.term_pairs == sum(terms.term_pair_ops(w, x) for x, w in zip(tr.inputs, tr.weights))


def test_layer_forward_and_overflow(rng):
    model = random_int_mlp(rng)
    layer = model.layers[0]
    x = rng.integers(-128, 128, (3, 12))
    acc, y = layer_forward_int(x, layer)
    assert np.array_equal(acc, x @ layer.w + layer.bias)
    layer.bias[:] = 2**31 - 10
    with pytest.raises(AccumulatorOverflow, match="int32"):
        layer_forward_int(np.full((1, 12), 127), layer)


def test_mode_errors(rng):
    model = random_int_mlp(rng)
    X = np.zeros((1, 12), dtype=np.int64)
    with pytest.raises(ValueError, match="mode"):
        mlp_forward_int(model, X, "fast")
    with pytest.raises(ValueError, match="precision"):
        mlp_forward_int(model, X, "bitserial", precision=9)
    with pytest.raises(ValueError, match="TQConfig"):
        mlp_forward_int(model, X, "tq")
    with pytest.raises(ValueError, match="a_bits"):
        mlp_forward_int(model, X + 200)
    with pytest.raises(ValueError, match="encoding"):
        TQConfig(4, 4, 2, "csd")


def test_digits_export_matches_fake_quant():
    from macforge.golden.train.data import digits_split
    from macforge.golden.train.qat import QuantConfig, attach_quantizers, calibrate_activations, to_int_mlp
    from macforge.golden.train.trainer import TrainConfig, new_model, train

    sp = digits_split()
    cfg = TrainConfig(hidden=(32,), epochs=3, dropout=0.0)
    m = new_model(64, 10, cfg)
    train(m, sp.x_train / 16, sp.y_train, cfg, progress=False)
    q = attach_quantizers(m, QuantConfig(8, 8))
    calibrate_activations(q, sp.x_train[:256] / 16)
    im = to_int_mlp(q, 16.0)
    xi = im.quantize_input(sp.x_test)
    assert xi.min() >= 0 and xi.max() <= 127
    assert np.array_equal(xi, np.sign(sp.x_test) * np.floor(sp.x_test * 127 / 16 + 0.5))
    tr = mlp_forward_int(im, xi)
    # integer logits agree with the fake-quantized float network (argmax), up to rounding-convention flips
    agree = np.mean(tr.predict() == np.argmax(q.forward(sp.x_test / 16), axis=1))
    assert agree >= 0.99
