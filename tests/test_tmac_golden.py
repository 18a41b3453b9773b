"""tMAC golden reference (macforge.golden.tmac): slot packing, activation encoder reference, schedule and
cycle model, configuration checks. Pure NumPy."""

import numpy as np
import pytest

from macforge.golden import terms
from macforge.golden.config import ArrayConfig
from macforge.golden.cycles import os_job_cycles, ws_job_cycles
from macforge.golden.tmac import (activation_terms, pack_slots, slot_fields, slots_value, terms_value,
                                  tmac_gemm, tmac_gemm_cycles, tmac_schedule, weight_slots)


def tcfg(**kw):
    base = dict(rows=2, cols=2, mac="tmac", a_width=8, w_width=8, max_k=64, g=4, k_max=8, kx_max=4)
    base.update(kw)
    return ArrayConfig(**base)


@pytest.mark.parametrize("enc", ["binary", "hese"])
def test_activation_terms_match_data_budget_exhaustive(enc):
    v = np.arange(-128, 128)
    for kx in range(1, 8):
        t = activation_terms(v, kx, enc, 8, kx_max=7)
        assert np.array_equal(terms_value(t), terms.data_budget(v, kx, enc)), kx
        # most significant first, valid terms contiguous from 0
        assert np.all(np.diff(t[..., 0], axis=-1) <= 0)
        e = np.where(t[..., 0] == 1, t[..., 2], -1)
        assert np.all((np.diff(e, axis=-1) < 0) | (t[..., 1:, 0] == 0))
    assert activation_terms(np.array([127]), 1, "hese", 8)[0, 0].tolist() == [1, 0, 7]   # 127 -> 2^7
    assert activation_terms(np.array([-128]), 1, "binary", 8)[0, 0].tolist() == [1, 1, 7]


@pytest.mark.parametrize("enc", ["binary", "hese"])
@pytest.mark.parametrize("g", [1, 4, 8, 16])
def test_weight_slots_are_the_group_budget(enc, g, rng):
    cfg = tcfg(g=g, k_max=min(16, g * 7))
    w = rng.integers(-128, 128, size=(37, 5))
    w[0, 0], w[1, 0], w[2, 1] = -128, 127, 0
    for k in range(1, cfg.k_max + 1):
        s = weight_slots(cfg, w, k, enc)
        assert s.shape == (-(-37 // g), 5, cfg.k_max, 4)
        got = slots_value(s, g)[:37]
        assert np.array_equal(got, terms.group_budget(w, g, k, enc, axis=0)), (g, k)
        assert np.all(s[:, :, k:, 0] == 0)
        # a k-budget packing is the prefix of the k_max packing
        assert np.array_equal(s[:, :, :k], weight_slots(cfg, w, cfg.k_max, enc)[:, :, :k])


def test_slot_layout():
    cfg = tcfg(g=16)
    assert slot_fields(cfg) == [("valid", 1), ("sign", 1), ("exp", 3), ("idx", 4)]
    assert slot_fields(tcfg(g=1, k_max=7)) == [("valid", 1), ("sign", 1), ("exp", 3)]
    assert pack_slots(cfg, np.array([1, 1, 5, 9])) == 1 | 2 | (5 << 2) | (9 << 5)


@pytest.mark.parametrize("df", ["os", "ws"])
def test_schedule_reassembles_to_the_tq_gemm(df, rng):
    cfg = tcfg(dataflow=df, rows=3, cols=2, max_m=4)
    a = rng.integers(-128, 128, size=(7, 30))
    w = rng.integers(-128, 128, size=(30, 5))
    sch = tmac_schedule(cfg, a, w, 5, 3, "hese")
    y = tmac_gemm(a, w, 4, 5, 3, "hese")
    assert np.array_equal(y, terms.data_budget(a, 3, "hese") @ terms.group_budget(w, 4, 5, "hese"))
    G = 8
    if df == "os":
        assert sch.acts.shape == (3 * 3 * G, 3, 4) and sch.tiles == [G] * 9
        assert sch.outputs.shape == (9 * 3, 2)
        assert os_job_cycles(cfg, sch.tiles, 15) == tmac_gemm_cycles(cfg, 7, 30, 5, 5, 3).cycles
    else:
        assert sch.tiles == [4] * 9 + [3] * 9
        assert ws_job_cycles(cfg, sch.tiles, 15) == tmac_gemm_cycles(cfg, 7, 30, 5, 5, 3).cycles


BAD = [
    (dict(g=3), r"g=3 is not supported: allowed 1, 2, 4"),
    (dict(g=4, k_max=29), r"k_max=29 .*\[1, 28\]"),
    (dict(kx_max=8), r"kx_max=8 .*\[1, 7\]"),
    (dict(kx_max=0), r"kx_max=0 .*\[1, 7\]"),
    (dict(encodings=("csd",)), r"encodings=\('csd',\) is not supported"),
    (dict(encodings=()), r"encodings=\(\) is not supported"),
]


@pytest.mark.parametrize("kw,msg", BAD)
def test_bad_tmac_config(kw, msg):
    with pytest.raises(ValueError, match=msg):
        tcfg(**kw)


def test_tmac_params_need_tmac_and_runtime_budgets():
    with pytest.raises(ValueError, match=r"g=4 is a tMAC parameter"):
        ArrayConfig(mac="parallel", g=4)
    cfg = tcfg(encodings=("hese",))
    assert cfg.cycles_per_step(k=3, k_x=2) == 6 and cfg.max_cycles_per_step == 32
    for kw, msg in [(dict(k=9, k_x=1), r"k=9 .*\[1, 8\]"), (dict(k=1, k_x=5), r"k_x=5 .*\[1, 4\]"),
                    (dict(k=1, k_x=1, encoding="binary"), r"encoding='binary' .*'hese'")]:
        with pytest.raises(ValueError, match=msg):
            cfg.check_budgets(**kw)
    # other MACs keep their digests: no tMAC keys in their dicts
    assert "g" not in ArrayConfig().to_dict()
    assert ArrayConfig.from_dict(cfg.to_dict()) == cfg


def _hw_pairs(cfg, x, w, k, k_x, enc):
    """Term pairs the tMAC meets, from its own operands: valid weight slots x valid activation terms."""
    from macforge.golden.tmac import weight_slots

    g = cfg.g
    K = w.shape[0]
    G = -(-K // g)
    xp = np.zeros((x.shape[0], G * g), np.int64)
    xp[:, :K] = x
    tx = activation_terms(xp, k_x, enc, cfg.a_width)[..., 0].sum(-1).reshape(-1, G, g)    # (M, G, g)
    sl = weight_slots(cfg, w, k, enc)                                                   # (G, N, S, 4)
    per_idx = np.zeros((G, g, w.shape[1]), np.int64)                                   # valid slots per idx
    Gi, Ni, Si = np.nonzero(sl[..., 0])
    np.add.at(per_idx, (Gi, sl[Gi, Ni, Si, 3], Ni), 1)
    return int(np.einsum("mji,jin->", tx, per_idx))


def test_tq_term_pairs_count_the_kept_terms():
    """HESE -123 at k_x = 3 keeps -128 + 8 - 4 (3 terms); its truncation -124 re-encodes as -128 + 4 (2 terms):
    the trace counts the 3 pairs the hardware meets, not 2."""
    from macforge.golden.mlp import IntLayer, IntMLP, TQConfig, mlp_forward_int

    assert terms.data_budget(np.array([-123]), 3, "hese")[0] == -124
    assert terms.count_terms(np.array([-124]), "hese")[0] == 2

    def one_layer(w, tq):
        w = np.asarray(w, np.int64)
        n = w.shape[1]
        lay = IntLayer(w, np.zeros(n, np.int64), None, None, False, 8, 8, 0.01, np.full(n, 0.01), None)
        return IntMLP([lay], a_bits=8, w_bits=8, tq=tq)

    tq = TQConfig(g=1, k=1, k_x=3, encoding="hese")
    tr = mlp_forward_int(one_layer([[1]], tq), np.array([[-123]]), mode="tq")
    assert tr.inputs[0][0, 0] == -124 and tr.term_pairs == 3
    cfg = ArrayConfig(mac="tmac", g=1, k_max=1, kx_max=3)
    assert _hw_pairs(cfg, np.array([[-123]]), np.array([[1]]), 1, 3, "hese") == 3

    # a random layer with carries, K not a multiple of g: the trace equals the hardware's own count
    rng = np.random.default_rng(11)
    w = rng.integers(-127, 128, size=(13, 5))
    w[0, 0], w[1, 1] = 127, -123
    x = rng.integers(-128, 128, size=(6, 13))
    x[0, :3] = [-123, 127, 119]
    for enc in ("binary", "hese"):
        tq = TQConfig(g=4, k=5, k_x=3, encoding=enc)
        tr = mlp_forward_int(one_layer(w, tq), x, mode="tq")
        cfg = ArrayConfig(mac="tmac", g=4, k_max=5, kx_max=3)
        assert tr.term_pairs == _hw_pairs(cfg, x, w, 5, 3, enc)
    # ... and differs from re-encoding the truncated values for HESE (the old count)
    assert tr.term_pairs > terms.term_pair_ops(tr.weights[0], tr.inputs[0], "hese")
