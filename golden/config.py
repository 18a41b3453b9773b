"""One frozen object describing one hardware instance.

:class:`ArrayConfig` is the single source of truth for every width and depth: the RTL generator
(:mod:`macforge.rtl`), the golden GEMM and cycle models (:mod:`macforge.golden.gemm`, :mod:`macforge.golden.cycles`), the cocotb
testbenches (:mod:`macforge.sim`) and synthesis (:mod:`macforge.gen.synth`) all derive their numbers from it. It lives in
:mod:`macforge.golden` (pure Python) so that the golden side can use it without importing Amaranth.

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
MAC_KINDS = ("parallel", "bitserial", "tmac")
#: Systolic dataflows.
DATAFLOWS = ("os", "ws")

MacKind = Literal["parallel", "bitserial", "tmac"]
Dataflow = Literal["os", "ws"]

# Allowed ranges (inclusive), stated once so that errors and docs quote the same numbers.
ROWS_RANGE = (1, 256)
COLS_RANGE = (1, 256)
#: most PEs (rows x cols) of one array: the largest size emitted, linted, built with Verilator and
#: simulated bit- and cycle-exact (128 x 128, slow tier); 256 x 64 is allowed, 256 x 256 is not
PES_MAX = 128 * 128
WIDTH_RANGE = (2, 16)
MAX_K_RANGE = (1, 1 << 20)
ACC_WIDTH_MAX = 64
MAX_M_RANGE = (1, 1 << 14)
#: tMAC: group sizes (powers of two, so the index in a group is a full bit field and K/g a shift)
TMAC_G_CHOICES = (1, 2, 4, 8, 16, 32, 64)
#: tMAC: most weight term slots per group a build may hold (also bounded by g * (w_width - 1))
TMAC_K_MAX = 64
#: tMAC activation encodings (the same names as :data:`macforge.golden.terms.ENCODINGS`)
TMAC_ENCODINGS = ("binary", "hese")
#: tMAC build defaults (the trainer's headline budgets fit: k = 12 or 6 <= k_max, k_x = 3 <= kx_max; ``macforge sim``
#: takes g from the bundle)
TMAC_DEFAULTS = {"g": 16, "k_max": 16, "kx_max": 4, "encodings": TMAC_ENCODINGS}
#: column combining (:mod:`macforge.golden.colcomb`): most lines one packed array line may combine
ALPHA_RANGE = (1, 16)
#: MACs / dataflow that have a packed (column-combining) array
PACKED_MACS = ("parallel", "bitserial")


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

    Parameters
    ----------
    rows, cols : int
        Array size R x C, each in ``ROWS_RANGE`` / ``COLS_RANGE`` ([1, 256]), at most ``PES_MAX``
        (16384 = 128 x 128) PEs in all.
    dataflow : {"os", "ws"}
        ``"os"`` (output stationary: each PE owns one output, K streams through) or ``"ws"`` (weight
        stationary: each PE holds one weight, activations stream right, partial sums down).
    mac : {"parallel", "bitserial", "tmac"}
        ``"parallel"`` (one full product per cycle), ``"bitserial"`` (activation enters LSB first, one bit
        per cycle; run-time precision ``p`` in 1..a_width, ``p`` cycles per product) or ``"tmac"`` (term
        pairs, see ``g`` below).
    a_width, w_width : int
        Signed activation / weight widths, each in ``WIDTH_RANGE``.
    max_k : int
        Largest reduction length the accumulator must hold without overflow.
    acc_width : int or None
        Accumulator width; ``None`` selects :func:`min_acc_width` (see module docstring).
    max_m : int
        WS only: depth of the output accumulator memory, i.e. the most activation rows one weight tile
        may stream (the M of one tile). Ignored for OS.
    fault : Fault or None
        Test-only :class:`Fault` (``None`` for real designs).
    pipeline : bool
        Timing-closure registers (default ``True``, the fast design): WS arrays register every PE's
        contribution before it joins the column's partial sum, select the stationary weight one cycle
        ahead and register the accumulator memory's read data before the add (2 cycles; 3 for the plain
        parallel MAC, whose product is registered in the DSP block and again next to the adder); the
        parallel OS PE registers its product twice before the accumulator (2 cycles); the bit-serial OS PE
        hands out its accumulator register instead of the adder's sum (1 cycle). The extra output latency
        (:attr:`pipe_latency`) is in :mod:`macforge.golden.cycles` and :mod:`macforge.golden.engine_cycles`;
        throughput is unchanged.
    alpha : int or None
        Column combining (``None``: a plain array). A packed WS array whose every row carries ``alpha``
        activations and whose every PE stores, beside its weight, a select index of
        ``sel_bits = bitlen(alpha - 1)`` bits choosing one of them (an ``alpha``-input multiplexer per
        PE); in ``ALPHA_RANGE``, WS only, parallel or bit-serial MAC. A layer packed with any
        ``alpha' <= alpha`` runs on it; ``max_k`` then bounds the packed lines (array rows of work) of a
        layer. Timing is the plain WS array's (:mod:`macforge.golden.colcomb`).
    g, k_max, kx_max, encodings : int, int, int, tuple of str
        tMAC only (``None`` for the other MACs; ``None`` selects :data:`TMAC_DEFAULTS` for the tMAC).
        ``g`` is the group size along the reduction axis (fixed per build, one of
        :data:`TMAC_G_CHOICES`); ``k_max`` the most weight term slots per group (the run-time group budget
        ``k`` is ``1..k_max``; at most ``min(64, g * (w_width - 1))``, the terms a group of ``g``
        ``w_width``-bit values can have); ``kx_max`` the largest run-time data budget ``k_x`` (at most
        ``a_width - 1``, the terms an ``a_width``-bit value can have); ``encodings`` the activation
        encodings the term encoder supports (a non-empty subset of ``("binary", "hese")``). One product
        group is ``L = k * k_x`` cycles (:mod:`macforge.golden.tmac`).

    Raises
    ------
    ValueError
        On any impossible value, naming the parameter, the value and the allowed range.
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
    g: int | None = None
    k_max: int | None = None
    kx_max: int | None = None
    encodings: tuple | None = None
    alpha: int | None = None
    pipeline: bool = True

    def __post_init__(self) -> None:
        _check_int("rows", self.rows, *ROWS_RANGE)
        _check_int("cols", self.cols, *COLS_RANGE)
        if self.rows * self.cols > PES_MAX:
            raise ValueError(f"rows x cols = {self.rows} x {self.cols} = {self.rows * self.cols} PEs is out of "
                             f"range: allowed at most {PES_MAX} PEs (rows, cols each in {list(ROWS_RANGE)})")
        _check_choice("dataflow", self.dataflow, DATAFLOWS)
        _check_choice("mac", self.mac, MAC_KINDS)
        if not isinstance(self.pipeline, bool):
            raise ValueError(f"pipeline must be true or false, got {self.pipeline!r}")
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
        self._check_tmac()
        if self.alpha is not None:
            _check_int("alpha", self.alpha, *ALPHA_RANGE)
            if self.dataflow != "ws" or self.mac not in PACKED_MACS:
                raise ValueError(f"alpha={self.alpha} (column combining) needs dataflow='ws' and mac in "
                                 f"{PACKED_MACS}, got dataflow={self.dataflow!r}, mac={self.mac!r}")
        if self.fault is not None:
            if not isinstance(self.fault, Fault):
                raise ValueError(f"fault must be a Fault(row, col, mask) or None, got {self.fault!r}")
            _check_int("fault.row", self.fault.row, 0, self.rows - 1)
            _check_int("fault.col", self.fault.col, 0, self.cols - 1)
            _check_int("fault.mask", self.fault.mask, 1, (1 << self.acc_width) - 1)

    def _check_tmac(self) -> None:
        names = tuple(TMAC_DEFAULTS)
        if self.mac != "tmac":
            for n in names:
                if getattr(self, n) is not None:
                    raise ValueError(f"{n}={getattr(self, n)!r} is a tMAC parameter: allowed only with "
                                     f"mac='tmac' (got mac={self.mac!r})")
            return
        for n in names:
            if getattr(self, n) is None:
                object.__setattr__(self, n, TMAC_DEFAULTS[n])
        if isinstance(self.g, bool) or not isinstance(self.g, int) or self.g not in TMAC_G_CHOICES:
            # an int first: 4.0 == 4 would pass the membership test and crash the generator later
            raise ValueError(f"g={self.g!r} is not supported: allowed {', '.join(map(str, TMAC_G_CHOICES))} "
                             f"(an integer, a power of two)")
        _check_int("k_max", self.k_max, 1, min(TMAC_K_MAX, self.g * (self.w_width - 1)))
        _check_int("kx_max", self.kx_max, 1, self.a_width - 1)
        enc = self.encodings
        if isinstance(enc, str):
            enc = (enc,)
        if not isinstance(enc, (tuple, list)) or not enc or any(e not in TMAC_ENCODINGS for e in enc) \
                or len(set(enc)) != len(enc):
            raise ValueError(f"encodings={self.encodings!r} is not supported: allowed a non-empty subset of "
                             f"{', '.join(map(repr, TMAC_ENCODINGS))}")
        object.__setattr__(self, "encodings", tuple(e for e in TMAC_ENCODINGS if e in enc))

    # ----- derived figures -------------------------------------------------------------------------
    @property
    def ws_pipe(self) -> int:
        """Extra cycles of a WS array from ``pipeline`` (4, 3 or 0): each PE's contribution is registered
        before it joins the partial sum (the stationary weight is selected one cycle ahead, one cycle),
        and the output accumulator reads its memory through registers on both sides of the block RAM
        before the add (every MAC family: :mod:`macforge.rtl.ws_array`, two cycles); the plain parallel PE
        registers its product twice (in the DSP block, then next to the column adder:
        :class:`macforge.rtl.mac.ParallelWsPE`), one cycle more."""
        if not (self.pipeline and self.dataflow == "ws"):
            return 0
        return 4 if self.mac == "parallel" and self.alpha is None else 3

    @property
    def os_pipe(self) -> int:
        """Extra cycles of an OS array from ``pipeline`` (2, 1 or 0): the parallel OS PE registers its
        product twice before the accumulator (in the DSP block, then in the fabric next to the adder:
        :class:`macforge.rtl.mac.ParallelOsPE`); the bit-serial OS PE hands out its accumulator register
        instead of the adder's sum (:class:`macforge.rtl.mac.BitSerialOsPE`), one cycle; the tMAC OS PE
        has no such stage yet (0)."""
        if not (self.pipeline and self.dataflow == "os"):
            return 0
        return {"parallel": 2, "bitserial": 1}.get(self.mac, 0)

    @property
    def pipe_latency(self) -> int:
        """Extra output latency (cycles) of the pipelining option for this configuration."""
        return self.ws_pipe + self.os_pipe

    def cycles_per_step(self, precision: int | None = None, k: int | None = None,
                        k_x: int | None = None) -> int:
        """Cycles one MAC step needs: 1 (parallel, one product), ``p`` (bit-serial, one product at
        precision ``p``, default ``a_width``) or ``k * k_x`` (tMAC, one group of ``g`` products at group
        budget ``k`` and data budget ``k_x``, defaults ``k_max`` and ``kx_max``)."""
        if self.mac == "parallel":
            return 1
        if self.mac == "tmac":
            k, k_x = self.check_budgets(self.k_max if k is None else k, self.kx_max if k_x is None else k_x)
            return k * k_x
        return self.check_precision(self.a_width if precision is None else precision)

    @property
    def max_cycles_per_step(self) -> int:
        """The largest ``L`` a run-time setting can select (sizes counters in the RTL)."""
        return {"parallel": 1, "bitserial": self.a_width}.get(self.mac) or self.k_max * self.kx_max

    @property
    def step(self) -> int:
        """Reduction elements one array step consumes: ``g`` for the tMAC (a group), else 1."""
        return self.g if self.mac == "tmac" else 1

    def check_precision(self, precision: int) -> int:
        _check_int("precision", precision, 1, self.a_width)
        return precision

    def check_budgets(self, k: int, k_x: int, encoding: str | None = None) -> tuple[int, int]:
        """tMAC run-time budgets: ``k`` in ``[1, k_max]``, ``k_x`` in ``[1, kx_max]``, ``encoding`` one of
        ``encodings`` (``None``: not checked)."""
        if self.mac != "tmac":
            raise ValueError(f"k/k_x budgets need mac='tmac', got mac={self.mac!r}")
        _check_int("k", k, 1, self.k_max)
        _check_int("k_x", k_x, 1, self.kx_max)
        if encoding is not None:
            _check_choice("encoding", encoding, self.encodings)
        return k, k_x

    @property
    def lanes(self) -> int:
        """Activations per array row and beat: ``alpha`` for a packed array, else 1."""
        return self.alpha or 1

    @property
    def sel_bits(self) -> int:
        """Select-index bits stored beside each weight: ``bitlen(alpha - 1)`` (0 unpacked or alpha=1)."""
        return (self.alpha - 1).bit_length() if self.alpha else 0

    @property
    def top_name(self) -> str:
        """Verilog module name of the generated top (unique per distinct configuration)."""
        cc = f"_cc{self.alpha}" if self.alpha else ""
        return f"macforge_{self.mac}_{self.dataflow}_{self.rows}x{self.cols}{cc}"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if self.alpha is None:      # keeps the digests of unpacked arrays unchanged
            d.pop("alpha")
        if self.mac != "tmac":      # keeps the digests (build caches) of the other MACs unchanged
            for n in TMAC_DEFAULTS:
                d.pop(n)
        else:
            d["encodings"] = list(self.encodings)
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
