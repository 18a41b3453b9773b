"""Golden model of the layer engine: packet format, expected output stream, result decoding.

One *job* is one fully connected layer ``Y = post(X @ W + b)`` with ``X`` ``(M, K)`` signed ``a``-bit,
``W`` ``(K, N)`` signed ``w``-bit, ``b`` int32, ``post`` either the requantization of
:mod:`macforge.golden.requant` (per output channel ``M0``, ``S``; optional ReLU) or nothing (raw int32 results,
the final layer of :mod:`macforge.golden.mlp`).

Input packet (``s_axis``, one packet per job, ``tlast`` on its final beat)
--------------------------------------------------------------------------
Beat 0 is the **command word** (low 64 bits of ``tdata``; higher bits ignored)::

    [7:0]   opcode   0x4C ('L', layer job); anything else is error 1 (bad command)
    [8]     relu     clamp low bound 0 instead of -2^(a-1)
    [9]     requant  1: y = clamp((acc*M0 + 2^(S-1)) >> S); 0: y = acc (raw int32)
    [11:10] reserved (0)
    [15:12] precision p of the bit-serial MAC (0 = a_width; > a_width is error 6); ignored by parallel
    [31:16] M   rows of X      (1..max_m;  0 is error 2, larger is error 3)
    [47:32] K   reduction      (1..max_k)
    [63:48] N   output columns (1..max_n)

**tMAC engines** (``array.mac = "tmac"``) follow the command word with one **budget word** (beat 1;
``[7:0]`` group budget ``k``, ``[11:8]`` data budget ``k_x``, ``[12]`` encoding, 1 = HESE; ``k = 0`` / ``k_x = 0``
select the build maxima; ``k > k_max``, ``k_x > kx_max``, an encoding the build lacks or a non-zero
precision field are error 6). Their reduction is counted in groups of ``g``: ``G = ceil(K / g)`` (``K``
zero-padded), and ``K`` below stands for ``G`` in the section sizes; a weight word is ``C`` lanes of
``k_max`` term slots (:func:`macforge.golden.tmac.slot_fields`, the group budget ``k``'s terms, slots
``>= k`` zero) and an activation word carries ``g`` activations per lane.

Then three sections; each is a sequence of fixed-width *words* packed into beats and each section
starts on a fresh beat. A word of ``ww`` bits narrower than the bus packs ``floor(axis_width / ww)``
words per beat (word ``i`` at bits ``[i*ww, (i+1)*ww)``); a wider word spans ``ceil(ww / axis_width)``
beats (least significant bits first). Unused bits are zero. ``nt = ceil(N / C)`` output tiles,
``kc = ceil(K / R)`` K-chunks, ``Kp = K`` (OS) or ``kc * R`` (WS); values beyond ``M``, ``K``, ``N`` are
zero padding:

1. **parameters**: ``nt`` words of ``C`` lanes x 96 bits; lane ``j`` of word ``t`` is channel
   ``n = t*C + j``: bits ``[0,32)`` bias (int32), ``[32,64)`` M0 (uint32 < 2^31), ``[64,96)`` S (1..62).
2. **weights**: for ``t`` in tiles, for ``k`` in ``0..Kp-1``: word ``W[k, t*C : t*C+C]`` (``C`` lanes of
   ``w`` bits).
3. **activations** in blocks of ``B`` rows (``B = R`` OS, ``B = array.max_m`` WS; the last block holds
   ``mb = M - m0`` rows if fewer), each block a section of its own:

   * OS: ``K`` words, word ``k`` = ``X[m0 : m0+R, k]`` (``R`` lanes of ``a`` bits, rows past M zero);
   * WS: for ``c`` in ``0..kc-1``, for ``m`` in the block: word ``X[m, c*R : c*R+R]``.

Output packet (``m_axis``, one per job)
---------------------------------------
One beat per array output row: ``C`` lanes of 32 bits (sign-extended results), lane ``j`` = column
``t*C + j``. Order: OS: for each R-row block, for each tile ``t``: rows ``m0 .. m0+R-1`` (padding rows
included); WS: for each block, for each tile: its ``mb`` rows. ``tlast`` on the final row, ``tuser = 0``.
A job that fails (errors 1-6) ends with one extra *error beat*: ``tdata`` = error code, ``tuser = 1``,
``tlast = 1`` (rows of completely received blocks before it are still delivered).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine_config import EngineConfig, PARAM_LANE_BITS
from .gemm import clip_precision
from .requant import MAX_SHIFT, output_range, requantize

OPCODE = 0x4C
ERRORS = {
    1: "bad command word (opcode)",
    2: "zero dimension",
    3: "dimension larger than the configured maximum",
    4: "truncated packet (tlast before the final beat)",
    5: "packet too long (no tlast on the final beat)",
    6: "bad precision",
    7: "bad requantization parameter (S outside 1..62 or M0 >= 2^31 on a channel < N)",
}
#: opcode of the capabilities query (a one-beat packet; the answer is CAPS_WORDS m_axis beats)
OPCODE_CAPS = 0x43
#: version of the packet format described in this module and docs/engine.md
PACKET_FORMAT_VERSION = 2


def command_word(M: int, K: int, N: int, *, relu: bool = False, requant: bool = True,
                 precision: int = 0, opcode: int = OPCODE) -> int:
    """The 64-bit command word (no range check: tests use it to build bad commands)."""
    return ((opcode & 0xFF) | (int(relu) << 8) | (int(requant) << 9) | ((precision & 0xF) << 12)
            | ((M & 0xFFFF) << 16) | ((K & 0xFFFF) << 32) | ((N & 0xFFFF) << 48))


def pack_words(words, ww: int, wax: int) -> list[int]:
    """Pack ``ww``-bit words into ``wax``-bit beats (see the module docstring)."""
    mask = (1 << ww) - 1
    beats: list[int] = []
    if ww <= wax:
        per = wax // ww
        cur, i = 0, 0
        for wd in words:
            cur |= (int(wd) & mask) << (i * ww)
            i += 1
            if i == per:
                beats.append(cur)
                cur, i = 0, 0
        if i:
            beats.append(cur)
    else:
        n = -(-ww // wax)
        bm = (1 << wax) - 1
        for wd in words:
            wd = int(wd) & mask
            beats.extend((wd >> (j * wax)) & bm for j in range(n))
    return beats


def _lanes(mat: np.ndarray, bits: int) -> list[int]:
    """Rows of ``mat`` as little-endian packed integers of ``bits``-bit lanes."""
    mat = np.asarray(mat, dtype=np.int64)
    mask = (1 << bits) - 1
    out = []
    for row in mat.tolist():
        v = 0
        for i, x in enumerate(row):
            v |= (int(x) & mask) << (i * bits)
        out.append(v)
    return out


@dataclass
class Layer:
    """One engine job's operands (integers; ``m0``/``shift`` ignored when ``requant`` is False)."""

    x: np.ndarray           # (M, K)
    w: np.ndarray           # (K, N)
    bias: np.ndarray        # (N,)
    m0: np.ndarray | None   # (N,)
    shift: np.ndarray | None
    relu: bool = False
    requant: bool = True
    precision: int | None = None   # bit-serial precision (None = a_width)
    k: int | None = None           # tMAC group budget (None = k_max)
    k_x: int | None = None         # tMAC data budget (None = kx_max)
    encoding: str | None = None    # tMAC activation encoding (None = the build's last: hese if present)

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.x.shape[0], self.x.shape[1], self.w.shape[1]


def check_dims(ecfg: EngineConfig, M: int, K: int, N: int) -> None:
    """``M``, ``K``, ``N`` within ``1..max_m``, ``1..max_k``, ``1..max_n`` of the engine."""
    for name, v, hi in (("M", M, ecfg.max_m), ("K", K, ecfg.max_k), ("N", N, ecfg.max_n)):
        if not 1 <= v <= hi:
            raise ValueError(f"{name}={v} is out of range for this engine: allowed [1, {hi}]")


def check_layer(ecfg: EngineConfig, L: Layer, packed_ok: bool = False) -> None:
    """Raise ``ValueError`` for anything the driver can check before sending (clear messages).
    An engine built with column combining (``array.alpha``) takes only packed layers
    (:func:`macforge.golden.colcomb.encode_packed`, which passes ``packed_ok`` for the dense layer of its
    surviving weights and checks the engine dimensions itself: the reduction of a packed job is its
    group count, not ``K``)."""
    a = ecfg.array
    if a.alpha is not None and not packed_ok:
        raise ValueError(f"this engine is built with column combining (alpha={a.alpha}): it takes packed "
                         f"layers only (alpha in [1, {a.alpha}]), got a dense layer; pack it "
                         f"(macforge.golden.colcomb) or use an engine built with alpha=None")
    x, w = np.asarray(L.x), np.asarray(L.w)
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(f"X and W must be 2-D, got X.ndim={x.ndim}, W.ndim={w.ndim}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"inner dimensions differ: X is {x.shape}, W is {w.shape}")
    M, K, N = x.shape[0], x.shape[1], w.shape[1]
    if not packed_ok:
        check_dims(ecfg, M, K, N)
    for name, v, bits in (("X", x, a.a_width), ("W", w, a.w_width)):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if v.dtype.kind not in "iu":
            raise ValueError(f"{name} must be an integer array, got dtype {v.dtype}")
        if v.size and (v.min() < lo or v.max() > hi):
            raise ValueError(f"{name} has values in [{v.min()}, {v.max()}]: allowed [{lo}, {hi}]")
    b = np.asarray(L.bias)
    if b.dtype.kind not in "iu":
        raise ValueError(f"bias must be an integer array (int32 values), got dtype {b.dtype}")
    if b.shape != (N,) or (b.size and (b.min() < -(1 << 31) or b.max() >= 1 << 31)):
        raise ValueError(f"bias must be {N} int32 values, got shape {b.shape}")
    if not L.requant:
        # raw jobs put acc + bias on 32-bit lanes: it must fit, or the hardware would wrap
        v = x.astype(np.int64) @ w.astype(np.int64) + b.astype(np.int64)
        if v.size and (v.min() < -(1 << 31) or v.max() >= 1 << 31):
            raise ValueError(f"raw (requant=False) results X@W+bias span [{v.min()}, {v.max()}]: "
                             f"allowed [-2^31, 2^31-1] (int32 output lanes)")
    if L.requant:
        m0, s = np.asarray(L.m0), np.asarray(L.shift)
        if m0.dtype.kind not in "iu" or s.dtype.kind not in "iu":
            raise ValueError(f"M0 and S must be integer arrays, got dtypes {m0.dtype} and {s.dtype}")
        if m0.shape != (N,) or s.shape != (N,):
            raise ValueError(f"M0 and S must have shape ({N},), got {m0.shape} and {s.shape}")
        if m0.min() < 0 or m0.max() >= 1 << 31:
            raise ValueError("M0 must be in [0, 2^31)")
        if s.min() < 1 or s.max() > MAX_SHIFT:
            raise ValueError(f"S must be in [1, {MAX_SHIFT}]")
    if a.mac == "tmac":
        a.check_budgets(*tmac_budgets(ecfg, L))
    elif L.k is not None or L.k_x is not None or L.encoding is not None:
        raise ValueError("k, k_x and encoding are only supported by the tMAC")
    if L.precision is not None:
        if a.mac != "bitserial":
            raise ValueError("precision is only supported by the bit-serial MAC")
        if not 1 <= L.precision <= a.a_width:
            raise ValueError(f"precision={L.precision} is out of range: allowed [1, {a.a_width}]")


def geometry(ecfg: EngineConfig, M: int, K: int, N: int):
    """``(nt, kc, kp, blocks)``: output tiles ``ceil(N/C)``, K-chunks ``ceil(K/R)``, reduction length
    streamed per tile (``K`` for OS, ``kc*R`` for WS) and activation blocks ``(m0, rows)``."""
    R, C = ecfg.rows, ecfg.cols
    G = -(-K // ecfg.array.step)          # reduction steps: groups of g for the tMAC, else K
    nt, kc = -(-N // C), -(-G // R)
    kp = G if ecfg.dataflow == "os" else kc * R
    B = ecfg.block_rows
    blocks = [(m0, min(B, M - m0)) for m0 in range(0, M, B)]
    return nt, kc, kp, blocks


def encode(ecfg: EngineConfig, L: Layer, check: bool = True) -> list[int]:
    """The ``s_axis`` beats of one job (``tlast`` belongs on the final one)."""
    if check:
        check_layer(ecfg, L)
    a = ecfg.array
    R, C, wax = ecfg.rows, ecfg.cols, ecfg.axis_width
    M, K, N = L.dims
    nt, kc, kp, blocks = geometry(ecfg, M, K, N)
    beats = [command_word(M, K, N, relu=L.relu, requant=L.requant, precision=L.precision or 0)]
    if a.mac == "tmac":
        k, k_x, enc = tmac_budgets(ecfg, L)
        beats.append(budget_word(k, k_x, enc == "hese"))
    # parameters
    bias = np.zeros(nt * C, np.int64)
    bias[:N] = L.bias
    m0 = np.zeros(nt * C, np.int64)
    sh = np.ones(nt * C, np.int64)
    if L.requant:
        m0[:N] = L.m0
        sh[:N] = L.shift
    lane = [(int(b) & 0xFFFFFFFF) | (int(m) << 32) | (int(s) << 64) for b, m, s in zip(bias, m0, sh)]
    pwords = []
    for t in range(nt):
        v = 0
        for j in range(C):
            v |= lane[t * C + j] << (j * PARAM_LANE_BITS)
        pwords.append(v)
    beats += pack_words(pwords, ecfg.p_word, wax)
    if a.mac == "tmac":
        return beats + _tmac_sections(ecfg, L, nt, kc, kp, blocks)
    # weights
    wp = np.zeros((kp, nt * C), np.int64)
    wp[:K, :N] = L.w
    wwords = []
    for t in range(nt):
        wwords += _lanes(wp[:, t * C:(t + 1) * C], a.w_width)
    beats += pack_words(wwords, ecfg.w_word, wax)
    # activations
    x = np.asarray(L.x, np.int64)
    for m0_, mb in blocks:
        if ecfg.dataflow == "os":
            blk = np.zeros((R, K), np.int64)
            blk[:mb] = x[m0_:m0_ + mb]
            words = _lanes(blk.T, a.a_width)
        else:
            blk = np.zeros((mb, kc * R), np.int64)
            blk[:, :K] = x[m0_:m0_ + mb]
            words = []
            for c in range(kc):
                words += _lanes(blk[:, c * R:(c + 1) * R], a.a_width)
        beats += pack_words(words, ecfg.a_word, wax)
    return beats


def tmac_budgets(ecfg: EngineConfig, L: Layer) -> tuple[int, int, str]:
    """``(k, k_x, encoding)`` of a tMAC job, defaults filled in (build maxima, HESE if supported)."""
    a = ecfg.array
    return (a.k_max if L.k is None else L.k, a.kx_max if L.k_x is None else L.k_x,
            a.encodings[-1] if L.encoding is None else L.encoding)


def budget_word(k: int, k_x: int, hese: bool) -> int:
    """The tMAC budget word (beat 1 of a tMAC packet, no range check)."""
    return (k & 0xFF) | ((k_x & 0xF) << 8) | (int(hese) << 12)


def _tmac_sections(ecfg: EngineConfig, L: Layer, nt: int, kc: int, kp: int, blocks) -> list[int]:
    """Weight (term slots) and activation (groups) sections of a tMAC job."""
    from .tmac import pack_slots, slot_bits, weight_slots

    a = ecfg.array
    R, C, g, S, wax = ecfg.rows, ecfg.cols, a.g, a.k_max, ecfg.axis_width
    k, k_x, enc = tmac_budgets(ecfg, L)
    M, K, N = L.dims
    G = -(-K // g)
    sl = pack_slots(a, weight_slots(a, np.asarray(L.w, np.int64), k, enc))     # (G, N, S)
    sp = np.zeros((kp, nt * C, S), np.int64)
    sp[:G, :N] = sl
    sb = slot_bits(a)
    beats = pack_words([w for t in range(nt) for w in _lanes(sp[:, t * C:(t + 1) * C].reshape(kp, C * S), sb)],
                       ecfg.w_word, wax)
    x = np.zeros((M, kc * R * g), np.int64)
    x[:, :K] = L.x
    xg = x.reshape(M, kc * R, g)
    for m0_, mb in blocks:
        if ecfg.dataflow == "os":
            blk = np.zeros((R, G, g), np.int64)
            blk[:mb] = xg[m0_:m0_ + mb, :G]
            words = _lanes(np.transpose(blk, (1, 0, 2)).reshape(G, R * g), a.a_width)
        else:
            words = []
            for c in range(kc):
                words += _lanes(xg[m0_:m0_ + mb, c * R:(c + 1) * R].reshape(mb, R * g), a.a_width)
        beats += pack_words(words, ecfg.a_word, wax)
    return beats


def layer_result(ecfg: EngineConfig, L: Layer) -> np.ndarray:
    """Golden ``(M, N)`` result of one job (int64), exactly :mod:`macforge.golden.requant` semantics (tMAC:
    on ``data_budget(X) @ group_budget(W)``, the ``tq`` mode of :mod:`macforge.golden.mlp`)."""
    x = np.asarray(L.x, np.int64)
    w = np.asarray(L.w, np.int64)
    if L.precision is not None or ecfg.array.mac == "bitserial":
        x = clip_precision(x, L.precision or ecfg.array.a_width)
    if ecfg.array.mac == "tmac":
        from .terms import data_budget, group_budget
        k, k_x, enc = tmac_budgets(ecfg, L)
        x = data_budget(x, k_x, enc)
        w = group_budget(w, ecfg.array.g, k, enc, axis=0)
    acc = x @ w + np.asarray(L.bias, np.int64)
    if not L.requant:
        return acc
    lo, hi = output_range(ecfg.array.a_width, L.relu)
    return requantize(acc, L.m0, L.shift, lo, hi)


def expected_rows(ecfg: EngineConfig, L: Layer) -> np.ndarray:
    """Every ``m_axis`` beat of a good job in order, as ``(beats, C)`` int64 lanes (padding included:
    padding rows and lanes are 0)."""
    M, K, N = L.dims
    R, C = ecfg.rows, ecfg.cols
    nt, kc, kp, blocks = geometry(ecfg, M, K, N)
    mp = blocks[-1][0] + (R if ecfg.dataflow == "os" else blocks[-1][1])
    xp = np.zeros((mp, K), np.int64)
    xp[:M] = L.x
    wp = np.zeros((K, nt * C), np.int64)
    wp[:, :N] = L.w
    bp = np.zeros(nt * C, np.int64)
    bp[:N] = L.bias
    if L.requant:
        m0p = np.zeros(nt * C, np.int64)
        m0p[:N] = L.m0
        sp = np.ones(nt * C, np.int64)
        sp[:N] = L.shift
    else:
        m0p = sp = None
    y = layer_result(ecfg, Layer(xp, wp, bp, m0p, sp, L.relu, L.requant, L.precision, L.k, L.k_x,
                                  L.encoding))
    # padding is zero: rows past M (OS blocks are always R rows) and lanes past N (the last tile)
    y[M:] = 0
    y[:, N:] = 0
    rows = []
    for m0_, mb in blocks:
        h = R if ecfg.dataflow == "os" else mb
        for t in range(nt):
            rows.append(y[m0_:m0_ + h, t * C:(t + 1) * C])
    return np.concatenate(rows)


def decode_rows(ecfg: EngineConfig, rows: np.ndarray, M: int, N: int) -> np.ndarray:
    """Inverse of the output order: ``(M, N)`` from the ``m_axis`` rows of a good job."""
    R, C = ecfg.rows, ecfg.cols
    nt = -(-N // C)
    B = ecfg.block_rows
    out = np.zeros((M, nt * C), np.int64)
    i = 0
    for m0 in range(0, M, B):
        mb = min(B, M - m0)
        h = R if ecfg.dataflow == "os" else mb
        for t in range(nt):
            out[m0:m0 + mb, t * C:(t + 1) * C] = rows[i:i + mb]
            i += h
    assert i == len(rows), f"{len(rows)} rows for M={M}, N={N}: expected {i}"
    return out[:, :N]


def section_beats(ecfg: EngineConfig, M: int, K: int, N: int) -> list[int]:
    """Beats per packet part: ``[header (1; tMAC 2: + budget word), parameters, weights, block 0, ...]``."""
    nt, kc, kp, blocks = geometry(ecfg, M, K, N)
    wax = ecfg.axis_width

    def nbeats(n, ww):
        return -(-n // (wax // ww)) if ww <= wax else n * -(-ww // wax)

    head = 2 if ecfg.array.mac == "tmac" else 1       # command word (+ tMAC budget word)
    out = [head, nbeats(nt, ecfg.p_word), nbeats(nt * kp, ecfg.w_word)]
    for _, mb in blocks:
        out.append(nbeats(kp if ecfg.dataflow == "os" else kc * mb, ecfg.a_word))
    return out


def rows_before_cut(ecfg: EngineConfig, M: int, K: int, N: int, cut: int) -> int:
    """Result beats a job truncated to its first ``cut`` beats still delivers (complete blocks)."""
    nt, kc, kp, blocks = geometry(ecfg, M, K, N)
    sb = section_beats(ecfg, M, K, N)
    end = sum(sb[:3])
    rows = 0
    for (_, mb), nb in zip(blocks, sb[3:]):
        end += nb
        if end > cut:
            break
        rows += nt * (ecfg.rows if ecfg.dataflow == "os" else mb)
    return rows


def beats_to_rows(beats, C: int) -> np.ndarray:
    """``m_axis`` beats (one integer of ``32 C`` bits each) -> ``(beats, C)`` signed int32 lanes."""
    n = 4 * C
    buf = b"".join(int(b).to_bytes(n, "little") for b in beats)
    return np.frombuffer(buf, dtype="<i4").reshape(-1, C).astype(np.int64)


# ----- capabilities ------------------------------------------------------------------------------------
MAC_CODES = {"parallel": 0, "bitserial": 1, "tmac": 2}
DATAFLOW_CODES = {"os": 0, "ws": 1}
CAPS_MAGIC = 0x4D46      # 'MF'


def capability_words(ecfg: EngineConfig) -> list[int]:
    """The 32-bit words the engine returns for a capabilities query (opcode ``0x43``), one per ``m_axis``
    beat in lane 0 (other lanes 0), ``tlast`` on the last:

    ====  ==========================================================================================
    word  content
    ====  ==========================================================================================
    0     ``[31:16]`` magic ``0x4D46`` ('MF'), ``[15:0]`` packet format version
    1     ``max_m`` (largest M of a job)
    2     ``max_k``
    3     ``max_n``
    4     ``block_rows`` (activation block height B: R for OS, array.max_m for WS)
    5     ``[7:0]`` R, ``[15:8]`` C, ``[23:16]`` a_width, ``[31:24]`` w_width
    6     ``[3:0]`` MAC (0 parallel, 1 bit-serial, 2 tMAC), ``[7:4]`` dataflow (0 OS, 1 WS),
          ``[15:8]`` acc_width, ``[31:16]`` s_axis width in bits
    7     ``[7:0]`` largest shift S (62), ``[15:8]`` largest precision (a_width; bit-serial), ``[31:16]`` 0
    ====  ==========================================================================================
    """
    a = ecfg.array
    return [
        (CAPS_MAGIC << 16) | PACKET_FORMAT_VERSION,
        ecfg.max_m, ecfg.max_k, ecfg.max_n, ecfg.block_rows,
        a.rows | (a.cols << 8) | (a.a_width << 16) | (a.w_width << 24),
        MAC_CODES.get(a.mac, 15) | (DATAFLOW_CODES[a.dataflow] << 4) | (a.acc_width << 8)
        | (ecfg.axis_width << 16),
        MAX_SHIFT | ((a.a_width if a.mac == "bitserial" else 0) << 8),
    ]


def caps_command() -> int:
    """The capabilities query: a one-beat packet (``tlast`` on it)."""
    return OPCODE_CAPS


def packet_format(ecfg: EngineConfig) -> dict:
    """Machine-readable summary of the packet format (for the manifest; the prose is docs/engine.md).

    tMAC engines: the budget word (beat 1), the precision field's rule, and sections in groups of ``g``
    (weight words of ``C x k_max`` term slots, activation words of ``R x g`` activations)."""
    a = ecfg.array
    tmac = a.mac == "tmac"
    precision = ("must be 0 on a tMAC engine (else error 6)" if tmac
                 else "bit-serial p, 0 = a_width; ignored by other MACs")
    if tmac:
        from .tmac import slot_bits
        sections = ["parameters: ceil(N/C) words of C x 96 bits (bias int32, M0 uint32 < 2^31, S 1..62)",
                    f"weights: per tile t, per group j < Gp (G = ceil(K/g), g = {a.g}; Gp = G OS, "
                    f"ceil(G/R) R WS): one word of C x k_max = {a.cols} x {a.k_max} term slots of "
                    f"{slot_bits(a)} bits, slot s of column c at bits [(c k_max + s) b, +b), the group "
                    "budget k's terms of W[jg:jg+g, tC+c] (slots >= k zero)",
                    f"activations: per block of B rows, words of R x g = {a.rows} x {a.g} lanes of a_width "
                    "bits, lane r g + e = element e of group j of row r (K zero-padded to a multiple of g); "
                    "OS: G words, word j = X[m0+r, jg+e]; WS: per chunk c, per row m: lane r g + e = "
                    "X[m, (cR+r)g+e]; raw activations (the engine term-encodes them, top-k_x)"]
    else:
        sections = ["parameters: ceil(N/C) words of C x 96 bits (bias int32, M0 uint32 < 2^31, S 1..62)",
                    "weights: per tile t, per k < Kp: W[k, tC:tC+C], C lanes of w_width bits",
                    "activations: per block of B rows; OS: K words X[m0:m0+R, k]; WS: per chunk c, per "
                    "row m: X[m, cR:cR+R]"]
    out = {
        "version": PACKET_FORMAT_VERSION,
        "doc": "docs/engine.md",
        "command_word": {
            "opcode": {"bits": [0, 7], "values": {"layer": OPCODE, "capabilities": OPCODE_CAPS}},
            "relu": {"bits": [8, 8]}, "requant": {"bits": [9, 9]},
            "reserved": {"bits": [10, 11], "rule": "send 0; ignored"},
            "precision": {"bits": [12, 15], "rule": precision},
            "M": {"bits": [16, 31]}, "K": {"bits": [32, 47]}, "N": {"bits": [48, 63]},
            "above_63": "ignored (send 0)",
        },
    }
    if tmac:
        out["budget_word"] = {
            "beat": 1,
            "k": {"bits": [0, 7], "range": [1, a.k_max], "rule": f"group budget; 0 = k_max ({a.k_max}); "
                                                                   "larger: error 6"},
            "k_x": {"bits": [8, 11], "range": [1, a.kx_max], "rule": f"data budget; 0 = kx_max ({a.kx_max}); "
                                                                      "larger: error 6"},
            "hese": {"bits": [12, 12], "rule": "activation encoding, 1 = HESE, 0 = binary; one the build "
                                               f"lacks (build: {', '.join(a.encodings)}): error 6"},
            "above_12": "ignored (send 0)",
            "tlast": "tlast on the budget word is error 4",
        }
        out["header_beats"] = 2
    out["sections"] = sections
    out.update({
        "word_packing": "a word of ww <= axis_width bits: floor(axis_width/ww) words per beat, word i at "
                        "bits [i ww, (i+1) ww); wider words span ceil(ww/axis_width) beats, LSBs first; "
                        "every section starts on a fresh beat; unused bits 0",
        "lane_packing": "lane i of a word at bits [i b, (i+1) b), two's complement, b = lane width",
        "output": "one m_axis beat per result row, C int32 lanes (lane j at bits [32j, 32j+32)), tlast on "
                  "the job's final row; padding rows and lanes are 0",
        "errors": {str(k): v for k, v in ERRORS.items()},
        "capabilities": {"opcode": OPCODE_CAPS, "words": len(capability_words(ecfg)),
                         "values": capability_words(ecfg)},
    })
    return out
