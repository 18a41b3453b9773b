"""Impossible configurations and operands fail at configuration time with a message naming the
parameter, the value and the allowed range (so no Verilog is ever produced for them)."""

import numpy as np
import pytest

from macforge.golden.config import ArrayConfig, Fault, min_acc_width
from macforge.golden.gemm import schedule

INVALID = [
    (dict(rows=0), r"rows=0 .*\[1, 256\]"),
    (dict(rows=257), r"rows=257 .*\[1, 256\]"),
    (dict(cols=0), r"cols=0 .*\[1, 256\]"),
    (dict(rows=256, cols=128), r"rows x cols = 256 x 128 = 32768 PEs .*at most 16384 PEs"),
    (dict(rows=129, cols=128), r"rows x cols .* at most 16384"),
    (dict(rows=4.0), r"rows must be an integer"),
    (dict(rows=True), r"rows must be an integer"),
    (dict(dataflow="is"), r"dataflow='is' .*'os', 'ws'"),
    (dict(mac="term"), r"mac='term' .*'parallel', 'bitserial'"),
    (dict(a_width=1), r"a_width=1 .*\[2, 16\]"),
    (dict(a_width=17), r"a_width=17 .*\[2, 16\]"),
    (dict(w_width=0), r"w_width=0 .*\[2, 16\]"),
    (dict(max_k=0), r"max_k=0 .*\[1, 1048576\]"),
    (dict(acc_width=15), r"acc_width=15 .*\[24, 64\]"),     # 8x8 bits, K=256 needs 24
    (dict(acc_width=65), r"acc_width=65 .*\[24, 64\]"),
    (dict(max_m=0), r"max_m=0 .*\[1, 16384\]"),
    (dict(fault=Fault(4, 0)), r"fault.row=4 .*\[0, 3\]"),
    (dict(fault=Fault(0, 0, 0)), r"fault.mask=0"),
    (dict(acc_width="32"), r"acc_width must be an integer in \[24, 64\]"),
]


@pytest.mark.parametrize("kwargs,msg", INVALID, ids=[next(iter(k)) + str(i) for i, (k, _) in enumerate(INVALID)])
def test_invalid_config(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        ArrayConfig(**kwargs)


def test_acc_width_formula():
    # bitlen(K * 2^(a+w-2)) + 1: the most negative operands' product is the largest magnitude
    assert min_acc_width(8, 8, 1) == 16
    assert min_acc_width(8, 8, 256) == 24
    assert min_acc_width(4, 4, 300) == 16
    for a, w, k in [(2, 2, 1), (3, 5, 7), (8, 8, 300), (16, 16, 1000)]:
        n = min_acc_width(a, w, k)
        worst = k * (1 << (a - 1)) * (1 << (w - 1))
        assert worst <= (1 << (n - 1)) - 1 < 2 * worst      # fits, and one bit less would not
    assert ArrayConfig().acc_width == min_acc_width(8, 8, 256)


def test_precision_range():
    cfg = ArrayConfig(mac="bitserial", a_width=6)
    assert cfg.cycles_per_step(3) == 3 and cfg.cycles_per_step() == 6
    for bad in (0, 7):
        with pytest.raises(ValueError, match=rf"precision={bad} .*\[1, 6\]"):
            cfg.cycles_per_step(bad)


def test_config_roundtrip_and_unknown_keys():
    cfg = ArrayConfig(rows=3, cols=5, dataflow="ws", fault=Fault(1, 2, 3))
    assert ArrayConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown configuration keys"):
        ArrayConfig.from_dict({"rows": 2, "colz": 3})


@pytest.mark.parametrize("a_shape,w_shape,msg", [
    ((2, 3), (4, 2), "inner dimensions differ"),
    ((0, 3), (3, 2), "M=0"),
    ((2, 400), (400, 2), r"K=400 exceeds max_k=256"),
])
def test_bad_operand_shapes(a_shape, w_shape, msg):
    with pytest.raises(ValueError, match=msg):
        schedule(ArrayConfig(), np.zeros(a_shape, int), np.zeros(w_shape, int))


def test_operand_overflow():
    cfg = ArrayConfig(a_width=4)
    with pytest.raises(ValueError, match=r"A has values in \[-9, -9\]: allowed \[-8, 7\]"):
        schedule(cfg, np.full((2, 2), -9), np.zeros((2, 2), int))
