"""The suite has teeth: a single broken PE (``ArrayConfig.fault``, a documented test-only parameter that
XORs a mask into one PE's result) must make the same regression that passes on the clean design fail."""

import pytest

from array_jobs import run_array
from macforge.golden.config import ArrayConfig, Fault

# Base configurations are the regression matrix's own (tests/test_array.py, tests/test_bitserial.py),
# so the clean run reuses their cached builds.
CASES = [
    ("os", "parallel", dict(rows=2, cols=2, a_width=4, w_width=4), Fault(row=1, col=0, mask=1)),
    ("ws", "parallel", dict(rows=2, cols=2, a_width=4, w_width=4), Fault(row=1, col=1, mask=4)),
    ("os", "bitserial", dict(rows=2, cols=3, a_width=8, w_width=8), Fault(row=0, col=1, mask=1 << 5)),
    ("ws", "bitserial", dict(rows=2, cols=3, a_width=8, w_width=8), Fault(row=0, col=0, mask=1)),
]


@pytest.mark.parametrize("dataflow,mac,shape,fault", CASES, ids=[f"{d}-{m}" for d, m, _, _ in CASES])
def test_fault_is_caught(dataflow, mac, shape, fault, seed, request):
    base = dict(shape, dataflow=dataflow, mac=mac, max_k=300, max_m=64)
    jobs = [{"M": 4, "K": 9, "N": 6, "precision": 8 if mac == "bitserial" else None}]
    run_array(ArrayConfig(**base), jobs, seed, request.node.name + "-clean")      # passes
    with pytest.raises(AssertionError, match="rows differ"):
        run_array(ArrayConfig(**base, fault=fault), jobs, seed, request.node.name + "-fault")
