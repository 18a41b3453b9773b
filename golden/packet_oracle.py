"""Golden answer of the layer engine to *any* ``s_axis`` packet (the fuzzer's oracle).

:func:`predict` reads a packet (a list of beats, ``tlast`` on the final one) the way ``docs/engine.md``
describes -- command word and error precedence, sections of words, the word-by-word loading checks (a bad
parameter word, truncation, a packet that is too long) -- and returns what ``m_axis`` must carry: the result
rows (bit for bit :func:`macforge.golden.engine.expected_rows` of the operands *decoded from the packet*) and,
for a failed packet, the error code of the one closing error beat. Written from the documentation, not from
the RTL. Dense engines with the parallel or bit-serial MAC (not the tMAC or packed arrays).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine import (OPCODE, OPCODE_CAPS, Layer, capability_words, expected_rows, geometry,
                     section_beats)
from .engine_config import EngineConfig, PARAM_LANE_BITS
from .requant import MAX_SHIFT

M64 = (1 << 64) - 1


@dataclass
class Answer:
    """``rows``: result beats before the error beat, ``(n, C)`` int64 (int32 lane values); ``code``: the
    error beat's code (``None``: no error beat); ``codes``: other codes that are also correct (a truncated
    parameter word wider than the bus: its missing bits are undefined, so 4 or 7); ``caps``: a capabilities
    answer (rows hold the words in lane 0); ``dims``: ``(M, K, N, precision)`` of a well-formed header."""

    rows: np.ndarray
    code: int | None = None
    codes: tuple = ()
    caps: bool = False
    dims: tuple | None = None
    kind: str = "job"
    meta: dict = field(default_factory=dict)

    def accepts(self, code) -> bool:
        return code == self.code or code in self.codes


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _lanes(word: int, bits: int, n: int) -> list[int]:
    return [_signed(word >> (i * bits), bits) for i in range(n)]


def wrap32(a: np.ndarray) -> np.ndarray:
    return ((np.asarray(a, np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)


def header_error(ecfg: EngineConfig, cmd: int, n_beats: int) -> int | None:
    """Header checks in the documented order (docs/engine.md, "Error precedence")."""
    a = ecfg.array
    op, p = cmd & 0xFF, (cmd >> 12) & 0xF
    M, K, N = (cmd >> 16) & 0xFFFF, (cmd >> 32) & 0xFFFF, (cmd >> 48) & 0xFFFF
    if op == OPCODE_CAPS:
        return 5 if n_beats > 1 else None
    if op != OPCODE:
        return 1
    if 0 in (M, K, N):
        return 2
    if M > ecfg.max_m or K > ecfg.max_k or N > ecfg.max_n:
        return 3
    if a.mac == "bitserial" and p > a.a_width:
        return 6
    if n_beats == 1:
        return 4
    return None


def _words(ecfg: EngineConfig, ww: int, count: int, start: int, n: int, beats: list[int]):
    """The words of a section starting at beat ``start``: ``(value, last_beat, o_end, complete)`` for each
    word whose first beat is in the packet."""
    wax = ecfg.axis_width
    out = []
    if ww <= wax:
        per = wax // ww
        for i in range(count):
            b = start + i // per
            if b >= n:
                break
            out.append(((beats[b] >> ((i % per) * ww)) & ((1 << ww) - 1), b,
                        (i % per == per - 1) or i == count - 1, True))
    else:
        nb = -(-ww // wax)
        for i in range(count):
            b0 = start + i * nb
            if b0 >= n:
                break
            last = min(b0 + nb - 1, n - 1)
            v = 0
            for j, b in enumerate(range(b0, last + 1)):
                v |= (beats[b] & ((1 << wax) - 1)) << (j * wax)
            out.append((v & ((1 << ww) - 1), last, True, last == b0 + nb - 1))
    return out


def predict(ecfg: EngineConfig, beats: list[int]) -> Answer:
    a = ecfg.array
    if a.mac == "tmac" or a.alpha is not None:
        raise ValueError("the packet oracle covers dense parallel / bit-serial engines only")
    C = ecfg.cols
    n = len(beats)
    cmd = beats[0] & M64
    err = header_error(ecfg, cmd, n)
    empty = np.zeros((0, C), np.int64)
    if (cmd & 0xFF) == OPCODE_CAPS and err is None:
        w = capability_words(ecfg)
        rows = np.zeros((len(w), C), np.int64)
        rows[:, 0] = [_signed(x, 32) for x in w]
        return Answer(rows, None, caps=True, kind="caps")
    if err is not None:
        return Answer(empty, err, kind=f"header{err}")
    relu, rq = bool((cmd >> 8) & 1), bool((cmd >> 9) & 1)
    p = (cmd >> 12) & 0xF
    M, K, N = (cmd >> 16) & 0xFFFF, (cmd >> 32) & 0xFFFF, (cmd >> 48) & 0xFFFF
    prec = (p or a.a_width) if a.mac == "bitserial" else None
    R = ecfg.rows
    nt, kc, kp, blocks = geometry(ecfg, M, K, N)
    sb = section_beats(ecfg, M, K, N)
    sections = [("P", ecfg.p_word, nt), ("W", ecfg.w_word, nt * kp)]
    for b, (_, mb) in enumerate(blocks):
        sections.append((f"A{b}", ecfg.a_word, K if ecfg.dataflow == "os" else kc * mb))
    # decoded operands (zero where the packet ended)
    bias = np.zeros(nt * C, np.int64)
    m0 = np.zeros(nt * C, np.int64)
    sh = np.ones(nt * C, np.int64)
    wp = np.zeros((kp, nt * C), np.int64)
    xp = np.zeros((max(M, 1) + R, kc * R if ecfg.dataflow == "ws" else K), np.int64)
    code, codes = None, ()
    done_blocks = 0
    start = sb[0]
    stop = False
    for si, (name, ww, count) in enumerate(sections):
        words = _words(ecfg, ww, count, start, n, beats)
        final_sec = si == len(sections) - 1
        for i, (v, lastb, o_end, complete) in enumerate(words):
            final = final_sec and i == count - 1
            tl = lastb == n - 1
            if name == "P":
                bad = False
                for j in range(C):
                    lane = v >> (j * PARAM_LANE_BITS)
                    ch = i * C + j
                    bias[ch] = _signed(lane, 32)
                    m0[ch] = (lane >> 32) & 0xFFFFFFFF
                    sh[ch] = (lane >> 64) & 0xFFFFFFFF
                    if rq and ch < N and (m0[ch] >= 1 << 31 or not 1 <= sh[ch] <= MAX_SHIFT):
                        bad = True
                if not complete and rq:
                    # a wide parameter word cut short: its missing lanes are undefined (error 4 or 7)
                    code, codes, stop = 4, (7,), True
                    break
                if bad:
                    code, stop = 7, True
                    break
            elif name == "W":
                t, k = divmod(i, kp)
                wp[k, t * C:(t + 1) * C] = _lanes(v, a.w_width, C)
            else:
                b = int(name[1:])
                m0_, mb = blocks[b]
                lanes = _lanes(v, a.a_width, R)
                if ecfg.dataflow == "os":
                    xp[m0_:m0_ + R, i] = lanes
                else:
                    c, mm = divmod(i, mb)
                    xp[m0_ + mm, c * R:(c + 1) * R] = lanes
                if i == count - 1 and complete:
                    done_blocks = b + 1
            if tl and o_end and not final:
                code, stop = 4, True
                break
            if final:
                if not tl:
                    code = 5
                stop = True
                break
        if stop:
            break
        start += sb[si + 1]
    if code == 7 or (code in (4,) and 7 in codes):
        return Answer(empty, code, codes, dims=(M, K, N, prec), kind="badparam" if code == 7 else "trunc")
    L = Layer(xp[:M, :K], wp[:K, :N], bias[:N], m0[:N] if rq else None, sh[:N] if rq else None,
              relu=relu, requant=rq, precision=prec if a.mac == "bitserial" and p else None)
    rows = wrap32(expected_rows(ecfg, L))
    if code == 4:
        per_block = [nt * (R if ecfg.dataflow == "os" else mb) for _, mb in blocks]
        rows = rows[:sum(per_block[:done_blocks])]
        return Answer(rows, 4, dims=(M, K, N, prec), kind="trunc")
    return Answer(rows, code, dims=(M, K, N, prec), kind="long" if code == 5 else "job")
