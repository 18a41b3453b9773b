"""Column combining, golden side: pruning, grouping limits, conflict pruning, packed GEMM, engine packet."""

import numpy as np
import pytest

from macforge.golden import colcomb as cc
from macforge.golden.config import ArrayConfig
from macforge.golden.cycles import gemm_cycles
from macforge.golden.engine import Layer, check_layer, encode
from macforge.golden.engine_config import EngineConfig


def _sparse(rng, K, N, density, lo=-128, hi=128):
    w = rng.integers(lo, hi, (K, N))
    w[rng.random((K, N)) >= density] = 0
    return w


def _check_groups(w, groups, alpha, gamma):
    nz = (np.asarray(w) != 0).astype(int)
    seen = [k for g in groups for k in g]
    assert len(seen) == len(set(seen))
    # every line with a nonzero is in exactly one group
    assert set(np.nonzero(nz.sum(1))[0]) <= set(seen)
    for g in groups:
        assert 1 <= len(g) <= alpha
        assert cc.conflicts(nz, g) <= gamma * w.shape[1]


@pytest.mark.parametrize("alpha", [1, 2, 4, 8])
@pytest.mark.parametrize("gamma", [0, 0.25, 1.0])
def test_packed_gemm_equals_dense_of_survivors(rng, alpha, gamma):
    for K, N, dens in [(1, 5, 0.5), (7, 3, 0.3), (37, 19, 0.2), (64, 16, 0.6), (16, 1, 0.9)]:
        w = _sparse(rng, K, N, dens)
        w[rng.integers(0, K)] = 0                     # an empty line
        groups = cc.group_lines(w, alpha, gamma)
        _check_groups(w, groups, alpha, gamma)
        pm = cc.pack(w, alpha, gamma)
        pm.validate(alpha, 8)
        surv = pm.dense()
        # survivors are a subset of w, and exactly the conflict winners
        assert ((surv == 0) | (surv == w)).all()
        assert (surv != 0).sum() == (w != 0).sum() - sum(cc.conflicts((w != 0).astype(int), g) for g in groups)
        if gamma == 0:
            assert (surv == w).all()                  # no conflicts allowed: nothing is pruned
        if alpha == 1:
            assert (surv == w).all() and all(len(g) == 1 for g in groups)
        x = rng.integers(-128, 128, (6, K))
        y = cc.packed_gemm(x, pm)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, x @ surv)


def test_conflict_pruning_keeps_largest_magnitude():
    # full conflicts: every line nonzero in every position; alpha = 4 lines in one group
    w = np.array([[1, -9, 3], [-5, 2, 3], [4, 8, -7], [2, 1, 0]])
    pm = cc.pack(w, 4, 100.0)
    assert pm.groups == 1 and list(pm.lines[0]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(pm.w[0], [-5, -9, -7])
    np.testing.assert_array_equal(pm.sel[0], [1, 0, 2])
    # tie in position 2 (3 and 3): the earlier line wins
    pm2 = cc.pack(w[:2], 2, 100.0)
    assert pm2.w[0, 2] == 3 and pm2.sel[0, 2] == 0
    x = np.arange(4).reshape(1, 4) + 1
    np.testing.assert_array_equal(cc.packed_gemm(x, pm), x @ pm.dense())


def test_full_conflicts_gamma_zero_no_combining():
    w = np.ones((6, 4), int)
    groups = cc.group_lines(w, 4, 0)
    assert groups == [[k] for k in range(6)]
    groups = cc.group_lines(w, 4, 1.0)                # 4 conflicts per added line, budget 4
    assert groups == [[0, 1], [2, 3], [4, 5]]


def test_empty_and_single():
    w = np.zeros((5, 3), int)
    pm = cc.pack(w, 4, 0)
    assert pm.groups == 1 and pm.lines[0, 0] == 0
    x = np.ones((2, 5), int)
    np.testing.assert_array_equal(cc.packed_gemm(x, pm), np.zeros((2, 3)))
    one = np.array([[0, 3, -2]])
    pm = cc.pack(one, 8, 0)
    assert pm.groups == 1 and list(pm.lines[0]) == [0] + [-1] * 7
    np.testing.assert_array_equal(cc.packed_gemm(np.array([[7]]), pm), [[0, 21, -14]])


def test_disjoint_lines_pack_fully():
    # 8 lines with disjoint supports pack into one group of alpha = 8 with gamma = 0
    w = np.zeros((8, 8), int)
    w[np.arange(8), np.arange(8)[::-1]] = np.arange(1, 9)
    pm = cc.pack(w, 8, 0)
    assert pm.groups == 1 and (pm.dense() == w).all()
    st = cc.packing_stats(w, pm)
    assert st["line_reduction"] == st["packing_factor"] == 8 and st["alpha_achieved"] == 8
    assert st["conflict_pruned"] == 0


def test_line_reduction_vs_alpha_achieved():
    # 10 lines, 8 of them all-zero: the 2 disjoint nonzero lines make one group with alpha = 2. The array
    # needs 1 line instead of 10 (line reduction 10 > alpha), but only 2 lines are combined per group.
    w = np.zeros((10, 4), int)
    w[3, 0], w[7, 1] = 5, -6
    pm = cc.pack(w, 2, 0)
    assert pm.groups == 1 and list(pm.lines[0]) == [3, 7]
    st = cc.packing_stats(w, pm)
    assert st["line_reduction"] == st["packing_factor"] == 10.0 and st["alpha_achieved"] == 2.0
    # a second layer: 4 lines with full conflicts and gamma 0 -> 4 groups of one line each
    w2 = np.ones((4, 3), int)
    pm2 = cc.pack(w2, 2, 0)
    assert pm2.groups == 4
    net = cc.network_packing([pm, pm2])
    assert net == {"groups": [1, 4], "lines": [10, 4], "line_reduction": 14 / 5, "alpha_achieved": 6 / 5,
                   "packing_factor": 14 / 5}


def test_prune_magnitude():
    w = np.array([[1, -2, 3], [-4, 5, -6]])
    np.testing.assert_array_equal(cc.prune_magnitude(w, 0.5), [[0, 0, 0], [-4, 5, -6]])
    np.testing.assert_array_equal(cc.prune_magnitude(w, 0), w)
    assert (cc.prune_magnitude(np.arange(100).reshape(10, 10), 0.9) != 0).sum() == 10


@pytest.mark.parametrize("bad,match", [
    (dict(alpha=0), r"alpha=0 is out of range: allowed integers \[1, 16\]"),
    (dict(alpha=17), r"alpha=17 is out of range"),
    (dict(gamma=-0.5), r"gamma=-0.5 is out of range: allowed a finite number >= 0"),
])
def test_bad_parameters(bad, match):
    kw = dict(alpha=2, gamma=0.5) | bad
    with pytest.raises(ValueError, match=match):
        cc.group_lines(np.ones((3, 3)), **kw)


def test_pack_given_groups():
    w = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 0], [0, 0, 3]])
    # good groups (the all-zero line 2 may be left out, or included)
    pm = cc.pack(w, 2, 0, groups=[[3, 1], [0]])
    assert [list(r) for r in pm.lines] == [[1, 3], [0, -1]] and (pm.dense() == w).all()
    pm = cc.pack(w, 2, 0, groups=[[np.int64(0), 2], [1, 3]])
    assert pm.groups == 2 and (pm.dense() == w).all()


@pytest.mark.parametrize("groups,match", [
    ([], r"groups: 0 groups given: allowed at least 1 \(K=4 lines\)"),
    ([[0, 1, 3]], r"groups: group 0 has 3 lines: allowed \[1, 2\] \(alpha=2\)"),
    ([[0], [], [1, 3]], r"groups: group 1 has 0 lines: allowed \[1, 2\]"),
    ([[0, 1], [3, 4]], r"groups: line 4 in group 1 is out of range: allowed integers \[0, 3\] \(K=4\)"),
    ([[0, -1], [1, 3]], r"groups: line -1 in group 0 is out of range: allowed integers \[0, 3\]"),
    ([[0, 1.0], [3]], r"groups: line 1.0 in group 0 is out of range: allowed integers"),
    ([[0, 0], [1, 3]], r"groups: line 0 appears twice in group 0: allowed in at most one group"),
    ([[0, 1], [1, 3]], r"groups: line 1 appears in group 0 and in group 1: allowed in at most one group"),
    ([[0, 1]], r"groups: line\(s\) \[3\] hold nonzero weights but are in no group"),
    ([[2]], r"groups: line\(s\) \[0, 1, 3\] hold nonzero weights but are in no group"),
])
def test_pack_refuses_bad_groups(groups, match):
    w = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 0], [0, 0, 3]])
    with pytest.raises(ValueError, match=match):
        cc.pack(w, 2, 0, groups=groups)


@pytest.mark.parametrize("s", [-0.1, 1.0, 1.5])
def test_bad_sparsity(s):
    with pytest.raises(ValueError, match=rf"sparsity={s} is out of range: allowed \[0, 1\)"):
        cc.prune_magnitude(np.ones((3, 3)), s)


def test_validate_rejects_bad_select(rng):
    w = _sparse(rng, 12, 6, 0.4)
    pm = cc.pack(w, 4, 0.5)
    sel = pm.sel.copy()
    sel[0, 0] = 4
    with pytest.raises(ValueError, match=r"select index 4 is out of range: allowed \[0, 3\]"):
        cc.PackedMatrix(pm.k, pm.lines, pm.w, sel).validate(4)
    lines = pm.lines.copy()
    lines[0, 0] = 12
    with pytest.raises(ValueError, match=r"line index 12 is out of range: allowed \[0, 11\]"):
        cc.PackedMatrix(pm.k, lines, pm.w, pm.sel).validate(4)
    with pytest.raises(ValueError, match=r"alpha=4 is out of range: allowed \[1, 2\]"):
        pm.validate(2)


def test_array_config_alpha():
    cfg = ArrayConfig(rows=4, cols=4, dataflow="ws", mac="bitserial", alpha=4)
    assert cfg.lanes == 4 and cfg.sel_bits == 2 and cfg.top_name.endswith("_cc4")
    assert ArrayConfig(dataflow="ws", alpha=1).sel_bits == 0
    assert "alpha" not in ArrayConfig(dataflow="ws").to_dict()          # unpacked digests unchanged
    for kw, match in [(dict(dataflow="ws", alpha=0), r"alpha=0 is out of range: allowed \[1, 16\]"),
                      (dict(dataflow="ws", alpha=17), r"alpha=17 is out of range"),
                      (dict(dataflow="os", alpha=2), r"needs dataflow='ws'"),
                      (dict(dataflow="ws", mac="tmac", alpha=2), r"needs dataflow='ws' and mac")]:
        with pytest.raises(ValueError, match=match):
            ArrayConfig(**kw)
    e = EngineConfig(ArrayConfig(rows=8, cols=8, dataflow="ws", alpha=4, max_k=64))
    assert e.a_word == 8 * 4 * 8 and e.w_word == 8 * 10


def test_cycle_model_is_ws_with_k_equal_groups(rng):
    cfg = ArrayConfig(rows=4, cols=4, dataflow="ws", alpha=4, max_k=64)
    w = _sparse(rng, 40, 9, 0.15)
    pm = cc.pack(w, 4, 0.5)
    assert cc.packed_gemm_cycles(cfg, 10, pm).cycles == gemm_cycles(cfg, 10, pm.groups, 9).cycles
    dense = gemm_cycles(ArrayConfig(rows=4, cols=4, dataflow="ws", max_k=64), 10, 40, 9).cycles
    assert cc.packed_gemm_cycles(cfg, 10, pm).cycles < dense
    with pytest.raises(ValueError, match="alpha >= 4"):
        cc.packed_gemm_cycles(ArrayConfig(rows=4, cols=4, dataflow="ws", alpha=2), 10, pm)


def _decode_packet(ecfg, beats, pm, M):
    """Independent decoder of encode_packed's weight and activation sections (bit fields)."""
    a = ecfg.array
    wax, R, C, A = ecfg.axis_width, ecfg.rows, ecfg.cols, a.alpha
    nt, kc = -(-pm.n // C), -(-pm.groups // R)

    def words(start, n, ww):
        out, i = [], start
        if ww <= wax:
            p = wax // ww
            for k in range(n):
                out.append((beats[i + k // p] >> ((k % p) * ww)) & ((1 << ww) - 1))
            return out, start + -(-n // p)
        nb = -(-ww // wax)
        for k in range(n):
            out.append(sum(beats[i + k * nb + j] << (j * wax) for j in range(nb)))
        return out, start + n * nb

    _, i = words(1, nt, ecfg.p_word)
    ww, i = words(i, nt * kc * R, ecfg.w_word)
    lb = a.w_width + a.sel_bits
    wdec = np.zeros((kc * R, nt * C), int)
    sdec = np.zeros((kc * R, nt * C), int)
    for t in range(nt):
        for k in range(kc * R):
            v = ww[t * kc * R + k]
            for j in range(C):
                lane = (v >> (j * lb)) & ((1 << lb) - 1)
                wv = lane & ((1 << a.w_width) - 1)
                wdec[k, t * C + j] = wv - (1 << a.w_width) if wv >> (a.w_width - 1) else wv
                sdec[k, t * C + j] = lane >> a.w_width
    aw, i = words(i, kc * M, ecfg.a_word)
    xdec = np.zeros((M, kc * R, A), int)
    for c in range(kc):
        for m in range(M):
            v = aw[c * M + m]
            for r in range(R):
                for l in range(A):
                    u = (v >> ((r * A + l) * a.a_width)) & ((1 << a.a_width) - 1)
                    xdec[m, c * R + r, l] = u - (1 << a.a_width) if u >> (a.a_width - 1) else u
    assert i == len(beats)
    return wdec, sdec, xdec


@pytest.mark.parametrize("alpha,build", [(1, 1), (2, 4), (4, 4), (8, 8)])
def test_encode_packed_fields(rng, alpha, build):
    ecfg = EngineConfig(ArrayConfig(rows=4, cols=4, dataflow="ws", alpha=build, max_k=64), max_n=16)
    w = _sparse(rng, 30, 7, 0.25)
    pm = cc.pack(w, alpha, 0.3)
    x = rng.integers(-128, 128, (5, 30))
    L = cc.PackedLayer(x, pm, np.zeros(7, np.int64), None, None, requant=False)
    beats = cc.encode_packed(ecfg, L)
    wdec, sdec, xdec = _decode_packet(ecfg, beats, pm, 5)
    G = pm.groups
    np.testing.assert_array_equal(wdec[:G, :7], pm.w)
    np.testing.assert_array_equal(sdec[:G, :7], pm.sel)
    # the hardware's view: PE (g, n) multiplies w[g, n] by lane sel[g, n] of its row
    sel = np.broadcast_to(sdec[None, :, :7], (5, wdec.shape[0], 7))
    y = np.einsum("mgn,gn->mn", np.take_along_axis(xdec, sel, 2), wdec[:, :7])
    np.testing.assert_array_equal(y, x @ pm.dense())


def test_engine_refuses_mixing(rng):
    dense_e = EngineConfig(ArrayConfig(rows=4, cols=4, dataflow="ws", max_k=64))
    packed_e = EngineConfig(ArrayConfig(rows=4, cols=4, dataflow="ws", alpha=2, max_k=64))
    w = _sparse(rng, 8, 4, 0.3)
    x = rng.integers(-5, 5, (3, 8))
    pm = cc.pack(w, 2, 0.5)
    L = cc.PackedLayer(x, pm, np.zeros(4, np.int64), None, None, requant=False)
    with pytest.raises(ValueError, match=r"needs an engine built with column combining .* alpha=None"):
        cc.encode_packed(dense_e, L)
    with pytest.raises(ValueError, match=r"built with column combining \(alpha=2\): it takes packed"):
        encode(packed_e, Layer(x, w, np.zeros(4, np.int64), None, None, requant=False))
    with pytest.raises(ValueError, match=r"alpha=4 is out of range for this engine: allowed \[1, 2\]"):
        cc.encode_packed(packed_e, cc.PackedLayer(x, cc.pack(w, 4, 0.5), np.zeros(4, np.int64), None, None,
                                                  requant=False))
    check_layer(dense_e, Layer(x, w, np.zeros(4, np.int64), None, None, requant=False))
