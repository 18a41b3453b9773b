"""One frozen object describing one hardware instance.

:class:`ArrayConfig` is the single source of truth for every width and depth: the RTL generator
(:mod:`rtl`), the golden GEMM and cycle models (:mod:`macforge.golden.gemm`, :mod:`macforge.golden.cycles`), the cocotb
testbenches (:mod:`sim`) and synthesis (:mod:`macforge.gen.synth`) all derive their numbers from it. It lives in
:mod:`golden` (pure Python) so that the golden side can use it without importing Amaranth.

Validation happens in ``__post_init__``: an impossible value raises :class:`ValueError` naming the
parameter, the value and the allowed range, so no Verilog is ever produced for an invalid instance.

Accumulator width
-----------------
With signed ``a_width``-bit activations and ``w_width``-bit weights the largest product magnitude is
``(-2^(a-1)) * (-2^(w-1)) = 2^(a+w-2)``; every other product is smaller in magnitude. A reduction of
``K <= max_k`` products is therefore bounded by ``|sum| <= V = max_k * 2^(a+w-2)``. A signed ``N``-bit
register holds ``[-2^(N-1), 2^(N-1)-1]``, so the smallest safe width is::

    acc_width_min = bitlen(V) + 1 = bitlen(max_k * 2^(a+w-2)) + 1

(``bitlen(V)`` bits hold ``V`` as an unsigned number because ``V < 2^bitlen(V)``; one more bit for the
sign.) Example: a = w = 8, K = 1 gives V = 16384 and 16 bits; K = 256 gives 24 bits. The bit-serial
MAC's partial sums (products of the low activation bits, or a weight shifted by the bit position) stay
within the same bound, so one width serves every MAC kind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

#: MAC micro-architectures, all behind the same processing-element interface.
MAC_KINDS = ("parallel", "bitserial")
#: Systolic dataflows.
DATAFLOWS = ("os", "ws")

MacKind = Literal["parallel", "bitserial"]
Dataflow = Literal["os", "ws"]

# Allowed ranges (inclusive), stated once so that errors and docs quote the same numbers.
ROWS_RANGE = (1, 64)
COLS_RANGE = (1, 64)
WIDTH_RANGE = (2, 16)
MAX_K_RANGE = (1, 1 << 20)
ACC_WIDTH_MAX = 64
MAX_M_RANGE = (1, 1 << 14)


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value} is out of range: allowed [{lo}, {hi}]")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported: allowed {', '.join(map(repr, choices))}")


def min_acc_width(a_width: int, w_width: int, max_k: int) -> int:
    """Smallest signed accumulator width that cannot overflow: ``bitlen(max_k * 2^(a+w-2)) + 1``."""
    return (max_k << (a_width + w_width - 2)).bit_length() + 1


@dataclass(frozen=True)
class Fault:
    """Test-only fault injection: XOR ``mask`` into the result of the processing element at
    (``row``, ``col``) every time it produces one (OS: the finished dot product; WS: the partial sum it
    passes down). Exists so that the test suite can prove it catches a single broken PE; never use it
    for a real design (the generator prints the fault into the manifest)."""

    row: int
    col: int
    mask: int = 1


@dataclass(frozen=True)
class ArrayConfig:
    """An R x C systolic array of MACs.

    Attributes:
        rows, cols: array size R x C, each in ``ROWS_RANGE`` / ``COLS_RANGE``.
        dataflow: ``"os"`` (output stationary: each PE owns one output, K streams through) or ``"ws"``
            (weight stationary: each PE holds one weight, activations stream right, partial sums down).
        mac: ``"parallel"`` (one full product per cycle) or ``"bitserial"`` (activation enters LSB first,
            one bit per cycle; run-time precision ``p`` in 1..a_width, ``p`` cycles per product).
        a_width, w_width: signed activation / weight widths, each in ``WIDTH_RANGE``.
        max_k: largest reduction length the accumulator must hold without overflow.
        acc_width: accumulator width; ``None`` selects :func:`min_acc_width` (see module docstring).
        max_m: WS only: depth of the output accumulator memory, i.e. the most activation rows one weight
            tile may stream (the M of one tile). Ignored for OS.
        fault: test-only :class:`Fault` (``None`` for real designs).
    """

    rows: int = 4
    cols: int = 4
    dataflow: Dataflow = "os"
    mac: MacKind = "parallel"
    a_width: int = 8
    w_width: int = 8
    max_k: int = 256
    acc_width: int | None = None
    max_m: int = 256
    fault: Fault | None = None

    def __post_init__(self) -> None:
        _check_int("rows", self.rows, *ROWS_RANGE)
        _check_int("cols", self.cols, *COLS_RANGE)
        _check_choice("dataflow", self.dataflow, DATAFLOWS)
        _check_choice("mac", self.mac, MAC_KINDS)
        _check_int("a_width", self.a_width, *WIDTH_RANGE)
        _check_int("w_width", self.w_width, *WIDTH_RANGE)
        _check_int("max_k", self.max_k, *MAX_K_RANGE)
        _check_int("max_m", self.max_m, *MAX_M_RANGE)
        # With the ranges above the minimum is at most bitlen(2^20 * 2^30) + 1 = 52 <= ACC_WIDTH_MAX.
        lo = min_acc_width(self.a_width, self.w_width, self.max_k)
        if self.acc_width is None:
            object.__setattr__(self, "acc_width", lo)
        else:
            _check_int("acc_width", self.acc_width, lo, ACC_WIDTH_MAX)
        if self.fault is not None:
            if not isinstance(self.fault, Fault):
                raise ValueError(f"fault must be a Fault(row, col, mask) or None, got {self.fault!r}")
            _check_int("fault.row", self.fault.row, 0, self.rows - 1)
            _check_int("fault.col", self.fault.col, 0, self.cols - 1)
            _check_int("fault.mask", self.fault.mask, 1, (1 << self.acc_width) - 1)

    # ----- derived figures -------------------------------------------------------------------------
    def cycles_per_step(self, precision: int | None = None) -> int:
        """Cycles one MAC needs per product: 1 (parallel) or ``p`` (bit-serial, default ``a_width``)."""
        if self.mac == "parallel":
            return 1
        return self.check_precision(self.a_width if precision is None else precision)

    def check_precision(self, precision: int) -> int:
        _check_int("precision", precision, 1, self.a_width)
        return precision

    @property
    def top_name(self) -> str:
        """Verilog module name of the generated top (unique per distinct configuration)."""
        return f"macforge_{self.mac}_{self.dataflow}_{self.rows}x{self.cols}"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ArrayConfig":
        if not isinstance(d, dict):
            raise ValueError(f"configuration must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown configuration keys {sorted(unknown)}: allowed {sorted(known)}")
        d = dict(d)
        if d.get("fault") is not None:
            if not isinstance(d["fault"], dict):
                raise ValueError(f"fault must be an object {{row, col, mask}}, got {d['fault']!r}")
            d["fault"] = Fault(**d["fault"])
        return cls(**d)

    def digest(self) -> str:
        """Stable short hash of the configuration (used for build caches and file names)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
