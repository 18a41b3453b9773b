import numpy as np
import pytest

from macforge.golden.quant import calibrate, dequantize, fake_quantize, qrange, quantize, round_half_away, scale_from_clip


def test_lecture_formula_scalar():
    # L = 1, b = 8: s = 2/254; x = 0.5 -> 0.5 * 127 = 63.5 -> 64 (ties away from zero)
    x_int, s = quantize(np.array([0.5, -0.5, 2.0, -2.0, 0.0]), 1.0, 8)
    assert s == pytest.approx(2.0 / 254)
    assert x_int.tolist() == [64, -64, 127, -127, 0]
    assert qrange(8) == (-127, 127) and qrange(2) == (-1, 1)


def test_ties_away_from_zero_exact():
    # b = 4, L = 7 -> s = 1 exactly, so x/s ties are exact
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 6.5, -6.5, 7.4])
    x_int, s = quantize(x, 7.0, 4)
    assert s == 1.0
    assert x_int.tolist() == [1, 2, 3, -1, -2, -3, 7, -7, 7]
    assert round_half_away(np.array([2.5, -2.5, 0.49999])).tolist() == [3.0, -3.0, 0.0]
    # just below a tie: floor(|x| + 0.5) would round this up in floating point
    assert round_half_away(np.array([0.49999999999999994, -0.49999999999999994])).tolist() == [0.0, 0.0]
    assert np.round(2.5) == 2.0  # numpy's banker's rounding differs: the reason for round_half_away


def test_per_channel_matches_per_tensor(rng):
    W = rng.normal(size=(16, 5))
    L = calibrate(W, 6, "maxabs", channel_axis=1)
    assert L.shape == (5,)
    xi, s = quantize(W, L, 6, channel_axis=1)
    for c in range(5):
        xc, sc = quantize(W[:, c], L[c], 6)
        assert np.array_equal(xi[:, c], xc) and s[c] == sc
    assert np.abs(xi).max(axis=0).tolist() == [31] * 5  # maxabs hits the top code in every channel
    assert np.allclose(dequantize(xi, s, 1), fake_quantize(W, L, 6, 1))


def test_quantization_error_bound(rng):
    x = rng.uniform(-3, 3, size=1000)
    for b in (2, 4, 8):
        L = 2.0
        s = scale_from_clip(L, b)
        err = np.abs(fake_quantize(x, L, b) - np.clip(x, -L, L))
        assert err.max() <= s / 2 + 1e-12


def test_calibration_methods(rng):
    x = np.concatenate([rng.normal(size=10000), [40.0]])  # one outlier
    assert calibrate(x, 4, "maxabs") == pytest.approx(40.0)
    p = calibrate(x, 4, "percentile", percentile=99.0)
    assert p == pytest.approx(np.percentile(np.abs(x), 99.0))
    L = calibrate(x, 4, "mse", n_grid=200)
    assert L < 10.0  # the outlier is clipped
    mse = lambda L_: np.mean((x - fake_quantize(x, L_, 4)) ** 2)
    for cand in (40.0, p, 1.0, 8.0):
        assert mse(L) <= mse(cand) + 1e-12
    assert calibrate(np.zeros(4), 8) == 1.0  # empty range -> L = 1


@pytest.mark.parametrize("bad", [1, 0, 33, 2.5, True])
def test_bad_bits(bad):
    with pytest.raises(ValueError, match="bits"):
        quantize(np.ones(2), 1.0, bad)


def test_bad_args():
    with pytest.raises(ValueError, match="L must be"):
        quantize(np.ones(2), 0.0, 8)
    with pytest.raises(ValueError, match="calibration method"):
        calibrate(np.ones(2), 8, "minmax")
