"""One frozen object describing one layer-engine instance (the array plus buffers and AXI4-Stream ports).

:class:`EngineConfig` wraps an :class:`~macforge.golden.config.ArrayConfig` (the single source of truth for every
array width and depth) and adds what only the engine has: the ``s_axis`` data width and the job limits
that size the on-chip buffers. Everything else is derived here, once, and used by the RTL
(:mod:`macforge.rtl.engine`), the golden packet/cycle model (:mod:`macforge.golden.engine`) and the drivers (:mod:`macforge.sim`).

Buffers (words, ``R x C`` array, ``a``/``w`` bits, ``kc = ceil(max_k / R)``, ``nt = ceil(max_n / C)``):

==============  ====================================  ===========================================
buffer          depth                                 word
==============  ====================================  ===========================================
parameters      ``nt``                                ``C`` lanes x 96 bits (bias, M0, S)
weights         ``nt * Kp`` (``Kp = max_k`` OS,        ``C * w`` bits (one row of a weight tile)
                ``kc * R`` WS)
activations     2 banks x ``max_k`` (OS) or            ``R * a`` bits (OS: one column of an R-row
                2 x ``array.max_m * kc`` (WS)         block; WS: one K-chunk of one row)
==============  ====================================  ===========================================

tMAC engines count the reduction in groups: ``max_k`` above stands for ``ceil(max_k / g)``; an activation
word is ``R * g * a`` bits (``g`` activations per row) and a weight word ``C * k_max * slot_bits`` (the
term slots of one group per column, :func:`macforge.golden.tmac.slot_fields`).

Validation happens in ``__post_init__`` and names the parameter and its allowed range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from .config import ArrayConfig, _check_int

AXIS_WIDTHS = (64, 128, 256, 512, 1024)
#: header fields M, K, N are 16 bits
DIM_MAX = (1 << 16) - 1
MAX_M_RANGE = (1, DIM_MAX)
MAX_N_RANGE = (1, 4096)
#: bits per parameter lane (bias int32, M0 uint32, S uint32), see :mod:`macforge.golden.engine`
PARAM_LANE_BITS = 96
#: bits per output lane on m_axis (every result is a sign-extended int32)
OUT_LANE_BITS = 32


@dataclass(frozen=True)
class EngineConfig:
    """A layer engine around one array.

    Parameters
    ----------
    array : ArrayConfig
        The systolic array (its ``max_k`` sizes the accumulator; for WS its ``max_m`` is the activation
        block height, i.e. rows per weight tile).
    axis_width : int
        ``s_axis_tdata`` width in bits, one of ``AXIS_WIDTHS`` (the header needs 64).
    max_m : int
        Largest batch ``M`` of one job (rows of X), in ``MAX_M_RANGE``; no buffer scales with it.
    max_k : int or None
        Largest reduction ``K``, in ``[1, min(array.max_k, 65535)]``; ``None`` = that maximum.
    max_n : int
        Largest output width ``N``, in ``MAX_N_RANGE``.

    Raises
    ------
    ValueError
        On any impossible value, naming the parameter, the value and the allowed range.
    """


    array: ArrayConfig
    axis_width: int = 64
    max_m: int = 4096
    max_k: int | None = None
    max_n: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.array, ArrayConfig):
            raise ValueError(f"array must be an ArrayConfig, got {self.array!r}")
        if self.axis_width not in AXIS_WIDTHS:
            raise ValueError(f"axis_width={self.axis_width!r} is not supported: allowed "
                             f"{', '.join(map(str, AXIS_WIDTHS))}")
        _check_int("max_m", self.max_m, *MAX_M_RANGE)
        kmax = min(self.array.max_k, DIM_MAX)
        if self.max_k is None:
            object.__setattr__(self, "max_k", kmax)
        _check_int("max_k", self.max_k, 1, kmax)
        _check_int("max_n", self.max_n, *MAX_N_RANGE)

    # ----- derived figures -------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self.array.rows

    @property
    def cols(self) -> int:
        return self.array.cols

    @property
    def dataflow(self) -> str:
        return self.array.dataflow

    @property
    def block_rows(self) -> int:
        """Rows of X per activation block: ``R`` (OS) or ``array.max_m`` (WS)."""
        return self.array.rows if self.array.dataflow == "os" else self.array.max_m

    @property
    def steps_max(self) -> int:
        """Most reduction steps of a job: ``max_k``, or for the tMAC ``ceil(max_k / g)`` groups."""
        return -(-self.max_k // self.array.step)

    @property
    def kc_max(self) -> int:
        return -(-self.steps_max // self.array.rows)

    @property
    def nt_max(self) -> int:
        return -(-self.max_n // self.array.cols)

    @property
    def kp_max(self) -> int:
        """Weight rows stored per output tile: ``max_k`` (OS) or ``kc_max * R`` (WS, zero padded)."""
        return self.steps_max if self.array.dataflow == "os" else self.kc_max * self.array.rows

    @property
    def a_word(self) -> int:
        """``R * a`` bits; packed arrays (``alpha``): ``R * alpha * a`` (every row carries ``alpha``)."""
        if self.array.mac == "tmac":       # R groups of g activations
            return self.array.rows * self.array.g * self.array.a_width
        return self.array.rows * self.array.lanes * self.array.a_width

    @property
    def w_word(self) -> int:
        """``C * w`` bits; packed arrays: ``C * (w + sel_bits)`` (weight, select index above it)."""
        if self.array.mac == "tmac":       # C columns of k_max term slots
            from .tmac import slot_bits
            return self.array.cols * self.array.k_max * slot_bits(self.array)
        return self.array.cols * (self.array.w_width + self.array.sel_bits)

    @property
    def p_word(self) -> int:
        return self.array.cols * PARAM_LANE_BITS

    @property
    def out_width(self) -> int:
        """``m_axis_tdata`` width: one array output row (``C`` int32 lanes) per beat."""
        return self.array.cols * OUT_LANE_BITS

    @property
    def a_bank_depth(self) -> int:
        return self.steps_max if self.array.dataflow == "os" else self.array.max_m * self.kc_max

    @property
    def w_depth(self) -> int:
        return self.nt_max * self.kp_max

    @property
    def post_pipe(self) -> int:
        """Registered post-processing stages added by the pipelining option (``array.pipeline``): 11
        (the array row, bias and parameters; ``v = y + bias``; the multiplier operands; four 18x18 partial
        products of ``v * M0``; two partial sums; ``v * M0``; ``+ 2^(S-1)``; ``>> 8 (S div 8)``;
        ``>> (S mod 8)``; the clamp's tests; the clamped, raw or zero-padding lane), else 0. Each adds one
        cycle of latency; the output side loads the last stage's flip-flops."""
        return 11 if self.array.pipeline else 0

    @property
    def issue_depth(self) -> int:
        """Beats each issue generator's queue holds behind its head register (4; :func:`macforge.rtl.skid.issue_queue`):
        the generator reads while queue and head have room (a registered flag), so it never waits on the
        array's combinational ``ready``; the block RAM's clock-to-out ends in an input register, and the
        array sees the head register. A word read in cycle ``t`` reaches the array from ``t + 3`` (the
        cycle model counts it)."""
        return 4

    @property
    def top_name(self) -> str:
        a = self.array
        cc = f"_cc{a.alpha}" if a.alpha else ""
        return f"macforge_engine_{a.mac}_{a.dataflow}_{a.rows}x{a.cols}{cc}"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["array"] = self.array.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EngineConfig":
        d = dict(d)
        d["array"] = ArrayConfig.from_dict(d["array"])
        return cls(**d)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
