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
