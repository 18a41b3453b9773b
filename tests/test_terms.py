import numpy as np
import pytest

from macforge.golden.terms import (count_terms, data_budget, group_budget, reconstruct, term_digits, term_pair_ops, terms_of,
                          tq_pairs_per_mac_bound, uniform_pairs_per_mac)


def test_lecture_group_budget_example():
    assert group_budget(np.array([1, 12, 5, 137]), 4, 4, "binary").tolist() == [0, 12, 0, 136]


def test_issue_vectors_binary_and_hese():
    v = np.array([64, 3, 14])
    assert group_budget(v, 3, 4, "binary").tolist() == [64, 2, 12]
    assert group_budget(v, 3, 4, "hese").tolist() == [64, 4, 14]


def test_hese_run_rule():
    assert terms_of(14, "hese") == [(1, 4), (-1, 1)]  # 0b1110 = 16 - 2
    assert terms_of(5, "hese") == [(1, 2), (1, 0)]  # isolated ones stay
    assert terms_of(255, "hese") == [(1, 8), (-1, 0)]
    assert terms_of(-3, "hese") == [(-1, 2), (1, 0)]  # sign-magnitude: -(4 - 1)
    assert terms_of(137, "binary") == [(1, 7), (1, 3), (1, 0)]


@pytest.mark.parametrize("bits,hese_mean", [(8, 3.25), (16, 6.25)])
def test_hese_properties_exhaustive(bits, hese_mean):
    v = np.arange(1 << bits)
    sb, db = term_digits(v, "binary", n_bits=bits)
    sh, dh = term_digits(v, "hese", n_bits=bits)
    assert np.array_equal(reconstruct(sb, db), v) and np.array_equal(reconstruct(sh, dh), v)
    tb, th = np.count_nonzero(db, -1), np.count_nonzero(dh, -1)
    assert np.all(th <= tb)
    assert tb.mean() == bits / 2
    assert th.mean() == hese_mean
    # independent check of the run rule: terms = isolated ones + 2 * runs of length >= 2
    ref = [sum(1 if len(r) == 1 else 2 for r in bin(x)[2:].split("0") if r) for x in range(0, 1 << bits, 97)]
    assert th[:: 97].tolist() == ref
    # no budget pressure -> exact
    assert np.array_equal(data_budget(v, bits + 1, "hese"), v)
    assert np.array_equal(group_budget(v[: 4096], 4, 4 * (bits + 1), "hese"), v[: 4096])


def test_negative_values_sign_magnitude():
    v = np.array([-137, 137, -14])
    assert data_budget(v, 2, "binary").tolist() == [-136, 136, -12]
    assert data_budget(v, 1, "hese").tolist() == [-128, 128, -16]


def test_data_budget_keeps_largest_terms(rng):
    v = rng.integers(-255, 256, 2000)
    for k in (1, 2, 3):
        t = data_budget(v, k, "binary")
        for a, b in zip(v[:200], t[:200]):
            bits = [p for p in range(8, -1, -1) if abs(int(a)) >> p & 1][:k]
            assert b == np.sign(a) * sum(1 << p for p in bits)
        assert np.all(count_terms(t, "binary") <= k)


def test_group_budget_brute_force(rng):
    for _ in range(200):
        g = int(rng.integers(1, 6))
        k = int(rng.integers(1, 8))
        v = rng.integers(-127, 128, g)
        enc = ["binary", "hese"][int(rng.integers(2))]
        allt = [(p, i, s) for i, x in enumerate(v) for s, p in terms_of(int(x), enc)]
        allt.sort(key=lambda t: (-t[0], t[1]))
        out = [0] * g
        for p, i, s in allt[:k]:
            out[i] += s * (1 << p)
        assert group_budget(v, g, k, enc).tolist() == out


def test_group_budget_axis_and_padding(rng):
    W = rng.integers(-127, 128, (10, 3))  # 10 not divisible by g = 4 -> zero padded
    out = group_budget(W, 4, 3, "hese", axis=0)
    for c in range(3):
        assert np.array_equal(out[:, c], group_budget(W[:, c], 4, 3, "hese"))
        for s in range(0, 10, 4):
            assert count_terms(out[s:s + 4, c], "hese").sum() <= 3
    assert np.array_equal(group_budget(W.T, 4, 3, "hese", axis=1), out.T)


def test_term_pair_cost(rng):
    w = rng.integers(-7, 8, (6, 4))
    x = rng.integers(0, 8, (3, 6))
    ref = sum(count_terms(w[i, o]) * count_terms(x[b, i]) for b in range(3) for i in range(6) for o in range(4))
    assert term_pair_ops(w, x) == ref
    # budgets bound the cost: <= k_x * k / g per MAC
    W = rng.integers(-127, 128, (16, 8))
    X = rng.integers(-127, 128, (5, 16))
    g, k, kx = 8, 6, 2
    ops = term_pair_ops(group_budget(W, g, k, "hese"), data_budget(X, kx, "hese"), "hese")
    assert ops <= tq_pairs_per_mac_bound(g, k, kx) * W.size * 5
    assert uniform_pairs_per_mac(4, 8) == 32


def test_errors():
    with pytest.raises(ValueError, match="encoding"):
        term_digits(np.array([1]), "csd")
    with pytest.raises(ValueError, match="k_x"):
        data_budget(np.array([1]), 0)
    with pytest.raises(ValueError, match="integers"):
        term_digits(np.array([1.5]))
