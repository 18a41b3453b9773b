"""Golden side of the layer engine: configuration, packet format, driver checks, cycle model figures."""

import numpy as np
import pytest

from macforge.golden.config import ArrayConfig
from macforge.golden.engine import (Layer, command_word, decode_rows, encode, expected_rows, layer_result, pack_words,
                           rows_before_cut, section_beats)
from macforge.golden.engine_config import EngineConfig
from macforge.golden.engine_cycles import job_cycles, layer_utilization


def ecfg(df="os", R=4, C=4, **kw):
    return EngineConfig(ArrayConfig(rows=R, cols=C, dataflow=df, max_k=64, max_m=16), max_m=64, max_n=16, **kw)


@pytest.mark.parametrize("kw, msg", [
    (dict(axis_width=48), "axis_width=48"),
    (dict(max_m=0), "max_m=0"),
    (dict(max_k=65), "max_k=65"),
    (dict(max_n=5000), "max_n=5000"),
])
def test_config_errors_name_parameter(kw, msg):
    base = dict(array=ArrayConfig(max_k=64), max_m=64, max_n=16)
    base.update(kw)
    with pytest.raises(ValueError, match=msg):
        EngineConfig(**base)


def test_config_roundtrip():
    e = ecfg("ws", 3, 2)
    assert EngineConfig.from_dict(e.to_dict()) == e
    assert e.a_word == 24 and e.w_word == 16 and e.p_word == 192 and e.out_width == 64


def test_pack_words():
    assert pack_words([1, 2, 3], 16, 64) == [1 | 2 << 16 | 3 << 32]
    assert pack_words([(1 << 100) | 5], 128, 64) == [5, 1 << 36]


def test_command_word_fields():
    w = command_word(3, 4, 5, relu=True, requant=False, precision=4)
    assert w & 0xFF == 0x4C and (w >> 8) & 1 == 1 and (w >> 9) & 1 == 0 and (w >> 12) & 0xF == 4
    assert (w >> 16) & 0xFFFF == 3 and (w >> 32) & 0xFFFF == 4 and w >> 48 == 5


def _layer(rng, M, K, N, requant=True):
    x = rng.integers(-128, 128, (M, K))
    w = rng.integers(-128, 128, (K, N))
    b = rng.integers(-1000, 1000, N)
    return Layer(x, w, b, rng.integers(1 << 29, 1 << 31, N) if requant else None,
                 rng.integers(20, 30, N) if requant else None, relu=True, requant=requant)


@pytest.mark.parametrize("df", ["os", "ws"])
def test_expected_rows_decode_to_layer_result(df):
    rng = np.random.default_rng(0)
    e = ecfg(df, 3, 2)
    for M, K, N, rq in [(1, 1, 1, True), (17, 9, 5, True), (40, 64, 16, False)]:
        L = _layer(rng, M, K, N, rq)
        y = decode_rows(e, expected_rows(e, L), M, N)
        assert (y == layer_result(e, L)).all()
        assert len(encode(e, L)) == sum(section_beats(e, M, K, N))


def test_driver_rejects_bad_layers_before_sending():
    e = ecfg()
    rng = np.random.default_rng(1)
    L = _layer(rng, 4, 8, 4)
    with pytest.raises(ValueError, match="N=17 is out of range"):
        encode(e, Layer(L.x, np.zeros((8, 17), np.int64), np.zeros(17, np.int64), np.ones(17, np.int64),
                        np.ones(17, np.int64)))
    with pytest.raises(ValueError, match="X has values"):
        encode(e, Layer(L.x * 4, L.w, L.bias, L.m0, L.shift))
    with pytest.raises(ValueError, match="S must be in"):
        encode(e, Layer(L.x, L.w, L.bias, L.m0, L.shift * 0))
    with pytest.raises(ValueError, match="inner dimensions"):
        encode(e, Layer(L.x[:, :3], L.w, L.bias, L.m0, L.shift))
    with pytest.raises(ValueError, match="only supported by the bit-serial"):
        encode(e, Layer(L.x, L.w, L.bias, L.m0, L.shift, precision=4))


def test_rows_before_cut():
    e = ecfg("os")
    sb = section_beats(e, 9, 8, 4)      # 3 blocks of 4 rows, 1 tile each
    head = sum(sb[:3])
    assert rows_before_cut(e, 9, 8, 4, head) == 0
    assert rows_before_cut(e, 9, 8, 4, head + sb[3]) == 4
    assert rows_before_cut(e, 9, 8, 4, head + sb[3] + sb[4] - 1) == 4


def test_utilization_256_cubed_on_8x8_at_least_90_percent():
    e = EngineConfig(ArrayConfig(rows=8, cols=8, dataflow="os", max_k=256), max_n=256)
    u = layer_utilization(e, 256, 256, 256)
    assert u["utilization"] >= 0.90, u
    # the model is a bound-respecting simulation: never below pure compute + one load
    assert u["cycles"] >= 32 * 32 * 256


def test_cycle_model_monotone_and_small_cases():
    e = ecfg("os")
    assert job_cycles(e, 4, 8, 4) < job_cycles(e, 8, 8, 4) < job_cycles(e, 8, 16, 4)
    w = ecfg("ws")
    assert job_cycles(w, 4, 8, 4) < job_cycles(w, 32, 8, 4)


def test_driver_rejects_non_integer_params_and_raw_int32_overflow():
    e = ecfg()
    rng = np.random.default_rng(2)
    L = _layer(rng, 4, 8, 4)
    with pytest.raises(ValueError, match="bias must be an integer array"):
        encode(e, Layer(L.x, L.w, L.bias + 0.5, L.m0, L.shift))
    with pytest.raises(ValueError, match="M0 and S must be integer arrays"):
        encode(e, Layer(L.x, L.w, L.bias, L.m0, L.shift + 0.9))
    x = np.full((1, 2), 127, np.int64)
    w = np.full((2, 1), 127, np.int64)
    with pytest.raises(ValueError, match=r"raw \(requant=False\) results .*int32 output lanes"):
        encode(e, Layer(x, w, np.array([2**31 - 1]), None, None, requant=False))


def test_cycle_model_rejects_what_the_hardware_rejects():
    e = ecfg()
    for M, K, N in [(0, 4, 4), (4, e.max_k + 1, 4), (4, 4, e.max_n + 1)]:
        with pytest.raises(ValueError, match="out of range for this engine"):
            job_cycles(e, M, K, N)
