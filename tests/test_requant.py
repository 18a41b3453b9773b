import numpy as np
import pytest

from macforge.golden.requant import output_range, quantize_multiplier, quantize_multipliers, requantize


def ref_requant(acc: int, m0: int, s: int, lo: int, hi: int) -> int:
    """Independent formulation with Python integers: floor((acc*M0)/2^S + 1/2) by floor division."""
    v = acc * m0
    q = (2 * v + (1 << s)) // (1 << (s + 1))
    return max(lo, min(hi, q))


def test_multiplier_derivation(rng):
    for m in np.concatenate([rng.uniform(1e-6, 0.999, 500), [0.5, 0.25, 1.0, 3.0, 2**-20]]):
        m0, s = quantize_multiplier(m)
        assert 2**30 <= m0 < 2**31 and 1 <= s <= 62
        assert abs(m0 * 2.0**-s - m) <= m * 2.0**-31
    # exact powers of two are represented exactly
    assert quantize_multiplier(0.5) == (2**30, 31)
    assert quantize_multiplier(0.25, m0_bits=8) == (128, 9)
    # rounding f*2^w up to 2^w renormalizes
    m0, s = quantize_multiplier(1 - 2**-40)
    assert (m0, s) == (2**30, 30)


def test_multiplier_errors():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="multiplier"):
            quantize_multiplier(bad)
    with pytest.raises(ValueError, match="shift S"):
        quantize_multiplier(2.0**40)
    with pytest.raises(ValueError, match="m0_bits"):
        quantize_multiplier(0.5, m0_bits=32)


def test_round_half_toward_plus_infinity_at_exact_ties():
    # M0 = 2^30, S = 31 -> multiply by 1/2 exactly: odd accumulators are exact ties
    acc = np.array([5, -5, 3, -3, 1, -1, 0])
    y = requantize(acc, 2**30, 31, -128, 127)
    assert y.tolist() == [3, -2, 2, -1, 1, 0, 0]  # 2.5->3, -2.5->-2, 1.5->2, -1.5->-1, 0.5->1, -0.5->0


def test_clamp_and_relu():
    acc = np.array([10**6, -(10**6), 100, -100])
    assert requantize(acc, 2**30, 31, *output_range(8, relu=False)).tolist() == [127, -128, 50, -50]
    assert requantize(acc, 2**30, 31, *output_range(8, relu=True)).tolist() == [127, 0, 50, 0]


def test_bit_exact_against_independent_formulation(rng):
    lo, hi = -128, 127
    for _ in range(40):
        m = float(rng.uniform(1e-5, 0.99))
        m0_bits = int(rng.integers(8, 32))
        m0, s = quantize_multiplier(m, m0_bits)
        acc = np.concatenate([rng.integers(-(2**31), 2**31, 200), rng.integers(-5000, 5000, 200),
                              [2**31 - 1, -(2**31), 0]])
        y = requantize(acc, m0, s, lo, hi)
        ref = [ref_requant(int(a), m0, s, lo, hi) for a in acc]
        assert y.tolist() == ref
        # against float: within one LSB (|acc*m| small enough not to saturate the relative error)
        small = acc[np.abs(acc * m) < 2**20]
        yf = np.clip(small * m, lo, hi)
        assert np.max(np.abs(requantize(small, m0, s, lo, hi) - yf)) <= 1.0


def test_per_channel_vectors(rng):
    m = rng.uniform(1e-4, 0.5, 8)
    m0, s = quantize_multipliers(m)
    acc = rng.integers(-(2**20), 2**20, (50, 8))
    y = requantize(acc, m0, s, -(2**15), 2**15 - 1)
    for c in range(8):
        assert y[:, c].tolist() == [ref_requant(int(a), int(m0[c]), int(s[c]), -(2**15), 2**15 - 1) for a in acc[:, c]]


def test_requant_input_checks():
    with pytest.raises(ValueError, match="int32"):
        requantize(np.array([2**31]), 2**30, 31, -128, 127)
    with pytest.raises(ValueError, match="integer"):
        requantize(np.array([1.5]), 2**30, 31, -128, 127)
    with pytest.raises(ValueError, match="shift"):
        requantize(np.array([1]), 2**30, 0, -128, 127)
