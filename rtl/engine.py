"""Layer engine: the systolic array plus buffers, a tiling controller, bias/requantization and AXI4-Stream.

Packet format (command word, sections, word packing, output rows, error beat): :mod:`macforge.golden.engine`.
Configuration and buffer sizes: :mod:`macforge.golden.engine_config`.

Structure::

    s_axis -> parser -> unpackers (params / weights / activations) -> P, W, A[2] buffers
    A[bank], W --(issue generators: 2-cycle read, head register + queue)--> array --> post (bias, requant)
    --> output FIFO --> two output slots --> m_axis

Loading (parser, one ``s_axis`` beat per cycle at most). State ``IDLE`` takes the command word (only when
the previous job is completely finished), then ``PARAM``, ``WGT``, ``ACT`` consume *words* from three
:class:`Unpacker` s (one per word width; a section's final word flushes the rest of its beat and does not
let the unpacker take the next beat, so the next section starts on a fresh beat in its own unpacker,
costing one bubble cycle). Activation block ``b`` goes to bank ``b mod 2`` and may start only when block
``b - 2`` has been released by the issue side (``b < released + 2``): **double buffering** -- block
``b + 1`` loads while block ``b`` computes.

Issue. Block ``b`` is issued when it is completely loaded and its (registered) writes have landed
(``a_rdy != 0``: one cycle after it counts as loaded for the double-buffer check). OS: for each output tile
``t``, ``K`` beats ``(A[bank][k], W[t*K + k])`` with ``first``/``last`` on ``k = 0``/``K-1``. WS: a
weight generator streams ``W[t*Kp + c*R + r]`` rows (it may run ahead: the array's weight double buffer
gates it) and an activation generator streams, per tile and K-chunk ``c``, the block's ``mb`` words
``A[bank][c*mb + m]`` (``first`` on ``c = 0``, ``last`` on the final chunk, ``tlast`` on ``m = mb-1``).
The W and A buffers are :class:`macforge.rtl.bram.RegisteredReadMemory` s (writes registered, read data
two cycles after the address: the block RAM's output register). Each generator reads every cycle the
queue's registered ``room`` flag allows; the word and the flags registered with its address reach the
*input stage* two cycles later, then the head register of :func:`macforge.rtl.skid.issue_queue` (or the
queue of ``EngineConfig.issue_depth`` registers behind it while the array stalls), which the array sees.
So the generator's advance is a flip-flop, the block RAM's data leave it from its output register, the
array decides on the head's flip-flops (its combinational ``ready`` reaches only the head's load enable
and the queue pointers), and the array sees one beat per cycle from three cycles after the read. The bank
is released when its final word has been read.

Post-processing (C lanes in parallel, one row per cycle): ``v = y + bias`` (33 bits), then for requant
jobs ``clamp((v * M0 + 2^(S-1)) >> S, lo, hi)`` with a 66-bit product and an arithmetic shift, exactly
:func:`macforge.golden.requant.requantize` (``lo = 0`` with ReLU, else ``-2^(a-1)``), else ``v`` as
int32. With the pipelining option 11 registered stages (``EngineConfig.post_pipe``; each a register
after at most one adder, one mux level or one reduction; the products in ``RegisteredProduct`` s, i.e.
ECP5 ``MULT18X18D`` with input and output registers on the ``ecp5`` target), else combinational. The
result row is written into the output FIFO (``O_DEPTH`` rows, LUT RAM), which also takes the capability
words and the error beat; its head moves into the next free one of two output slots, which ``m_axis``
shows in turn (ping-pong): ``m_axis_tready`` reaches only the slots' valid flags and read pointer, and
every wide register loads on flip-flop conditions. A row reaches ``m_axis`` ``Q + 2`` cycles after it
leaves the array.

Stalls (output credits). The array and the post-processing pipeline never stall (``o.ready = 1``: no
clock enable fans out from ``m_axis_tready``). Instead an activation beat that makes output rows
(``last``: ``R`` rows OS, one row WS) is offered to the array only while the registered flag ``cr_ok``
is set. ``credit`` counts the free places of FIFO and slots minus every row already issued (``-rows``
when such a beat is taken, ``+1`` when ``m_axis`` takes a result row), both events registered first, so
the counter runs one cycle late and ``cr_ok`` asks for ``2 rows`` (room for the one beat that may be
taken before its decrement lands). ``T_AUX = n_caps + 3`` places are kept for beats that are not result
rows (capability words are written only while the FIFO holds at most ``n_caps`` beats, the error beat
only into an empty output side). ``O_DEPTH`` (a power of two >= ``2 L_max + 4R + C + P + Q + 8 + rows +
1 + T_AUX``) exceeds the rows that can be in flight without backpressure, so then ``cr_ok`` stays 1 and
nothing waits: the cycle counts are those of the model. Under backpressure the issue waits once the FIFO
is full; nothing is lost, duplicated or reordered.

Timing of the control (for Fmax): every loop of the parser, the issue generators and the output side is
a down-counter with a registered ``last`` flag (``Loop``, ``Rows``: the next flag is a constant compare
of the counter, computed when the loop advances), blocks in flight are small occupancy counters
(``a_occ = loaded - released``, ``h_occ``, ``o_pend``), the job constants derived from M, K, N are
registered in cycle 1 of a job (first used in cycle 2), the parameter check's field tests are
registered in their unpacker as the beats arrive (``Unpacker.checks``) and the lane masks are
registered; no decision compares wide counters. The parser's state is one-hot flip-flops (``in_st``),
and the sections' ends are flip-flops kept with the loop counters (``w_end_r``, ``a_end_r``, ``a_fin_r``).
The unpackers' wide registers load on their registered state, not on ``s_axis_tvalid``; the buffer
writes (and the WS K-padding flag) are registered before the block RAMs; the parameter check does not
hold back the parameter unpacker (after a bad word, the rest of the packet is discarded either way).

Errors (code in ``status[7:4]``, ``status[1]`` sticky until the next command word, ``status[0]`` busy):
bad opcode (1), zero (2) or oversize (3) dimension, bad precision (6): the rest of the packet is
discarded up to ``tlast``. ``tlast`` before the final word (4): loading stops. No ``tlast`` on the final
beat (5): beats are discarded up to ``tlast`` (all data is in, the job still computes). In every case the
blocks that were completely loaded are computed and delivered, then one error beat (``tuser = 1``,
``tlast = 1``, ``tdata`` = code) closes the output packet and the engine returns to ``IDLE``: the next
packet is a fresh job, no reset needed.

tMAC engines (``array.mac = "tmac"``): state ``BUDGET`` takes the budget word (beat 1) after the command
word and latches ``k``, ``k_x`` and the encoding for the array (a bad budget or a non-zero precision
field is error 6); the tiling counts the reduction in groups (``jK = ceil(K / g)``), a weight word holds
the ``C x k_max`` term slots of one group row and an activation word ``R x g`` activations; everything
else (tiling, bias, requantization, ReLU, raw results, errors, recovery) is unchanged.

Timing: :func:`macforge.golden.engine_cycles.job_cycles` is the exact cycle model (no idle input cycles, no
backpressure), and ``docs/engine.md`` has the diagram.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from amaranth import Array, Cat, Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.engine import OPCODE, OPCODE_CAPS, capability_words
from macforge.golden.requant import MAX_SHIFT
from macforge.golden.engine_config import EngineConfig, OUT_LANE_BITS
from .bram import RegisteredReadMemory
from .dsp import ECP5_MUL_WIDTH, RegisteredProduct
from .os_array import OsArray
from .skid import issue_queue
from .ws_array import WsArray


class Unpacker(Elaboratable):
    """``wax``-bit beats -> ``ww``-bit words (see the packing rule in :mod:`macforge.golden.engine`).

    Word side: ``o_valid``/``o_ready``/``o_data``; ``o_end`` (this is the last word taken from its beat),
    ``o_tlast`` (the beat carried ``tlast``); ``flush`` (from the consumer, combinational: this word is the
    final one of its section: drop the rest of the beat and take no further beat), ``clear`` (synchronous:
    forget the beat or the partial word held, e.g. after an error). A beat accepted in
    cycle ``t`` offers its first word in ``t + 1``; no beat is taken after a ``tlast`` beat until it has
    been consumed. Words wider than the bus collect ``ceil(ww / wax)`` beats (a ``tlast`` beat ends the
    word early).

    ``checks`` (optional): the word check, as field tests ``(bit, offset, width, test)``: ``test`` is a
    function of the ``width``-bit field at ``offset`` of the word returning one bit, and ``o_check[bit]``
    is the OR of the tests of that bit. ``o_bad = (o_check & check_mask).any()`` (combinational, the mask
    of the word offered). ``o_check`` comes from flip-flops: each test is registered when its field is
    taken from the bus (words not wider than the bus: per word position of the beat; wider words: per
    field, when the beat holding the field is written into the word -- so a field must not straddle two
    beats, checked at construction). Same cycle as ``o_data``, no extra latency. In a word ended early
    by ``tlast`` the fields not yet received keep the tests of what the word held before.
    """

    def __init__(self, ww: int, wax: int, checks=(), check_width: int = 1):
        self.ww, self.wax = ww, wax
        self.checks = tuple(checks)
        for bit, off, width, _ in self.checks:
            if not (0 <= bit < check_width and 0 <= off and off + width <= ww):
                raise ValueError(f"check field (bit {bit}, offset {off}, width {width}) is outside the "
                                 f"{ww}-bit word or the {check_width} check bits")
            if ww > wax and off // wax != (off + width - 1) // wax:
                raise ValueError(f"check field at offset {off}, width {width} straddles two {wax}-bit beats")
        self.o_check = Signal(check_width)
        self.check_mask = Signal(check_width)   # the check bits that count (o_bad)
        self.o_bad = Signal()
        self.i_valid = Signal()
        self.i_ready = Signal()
        self.i_data = Signal(wax)
        self.i_last = Signal()
        self.o_valid = Signal()
        self.o_ready = Signal()
        self.o_data = Signal(ww)
        self.o_end = Signal()
        self.o_tlast = Signal()
        self.flush = Signal()
        self.clear = Signal()

    def elaborate(self, platform):
        m = Module()
        ww, wax = self.ww, self.wax
        take = Signal()
        m.d.comb += take.eq(self.o_valid & self.o_ready)
        i_take = Signal()
        m.d.comb += i_take.eq(self.i_valid & self.i_ready)
        tl = Signal()
        m.d.comb += self.o_tlast.eq(tl)
        if ww <= wax:
            per = wax // ww
            have = Signal()
            beat = Signal(wax)
            idx = Signal(range(per)) if per > 1 else Const(0, 1)   # no zero-width wires in the Verilog
            m.d.comb += [
                self.o_valid.eq(have),
                self.o_data.eq(beat.word_select(idx, ww) if per > 1 else beat[:ww]),
                self.o_end.eq((idx == per - 1) | self.flush),
                self.i_ready.eq(~have | (take & self.o_end & ~self.flush & ~tl)),
            ]
            # the beat register loads whenever the unpacker may take a beat, valid or not (nothing it
            # holds is still needed then): its clock enable is the registered state, not s_axis_tvalid
            with m.If(self.i_ready):
                m.d.sync += beat.eq(self.i_data)
            with m.If(i_take):
                m.d.sync += [have.eq(1), tl.eq(self.i_last)]
                if per > 1:
                    m.d.sync += idx.eq(0)
            with m.Elif(take):
                with m.If(self.o_end):
                    m.d.sync += have.eq(0)
                if per > 1:
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
            with m.If(self.clear):
                m.d.sync += [have.eq(0), tl.eq(0)]
            if self.checks:                 # one registered check per word position of the beat
                cw = len(self.o_check)
                chk = Signal(cw * per)
                with m.If(self.i_ready):
                    m.d.sync += chk.eq(Cat(*[self._check(self.i_data[i * ww:(i + 1) * ww]) for i in range(per)]))
                m.d.comb += self.o_check.eq(chk.word_select(idx, cw) if per > 1 else chk)
                m.d.comb += self.o_bad.eq((self.o_check & self.check_mask).any())
        else:
            n = -(-ww // wax)
            full = Signal()
            word = Signal(n * wax)
            j = Signal(range(n))
            m.d.comb += [
                self.o_valid.eq(full),
                self.o_data.eq(word[:ww]),
                self.o_end.eq(1),
                self.i_ready.eq(~full | (take & ~self.flush & ~tl)),
            ]
            # position j of the word (the next to fill) and the check load whenever no complete word is
            # held (``~full | take``), valid beat or not: a position not yet filled, or a word being
            # consumed, may be overwritten, so the wide clock enables are registered state only
            can = Signal()
            m.d.comb += can.eq(~full | take)
            if self.checks:                 # each field's test, registered with the beat that carries it
                parts = [[] for _ in range(len(self.o_check))]
                for bit, off, width, test in self.checks:
                    seg = off // wax
                    part = Signal(name=f"chk{bit}_{off}")
                    with m.If(can & (j == seg)):
                        m.d.sync += part.eq(test(self.i_data[off - seg * wax:off - seg * wax + width]))
                    parts[bit].append(part)
                m.d.comb += self.o_check.eq(Cat(*[Cat(*p).any() if p else Const(0) for p in parts]))
                m.d.comb += self.o_bad.eq((self.o_check & self.check_mask).any())
            with m.If(can):
                m.d.sync += word.word_select(j, wax).eq(self.i_data)
            with m.If(i_take):
                with m.If((j == n - 1) | self.i_last):
                    m.d.sync += [full.eq(1), j.eq(0), tl.eq(self.i_last)]
                with m.Else():
                    m.d.sync += [j.eq(j + 1), full.eq(0)]
            with m.Elif(take):
                m.d.sync += full.eq(0)
            with m.If(self.clear):
                m.d.sync += [full.eq(0), j.eq(0), tl.eq(0)]
        return m

    def _check(self, word):
        """``o_check`` of a whole word (the OR of its field tests per check bit)."""
        parts = [[] for _ in range(len(self.o_check))]
        for bit, off, width, test in self.checks:
            parts[bit].append(test(word[off:off + width]))
        return Cat(*[Cat(*p).any() if p else Const(0) for p in parts])


def _lane_layout():
    return data.StructLayout({"bias": signed(32), "m0": unsigned(32), "shift": unsigned(32)})


class Engine(wiring.Component):
    """The layer engine (ports ``s_axis_*``, ``m_axis_*``, ``status``; clock ``clk``, reset ``rst``)."""

    def __init__(self, ecfg: EngineConfig):
        self.ecfg = ecfg
        super().__init__({
            "s_axis_tdata": In(ecfg.axis_width),
            "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(ecfg.out_width),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
            "m_axis_tuser": Out(1),
            "status": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        e = self.ecfg
        a = e.array
        R, C = a.rows, a.cols
        OS = a.dataflow == "os"
        B = e.block_rows
        DW = 16

        arr = m.submodules.array = (OsArray(a) if OS else WsArray(a))

        # ---------------- job registers (latched from the command word)
        jM, jK, jN = Signal(DW), Signal(DW), Signal(DW)
        relu, requant = Signal(), Signal()
        prec = Signal(range(a.a_width + 1))
        err = Signal()
        code = Signal(4)
        if a.mac == "bitserial":
            m.d.comb += arr.precision.eq(prec)
        TMAC = a.mac == "tmac"
        if TMAC:    # run-time budgets of the job (budget word, beat 1)
            j_k = Signal(range(a.k_max + 1), init=a.k_max)
            j_kx = Signal(range(a.kx_max + 1), init=a.kx_max)
            j_hese = Signal()
            m.d.comb += [arr.k.eq(j_k), arr.k_x.eq(j_kx)]
            if len(a.encodings) == 2:
                m.d.comb += arr.hese.eq(j_hese)

        # ---------------- buffers
        pmem = m.submodules.pmem = memory.Memory(shape=data.ArrayLayout(_lane_layout(), C),
                                                 depth=max(2, e.nt_max), init=[])
        # weight and activation buffers: read data two cycles after the address (block RAM + output
        # register, :class:`macforge.rtl.bram.RegisteredReadMemory`), read port always enabled
        # (writes registered first, WS weights by the parser itself, see WGT), so the parser's logic never
        # routes to the block RAMs directly; a block therefore becomes readable one cycle after it
        # counts as loaded for the double-buffer check (``a_rdy`` / ``h_occ`` below)
        wmem = m.submodules.wmem = RegisteredReadMemory(e.w_word, max(2, e.w_depth), name="wmem", write_reg=OS)
        amem = m.submodules.amem = RegisteredReadMemory(e.a_word, 2 * e.a_bank_depth, name="amem", write_reg=True)
        p_wr = pmem.write_port()
        w_wr = SimpleNamespace(en=wmem.w_en, addr=wmem.w_addr, data=wmem.w_data)
        a_wr = SimpleNamespace(en=amem.w_en, addr=amem.w_addr, data=amem.w_data)
        p_rd = pmem.read_port(domain="comb")
        w_rd = SimpleNamespace(addr=wmem.r_addr, data=wmem.r_data)
        a_rd = SimpleNamespace(addr=amem.r_addr, data=amem.r_data)

        # ---------------- unpackers
        # per lane j: its requantization parameters are out of range (S = 0, S > MAX_SHIFT, M0 >= 2^31),
        # as field tests of the parameter word (lane j at bit 96 j: bias, M0, S, 32 bits each)
        lay = _lane_layout()
        lanes_bad = []
        for j in range(C):
            base = j * lay.size
            s_off, m_off = base + lay["shift"].offset, base + lay["m0"].offset
            lanes_bad += [(j, s_off, 32, lambda x: (x == 0) | (x > MAX_SHIFT)), (j, m_off + 31, 1, lambda x: x[0])]

        up_p = m.submodules.up_p = Unpacker(e.p_word, e.axis_width, checks=lanes_bad, check_width=C)
        up_w = m.submodules.up_w = Unpacker(e.w_word, e.axis_width)
        up_a = m.submodules.up_a = Unpacker(e.a_word, e.axis_width)
        for u in (up_p, up_w, up_a):
            m.d.comb += [u.i_data.eq(self.s_axis_tdata), u.i_last.eq(self.s_axis_tlast)]

        job_done = Signal()         # compute side: everything (incl. error beat) delivered
        start = Signal()            # command word accepted (cycle 0 of a job): reset the compute side
        setup = Signal()            # cycle 1 of a job: the loop counters load from jM, jK, jN
        m.d.sync += setup.eq(start)
        # blocks in flight, as occupancy counters (no wide compares): a_occ = loaded - released
        # (the activation banks in use, 0..2), h_occ = loaded - blocks the weight generator finished
        a_occ = Signal(2)
        a_rdy = Signal(2)           # the same, counting a block from the cycle after blk_loaded (readable)
        h_occ = Signal(3)
        blk_loaded = Signal()       # the final word of an activation block is written (this cycle)
        g_rel = Signal()            # the activation generator reads a block's final word (releases its bank)
        h_rel = Signal()            # the weight generator issues a block's final weight row

        # ---------------- job constants: registered functions of M, K, N, computed from the command word
        # when it is accepted (cycle 0), so the loop loads of cycle 1 (``c_*``) and the reloads later
        # (``j_*``, the same registers) read flip-flops
        KS = 1 if OS else R         # reduction steps per iteration of the K loop (OS: k, WS: a chunk)

        def gt_c(x, k):
            """``x > k`` for a constant ``k``: the bits above ``k``'s width as a reduction, a compare of
            the few low bits (no carry chain along the whole counter)."""
            b = max(1, k.bit_length())
            if k >= (1 << min(len(x), b)) - 1:          # the low bits alone can never exceed k
                return x[b:].any() if len(x) > b else Const(0)
            if len(x) <= b:
                return x > k
            return x[b:].any() | (x[:b] > k)

        def le_c(x, k):
            return ~gt_c(x, k)

        def mb_of(total):
            """``(min(total, B) - 1, min(total, B) == 1)`` (rows of a block, minus one, and its == 0 flag)."""
            return (Mux(gt_c(total, B), B - 1, total - 1)[:max(1, (B - 1).bit_length())],
                    Mux(gt_c(total, B), Const(int(B == 1)), total == 1))

        def thermo(total, off=0):
            """Lane mask of a tile: lane ``j`` is below ``total - off`` (``off + j < total``)."""
            return Cat(*[gt_c(total, off + j) for j in range(C)])

        j_tl0, j_cl0, j_bl0, j_mb1z = Signal(), Signal(), Signal(), Signal()
        j_mask0 = Signal(C)
        j_mb1 = Signal(range(max(B, 2)))

        def job_constants(hM, hK, hN):
            mb1, mb1z = mb_of(hM)
            return [j_tl0.eq(le_c(hN, C)), j_cl0.eq(le_c(hK, KS)), j_bl0.eq(le_c(hM, B)), j_mask0.eq(thermo(hN)),
                    j_mb1.eq(mb1), j_mb1z.eq(mb1z)]
        c_tl0, c_cl0, c_bl0, c_mask0, c_mb1, c_mb1z = j_tl0, j_cl0, j_bl0, j_mask0, j_mb1, j_mb1z

        class Loop:
            """A loop over ``total`` in steps of ``step`` as two registers: ``rem`` (what is left from the
            current iteration on) and ``last`` (``rem <= step``). ``advance`` computes the next flag with a
            constant compare (``rem <= 2 step``), so every loop decision is a flip-flop."""

            def __init__(self, name, step):
                self.step = step
                self.rem = Signal(DW + 1, name=f"{name}_rem")
                self.last = Signal(name=f"{name}_last")

            def load(self, total, last):
                return [self.rem.eq(total), self.last.eq(last)]

            def advance(self):
                return [self.rem.eq(self.rem - self.step), self.last.eq(le_c(self.rem, 2 * self.step))]

            def next_mb(self):
                """Block loops: ``mb_of`` of the next block (from ``rem`` of the current one)."""
                big = gt_c(self.rem, 2 * B)
                return (Mux(big, B - 1, self.rem - (B + 1))[:max(1, (B - 1).bit_length())],
                        Mux(big, Const(int(B == 1)), self.rem == B + 1))

        class Rows:
            """Rows of a chunk / tile counted down: ``rd`` (rows after this one), ``rl`` (``rd == 0``)."""

            def __init__(self, name):
                self.rd = Signal(range(max(R, B, 2)), name=f"{name}_rd")
                self.rl = Signal(name=f"{name}_rl")

            def load(self, n1, z):
                return [self.rd.eq(n1), self.rl.eq(z)]

            def dec(self):
                return [self.rd.eq(self.rd - 1), self.rl.eq(self.rd == 1)]

        # ================= parser =================
        hdr = self.s_axis_tdata
        h_op, h_relu, h_rq, h_p = hdr[0:8], hdr[8], hdr[9], hdr[12:16]
        h_M, h_K, h_N = hdr[16:32], hdr[32:48], hdr[48:64]
        h_code = Signal(4)
        h_caps = Signal()           # capabilities query: a one-beat packet (else error 5, too long)
        m.d.comb += h_caps.eq(h_op == OPCODE_CAPS)
        with m.If(h_caps):
            with m.If(~self.s_axis_tlast):
                m.d.comb += h_code.eq(5)
        with m.Elif(h_op != OPCODE):
            m.d.comb += h_code.eq(1)
        with m.Elif((h_M == 0) | (h_K == 0) | (h_N == 0)):
            m.d.comb += h_code.eq(2)
        with m.Elif((h_M > e.max_m) | (h_K > e.max_k) | (h_N > e.max_n)):
            m.d.comb += h_code.eq(3)
        with m.Elif((h_p > a.a_width) if a.mac == "bitserial" else (h_p != 0) if a.mac == "tmac" else Const(0)):
            m.d.comb += h_code.eq(6)
        with m.Elif(self.s_axis_tlast):
            m.d.comb += h_code.eq(4)

        # load-side loops: tiles (N), K (OS: k; WS: chunks of R), blocks (M); rows (WS: r of a weight
        # chunk, m of an activation block); l_addr counts words of the section (activations: including
        # the bank's base address)
        ln, lk, lm = Loop("l_n", C), Loop("l_k", KS), Loop("l_m", B)
        l_mask = Signal(C)          # lanes < N of the current tile (parameter check)
        l_mask_nx = Signal(C)       # ... of the next tile
        lr = Rows("l")
        l_mb1, l_mb1z = Signal(range(max(B, 2))), Signal()   # WS: rows of the current block - 1, == 0
        l_bank = Signal()           # bank of the block being loaded
        D = e.a_bank_depth
        l_addr = Signal(range(max(e.w_depth, 2 * D, e.nt_max) + 1))
        with m.If(setup):           # the parameter section's tile loop
            m.d.sync += [*ln.load(jN, c_tl0), l_mask.eq(c_mask0), l_mask_nx.eq(thermo(jN, C))]

        # the parser's state: one-hot registered flags (``in_st``, exactly one set; ``goto`` moves to a
        # state at the next clock edge), so every enable decodes one flip-flop, not a state register
        p_states = ["IDLE"] + (["BUDGET"] if TMAC else []) + ["PARAM", "WGT", "ACT", "CAPS", "DRAIN", "WAIT"]
        in_st = {n: Signal(init=int(n == "IDLE"), name=f"in_{n.lower()}") for n in p_states}

        def goto(state):
            m.d.sync += [f.eq(int(n == state)) for n, f in in_st.items()]

        # the sections' ends (flushing the unpacker's beat), outside the state decode like the feeds:
        # an unpacker holds a word only inside its section. WGT: the last row of a tile's K group, and
        # of the last tile; ACT: a block's final word, and the job's.
        # ACT: ``a_end_r`` is ``lk.last`` (OS) / ``lr.rl & lk.last`` (WS) kept as a flip-flop, set with every
        # update of those two in ACT and on entering it (the activation unpacker's flush is then a register)
        # WGT likewise: ``w_end_r`` is the section's end ``grp_last & ln.last`` as a flip-flop
        w_grp_last, w_sec_last, w_end_r = Signal(), Signal(), Signal(name="w_end_r")
        a_end_r, a_blk_end, a_final = Signal(name="a_end_r"), Signal(), Signal()
        a_fin_r = Signal(name="a_fin_r")        # a_end_r & lm.last, the same way

        def a_end(v, lm_last):
            """``a_end_r`` and ``a_fin_r`` after an update (``lm_last``: ``lm.last`` after it)."""
            return [a_end_r.eq(v), a_fin_r.eq(v & lm_last)]
        m.d.comb += [w_grp_last.eq(lk.last if OS else lr.rl & lk.last), w_sec_last.eq(w_end_r),
                     a_blk_end.eq(a_end_r), a_final.eq(a_fin_r),
                     up_p.flush.eq(ln.last), up_w.flush.eq(w_sec_last), up_a.flush.eq(a_end_r)]

        def consume(m, u, sec_last, final, on_word):
            """Common word handling: truncation / long-packet checks (the flush is set above)."""
            with m.If(u.o_valid & u.o_ready):
                on_word()
                with m.If(u.o_tlast & u.o_end & ~final):
                    m.d.sync += [err.eq(1), code.eq(4)]
                    goto("WAIT")
                with m.Elif(final):
                    with m.If(~u.o_tlast):
                        m.d.sync += [err.eq(1), code.eq(5)]
                        goto("DRAIN")
                    with m.Else():
                        goto("WAIT")

        # weight-buffer writes (parser, WGT): OS writes the word in the cycle it is taken; WS registers the
        # write first (address, word, enable and the K-padding flag; the padding zero is applied behind
        # that register), so the padding test ends in a flip-flop. The weights are read only once the
        # first activation block is loaded, several cycles after the final weight write.
        w_en_c, w_addr_c, w_pad_c = Signal(), Signal.like(w_wr.addr), Signal()
        if not OS:
            # K padding (WS): the last chunk's rows r >= K - (kc-1) R are stored as zero whatever the
            # packet carries, so padding lanes never reach a result (lk.rem = the chunk's valid rows
            # there, 1..R; this row is r = R-1-rd); it counts only with a weight write (WGT)
            kr = lk.rem[:R.bit_length() + 1]
            m.d.comb += w_pad_c.eq(lk.last & (lr.rd + kr < R))
        if OS:
            m.d.comb += [w_wr.en.eq(w_en_c), w_wr.addr.eq(w_addr_c), w_wr.data.eq(up_w.o_data)]
        else:
            w_en_r, w_addr_r, w_pad_r = Signal(), Signal.like(w_wr.addr), Signal()
            w_data_r = Signal(e.w_word)
            m.d.sync += [w_en_r.eq(w_en_c), w_addr_r.eq(w_addr_c), w_pad_r.eq(w_pad_c), w_data_r.eq(up_w.o_data)]
            m.d.comb += [w_wr.en.eq(w_en_r), w_wr.addr.eq(w_addr_r), w_wr.data.eq(Mux(w_pad_r, 0, w_data_r))]
        caps = capability_words(e)
        n_caps = len(caps)
        caps_i = Signal(range(n_caps))
        caps_room = Signal(init=1, name="caps_room")   # a capability word may be written (output side, below)
        # the unpackers are fed (and s_axis is ready) by the state flags; write addresses and data are
        # set in every state (only the enables, inside the states, count). The activation unpacker
        # offers words while a bank is free (loaded < released + 2); like the others it holds a word
        # only inside its section, so its o_ready needs no state decode either.
        room = Signal()
        m.d.comb += room.eq(~a_occ[1])
        tv = self.s_axis_tvalid
        m.d.comb += [up_p.i_valid.eq(tv & in_st["PARAM"]), up_w.i_valid.eq(tv & in_st["WGT"]),
                     up_a.i_valid.eq(tv & in_st["ACT"]), up_a.o_ready.eq(room),
                     self.s_axis_tready.eq(in_st["IDLE"] | in_st["DRAIN"] | (in_st["BUDGET"] if TMAC else 0)
                                           | (in_st["PARAM"] & up_p.i_ready) | (in_st["WGT"] & up_w.i_ready)
                                           | (in_st["ACT"] & up_a.i_ready)),
                     p_wr.addr.eq(l_addr), p_wr.data.eq(up_p.o_data), w_addr_c.eq(l_addr),
                     a_wr.addr.eq(l_addr), a_wr.data.eq(up_a.o_data)]
        # the parser: one block per state flag (exactly one flag is set)
        with m.If(in_st["IDLE"]):
            with m.If(self.s_axis_tvalid):
                # jK counts reduction steps: K, or ceil(K/g) groups for the tMAC
                k_steps = (h_K + (a.g - 1)) >> (a.g.bit_length() - 1) if TMAC else h_K
                m.d.sync += job_constants(h_M, k_steps, h_N)
                m.d.sync += [jM.eq(h_M), jK.eq(k_steps), jN.eq(h_N), relu.eq(h_relu), requant.eq(h_rq),
                             prec.eq(Mux(h_p == 0, a.a_width, h_p)), err.eq(h_code != 0),
                             code.eq(h_code), l_addr.eq(0), l_bank.eq(0)]
                with m.If((h_code == 0) & h_caps):
                    m.d.sync += caps_i.eq(0)
                    goto("CAPS")
                with m.Elif(h_code == 0):
                    goto("BUDGET" if TMAC else "PARAM")
                with m.Elif(self.s_axis_tlast):
                    goto("WAIT")
                with m.Else():
                    goto("DRAIN")
        if TMAC:
            with m.If(in_st["BUDGET"]):
                # tMAC budget word: [7:0] k, [11:8] k_x, [12] hese; 0 selects the build maximum
                b_k, b_kx, b_h = hdr[0:8], hdr[8:12], hdr[12]
                bad = (b_k > a.k_max) | ((b_kx > a.kx_max) if a.kx_max < 15 else Const(0))
                if a.encodings == ("binary",):
                    bad = bad | b_h
                elif a.encodings == ("hese",):
                    bad = bad | ~b_h
                with m.If(self.s_axis_tvalid):
                    m.d.sync += [j_k.eq(Mux(b_k == 0, a.k_max, b_k)),
                                 j_kx.eq(Mux(b_kx == 0, a.kx_max, b_kx)), j_hese.eq(b_h)]
                    with m.If(bad):
                        m.d.sync += [err.eq(1), code.eq(6)]
                        goto("DRAIN")
                        with m.If(self.s_axis_tlast):
                            goto("WAIT")
                    with m.Elif(self.s_axis_tlast):
                        m.d.sync += [err.eq(1), code.eq(4)]
                        goto("WAIT")
                    with m.Else():
                        goto("PARAM")
        with m.If(in_st["PARAM"]):

            def on_p():
                m.d.comb += p_wr.en.eq(1)
                with m.If(ln.last):
                    m.d.sync += [l_addr.eq(0), *ln.load(jN, j_tl0), *lk.load(jK, j_cl0), *lr.load(R - 1, R == 1),
                                 w_end_r.eq(j_tl0 & j_cl0 if OS or R == 1 else 0)]
                    goto("WGT")
                with m.Else():
                    m.d.sync += [l_addr.eq(l_addr + 1), *ln.advance(), l_mask.eq(l_mask_nx),
                                 l_mask_nx.eq(thermo(ln.rem, 2 * C))]
            # requantization parameters of the channels < N: S in 1..MAX_SHIFT, M0 < 2^31 (else error 7:
            # the rest of the packet is discarded, then the error beat); raw jobs ignore M0 and S.
            # The per-lane field tests are registered in the unpacker as their beats arrive
            # (up_p.o_check), the lanes < N of the word's tile are l_mask.
            bad_p = Signal()
            m.d.comb += bad_p.eq(requant & up_p.o_bad)
            # (the check does not flush the unpacker: it may take the next beat in the same cycle,
            # so the flush, ready and beat-load logic never wait for the check. That beat, and any
            # word left in the unpacker, belong to the discarded rest of the packet: the unpacker is
            # cleared in DRAIN / WAIT, and a tlast on that beat ends the packet here.)
            consume(m, up_p, ln.last, Const(0), on_p)
            with m.If(up_p.o_valid & up_p.o_ready & bad_p):
                m.d.sync += [err.eq(1), code.eq(7)]
                with m.If(up_p.o_tlast | (up_p.i_valid & up_p.i_ready & self.s_axis_tlast)):
                    goto("WAIT")
                with m.Else():
                    goto("DRAIN")
        with m.If(in_st["WGT"]):
            grp_last, sec_last = w_grp_last, w_sec_last

            def on_w():
                m.d.comb += w_en_c.eq(1)
                m.d.sync += l_addr.eq(l_addr + 1)
                # w_end_r follows grp_last & ln.last: the next values of lr.rl, lk.last and ln.last
                if OS:
                    lk_n = Mux(lk.last, j_cl0, le_c(lk.rem, 2 * KS))
                    rl_n = Const(1)
                else:
                    lk_n = Mux(lr.rl, Mux(lk.last, j_cl0, le_c(lk.rem, 2 * KS)), lk.last)
                    rl_n = Mux(lr.rl, Const(int(R == 1)), lr.rd == 1)
                ln_n = Mux(grp_last, le_c(ln.rem, 2 * C), ln.last)
                m.d.sync += w_end_r.eq(rl_n & lk_n & ln_n)
                if OS:
                    with m.If(lk.last):
                        m.d.sync += lk.load(jK, j_cl0)
                    with m.Else():
                        m.d.sync += lk.advance()
                else:
                    with m.If(lr.rl):
                        m.d.sync += lr.load(R - 1, R == 1)
                        with m.If(lk.last):
                            m.d.sync += lk.load(jK, j_cl0)
                        with m.Else():
                            m.d.sync += lk.advance()
                    with m.Else():
                        m.d.sync += lr.dec()
                with m.If(grp_last):
                    m.d.sync += ln.advance()
                with m.If(sec_last):
                    m.d.sync += [l_addr.eq(0), *lk.load(jK, j_cl0), *lm.load(jM, j_bl0)]
                    m.d.sync += a_end(j_cl0 if OS else j_cl0 & j_mb1z, j_bl0)
                    if not OS:
                        m.d.sync += [l_mb1.eq(j_mb1), l_mb1z.eq(j_mb1z), *lr.load(j_mb1, j_mb1z)]
                    goto("ACT")
            consume(m, up_w, sec_last, Const(0), on_w)
        with m.If(in_st["ACT"]):
            blk_end, sec_last, final = a_blk_end, a_blk_end, a_final

            def on_a():
                m.d.comb += a_wr.en.eq(1)
                m.d.sync += l_addr.eq(l_addr + 1)
                # a_end_r follows lr.rl & lk.last: set with each of their updates
                if OS:
                    m.d.sync += [*lk.advance(), *a_end(le_c(lk.rem, 2 * KS), lm.last)]
                else:
                    with m.If(lr.rl):
                        m.d.sync += [*lr.load(l_mb1, l_mb1z), *lk.advance(),
                                     *a_end(l_mb1z & le_c(lk.rem, 2 * KS), lm.last)]
                    with m.Else():
                        m.d.sync += [*lr.dec(), *a_end((lr.rd == 1) & lk.last, lm.last)]
                with m.If(blk_end):
                    m.d.comb += blk_loaded.eq(1)
                    m.d.sync += [l_addr.eq(Mux(l_bank, 0, D)), l_bank.eq(~l_bank), *lk.load(jK, j_cl0),
                                 *lm.advance()]
                    if OS:
                        m.d.sync += a_end(j_cl0, le_c(lm.rem, 2 * B))
                    else:
                        nmb1, nmb1z = lm.next_mb()
                        m.d.sync += [l_mb1.eq(nmb1), l_mb1z.eq(nmb1z), *lr.load(nmb1, nmb1z),
                                     *a_end(nmb1z & j_cl0, le_c(lm.rem, 2 * B))]
            consume(m, up_a, sec_last, final, on_a)
        with m.If(in_st["CAPS"]):
            # capabilities: one m_axis beat per word (lane 0), tlast on the last (output side below)
            with m.If(caps_room):
                m.d.sync += caps_i.eq(caps_i + 1)
                with m.If(caps_i == n_caps - 1):
                    goto("IDLE")
        with m.If(in_st["DRAIN"]):
            with m.If(self.s_axis_tvalid & self.s_axis_tlast):
                goto("WAIT")
        with m.If(in_st["WAIT"]):
            with m.If(job_done):
                goto("IDLE")
        p_wait = in_st["WAIT"]
        for u in (up_p, up_w, up_a):
            m.d.comb += u.clear.eq(p_wait | in_st["DRAIN"])
        m.d.comb += up_p.check_mask.eq(l_mask)
        # the parameter and weight words are always taken when offered (their sections never wait), and
        # an unpacker holds a word only inside its section (it is fed only there, flushed at the section's
        # end, cleared after an error): ``o_ready = 1`` outside the state decode keeps the state register
        # out of their wide clock enables
        m.d.comb += [up_p.o_ready.eq(1), up_w.o_ready.eq(1)]
        p_caps = in_st["CAPS"]
        p_idle = in_st["IDLE"]
        m.d.comb += self.status.eq(Cat(~p_idle, err, Const(0, 2), code))
        m.d.comb += start.eq(p_idle & self.s_axis_tvalid)
        # the generators see a block one cycle after its final word (its registered write has landed)
        blk_ready = Signal()
        m.d.sync += blk_ready.eq(blk_loaded)
        with m.If(start):
            m.d.sync += [a_occ.eq(0), a_rdy.eq(0), h_occ.eq(0), blk_ready.eq(0)]
        with m.Else():
            m.d.sync += [a_occ.eq(a_occ + blk_loaded - g_rel), a_rdy.eq(a_rdy + blk_ready - g_rel),
                         h_occ.eq(h_occ + blk_ready - h_rel)]

        # ================= issue generators =================
        # --- activation generator (OS: also weights) feeding array.s: loops block > tile > K > (WS) rows
        gk, gn, gm = Loop("g_k", KS), Loop("g_n", C), Loop("g_m", B)
        gr = Rows("g")
        g_mb1, g_mb1z = Signal(range(max(B, 2)), name="g_mb1"), Signal(name="g_mb1z")
        g_cf = Signal(name="g_cf")          # first K iteration of the tile (OS: k = 0, WS: chunk 0)
        g_bank, g_done = Signal(name="g_bank"), Signal(name="g_done")
        g_addr = Signal(range(2 * D + 1), name="g_addr")   # activation address, bank base included
        g_waddr = Signal(range(e.w_depth + 1))
        sv = Signal()                       # stage valid
        s_first, s_last, s_tlast = Signal(), Signal(), Signal()
        # output credits: the array never stalls (its o.ready is 1, so it has no enable at all); instead a
        # beat that makes output rows (``last``: R rows OS, one row WS) enters the array only when the
        # output FIFO + output register have room for them besides every row already on its way
        # (``credit``: free places; -rows when such a beat is taken, +1 when m_axis takes a result row).
        # O_DEPTH covers every row in flight without backpressure, so ``cr_ok`` is then always 1 and the
        # cycle counts do not change; with m_axis backpressure the issue waits instead of the array.
        ROWS_PER_LAST = R if OS else 1
        Lmax, Q = a.max_cycles_per_step, e.post_pipe
        # (+ ROWS_PER_LAST + 1: the credit counter runs one cycle behind, see cr_dec / cr_inc below)
        # (+ T_AUX: places kept for beats that are not result rows -- capability words and the error
        # beat, see the output side -- which take no credit)
        T_AUX = n_caps + 3
        O_DEPTH = 1 << (2 * Lmax + 4 * R + C + a.pipe_latency + Q + 8 + ROWS_PER_LAST + 1 + T_AUX - 1).bit_length()
        credit = Signal(range(O_DEPTH + 2), init=O_DEPTH + 1 - T_AUX)
        cr_ok = Signal(init=1)              # credit >= 2 ROWS_PER_LAST (registered)
        cr_ret = Signal()                   # m_axis takes a result row (defined on the output side)
        # between the read stage and ``array.s``: a queue of ``EngineConfig.issue_depth`` registers
        # (:func:`macforge.rtl.skid.issue_queue`): the generator reads while the queue's registered
        # ``room`` flag is set, so its advance is a flip-flop (not the array's combinational ``s.ready``),
        # the memories are always enabled, and the block RAM's clock-to-out ends in the queue registers.
        # A beat that makes output rows leaves the queue only while ``cr_ok`` (output credits).
        s_take = Signal()                   # the array takes the queue's head
        s_qne = Signal()
        adv = Signal()                      # the generator may read this cycle (the queue has room)
        g_rd = Signal()                     # ... and reads (adv & g_have)
        # the credit counter runs one cycle behind the events (both registered first: ``cr_dec`` = the
        # array took a ``last`` beat, ``cr_inc`` = m_axis took a result row), so no handshake reaches its
        # adder; ``cr_ok`` then asks for 2 ROWS_PER_LAST, which leaves room for the one ``last`` beat that
        # may be taken before its decrement lands (a late return only makes the check stricter)
        cr_dec, cr_inc = Signal(), Signal()
        m.d.sync += [cr_dec.eq(s_take & arr.s.payload.last), cr_inc.eq(cr_ret)]
        cr_next = Signal(range(O_DEPTH + 2))
        m.d.comb += cr_next.eq(credit + cr_inc - Mux(cr_dec, ROWS_PER_LAST, 0))
        m.d.sync += [credit.eq(cr_next), cr_ok.eq(cr_next >= 2 * ROWS_PER_LAST)]
        g_have = Signal()
        m.d.comb += g_have.eq(~g_done & a_rdy.any())     # g_blk < loaded (one cycle ago)
        m.d.comb += g_rd.eq(adv & g_have)
        m.d.comb += a_rd.addr.eq(g_addr)      # always read: the stages are valid only after g_rd
        g_base = Mux(g_bank, D, 0)
        if OS:
            m.d.comb += w_rd.addr.eq(g_waddr)
            g_sweep_end = gk.last
        else:
            g_sweep_end = gr.rl & gk.last
        g_blk_end = Signal()
        m.d.comb += g_blk_end.eq(g_sweep_end & gn.last)
        # cleared in ``setup`` (cycle 1, a flip-flop; nothing is loaded yet) rather than with ``start``
        # (which depends on ``s_axis_tvalid``): the same cycles, one logic level less before the loops
        m.d.sync += sv.eq(g_rd)
        with m.If(setup):
            m.d.sync += [g_bank.eq(0), g_addr.eq(0), g_waddr.eq(0), g_done.eq(0)]
        with m.Else():
            with m.If(g_rd):
                m.d.sync += [s_first.eq(g_cf), s_last.eq(gk.last), s_tlast.eq(0 if OS else gr.rl)]
                if OS:
                    with m.If(gk.last):
                        m.d.sync += [*gk.load(jK, j_cl0), g_cf.eq(1), g_addr.eq(g_base)]
                    with m.Else():
                        m.d.sync += [*gk.advance(), g_cf.eq(0), g_addr.eq(g_addr + 1)]
                    m.d.sync += g_waddr.eq(g_waddr + 1)
                else:
                    with m.If(gr.rl):
                        m.d.sync += gr.load(g_mb1, g_mb1z)
                        with m.If(gk.last):
                            m.d.sync += [*gk.load(jK, j_cl0), g_cf.eq(1)]
                        with m.Else():
                            m.d.sync += [*gk.advance(), g_cf.eq(0)]
                    with m.Else():
                        m.d.sync += gr.dec()
                    m.d.sync += g_addr.eq(Mux(g_sweep_end, g_base, g_addr + 1))
                with m.If(g_sweep_end):
                    m.d.sync += gn.advance()
                with m.If(g_blk_end):
                    m.d.comb += g_rel.eq(1)
                    m.d.sync += [*gn.load(jN, j_tl0), *gm.advance(), g_bank.eq(~g_bank),
                                 g_addr.eq(Mux(g_bank, 0, D)), g_waddr.eq(0)]
                    if not OS:
                        nmb1, nmb1z = gm.next_mb()
                        m.d.sync += [g_mb1.eq(nmb1), g_mb1z.eq(nmb1z), *gr.load(nmb1, nmb1z)]
                    with m.If(gm.last):
                        m.d.sync += g_done.eq(1)
        with m.If(setup):
            m.d.sync += [*gk.load(jK, c_cl0), g_cf.eq(1), *gn.load(jN, c_tl0), *gm.load(jM, c_bl0)]
            if not OS:
                m.d.sync += [g_mb1.eq(c_mb1), g_mb1z.eq(c_mb1z), *gr.load(c_mb1, c_mb1z)]
        # input stage (two cycles after the read): the buffer's registered read data, and the stage's
        # valid and flags registered once more
        iv, i_first, i_last, i_tlast = Signal(name="s_iv"), Signal(), Signal(), Signal()
        m.d.sync += [iv.eq(sv), i_first.eq(s_first), i_last.eq(s_last), i_tlast.eq(s_tlast)]
        s_beat = Signal(arr.s.payload.shape(), name="s_beat")
        if OS:
            m.d.comb += [s_beat.a.eq(a_rd.data), s_beat.w.eq(w_rd.data),
                         s_beat.first.eq(i_first), s_beat.last.eq(i_last)]
        else:
            m.d.comb += [s_beat.a.eq(a_rd.data),
                         s_beat.first.eq(i_first), s_beat.last.eq(i_last), s_beat.tlast.eq(i_tlast)]
        s_room, s_qtake, s_qne_ = issue_queue(m, arr.s, iv, s_beat, g_rd, e.issue_depth, name="s",
                                              gate=~arr.s.payload.last | cr_ok)
        m.d.comb += [adv.eq(s_room), s_take.eq(s_qtake), s_qne.eq(s_qne_ | iv)]
        if not OS:
            # --- WS weight generator feeding array.w: loops block > tile > chunk > rows r of the chunk
            hk, hn, hm = Loop("h_k", R), Loop("h_n", C), Loop("h_m", B)
            hr = Rows("h")
            h_addr = Signal(range(e.w_depth + 1), name="h_addr")
            h_done = Signal(name="h_done")
            wv = Signal()               # read stage valid
            wadv = Signal()             # the weight queue has room
            h_have = Signal()
            m.d.comb += h_have.eq(~h_done & h_occ.any())     # h_blk < loaded
            h_rd = Signal()
            m.d.comb += h_rd.eq(wadv & h_have)
            m.d.comb += w_rd.addr.eq(h_addr)
            h_blk_end = Signal()
            m.d.comb += h_blk_end.eq(hr.rl & hk.last & hn.last)
            m.d.sync += wv.eq(h_rd)
            with m.If(setup):
                m.d.sync += [h_addr.eq(0), h_done.eq(0)]
            with m.Else():
                with m.If(h_rd):
                    m.d.sync += h_addr.eq(h_addr + 1)
                    with m.If(hr.rl):
                        m.d.sync += hr.load(R - 1, R == 1)
                        with m.If(hk.last):
                            m.d.sync += [*hk.load(jK, j_cl0), *hn.advance()]
                        with m.Else():
                            m.d.sync += hk.advance()
                    with m.Else():
                        m.d.sync += hr.dec()
                    with m.If(h_blk_end):
                        m.d.comb += h_rel.eq(1)
                        m.d.sync += [*hn.load(jN, j_tl0), h_addr.eq(0), *hm.advance()]
                        with m.If(hm.last):
                            m.d.sync += h_done.eq(1)
            with m.If(setup):
                m.d.sync += [*hk.load(jK, c_cl0), *hn.load(jN, c_tl0), *hm.load(jM, c_bl0), *hr.load(R - 1, R == 1)]
            # the weight rows go through their own queue, as for array.s
            wiv = Signal(name="w_iv")
            m.d.sync += wiv.eq(wv)
            w_room, _, _ = issue_queue(m, arr.w, wiv, w_rd.data, h_rd, e.issue_depth, name="w")
            m.d.comb += wadv.eq(w_room)

        # ================= output side: post-processing, m_axis =================
        # loops block > tile > rows (OS: R, WS: the block's mb); lanes < N (o_mask) and, OS, rows < M (o_rv)
        on, om = Loop("o_n", C), Loop("o_m", B)
        orow = Rows("o")
        o_mask = Signal(C)
        o_mb1, o_mb1z = Signal(range(max(B, 2)), name="o_mb1"), Signal(name="o_mb1z")
        o_vr = Signal(range(R + 1))          # OS: rows < M in the current block (1..R)
        o_vc = Signal(range(R + 1))          # OS: rows < M from the current row on
        o_rv = Signal()                      # OS: o_vc != 0 (the current row is < M)
        # blocks read whose rows are not all out of the array (g_blk - o_blk): each holds a row issued and
        # not delivered (at most O_DEPTH + 1 under the credits) or a word between the read and the
        # credit gate (at most issue_depth + 3)
        o_pend = Signal(range(O_DEPTH + e.issue_depth + 8))
        o_pend_z = Signal(init=1)            # o_pend == 0 (registered)
        o_pt = Signal(range(e.nt_max + 1))
        o_final = Signal()
        m.d.comb += o_final.eq(orow.rl & on.last & om.last)
        m.d.comb += p_rd.addr.eq(o_pt)
        # m_axis: two output slots used in turn (ping-pong), so ``m_axis_tready`` reaches only the
        # slots' valid flags and the read pointer, never the load enable of a 257-bit register: a slot
        # loads when its (registered) valid flag is clear; m_axis shows slot ``o_rp``
        sv_, sdata, slast, suser, sdat = [], [], [], [], []
        for k in range(2):
            sv_.append(Signal(name=f"ob{k}_valid"))
            sdata.append(Signal(e.out_width, name=f"ob{k}_data"))
            slast.append(Signal(name=f"ob{k}_last"))
            suser.append(Signal(name=f"ob{k}_user"))
            sdat.append(Signal(name=f"ob{k}_row"))      # holds a result row (returns a credit)
        o_rp, o_wp = Signal(name="ob_rp"), Signal(name="ob_wp")
        pv = Signal()                        # m_axis_tvalid
        m.d.comb += [pv.eq(Mux(o_rp, sv_[1], sv_[0])), self.m_axis_tvalid.eq(pv),
                     self.m_axis_tdata.eq(Mux(o_rp, sdata[1], sdata[0])),
                     self.m_axis_tlast.eq(Mux(o_rp, slast[1], slast[0])),
                     self.m_axis_tuser.eq(Mux(o_rp, suser[1], suser[0]))]
        p_free = Signal()                    # the slot to load next is free (flip-flops only)
        m.d.comb += p_free.eq(~Mux(o_wp, sv_[1], sv_[0]))
        m.d.comb += arr.o.ready.eq(1)        # never stalls: output credits (above)
        # output FIFO: every beat (result rows, capability words, the error beat) is written into it from
        # registers (the post pipeline's last stage, the state) and leaves from its head into the next
        # free slot; the post-processing pipeline never stalls either. Word: data, tlast, tuser, row
        # (a result row: returns a credit when it leaves on m_axis).
        FW = e.out_width + 3
        ofifo = m.submodules.ofifo = memory.Memory(shape=FW, depth=O_DEPTH, init=[])
        f_wr = ofifo.write_port()
        f_rd = ofifo.read_port(domain="comb")
        f_wa, f_ra = Signal(range(O_DEPTH)), Signal(range(O_DEPTH))
        f_cnt = Signal(range(O_DEPTH + 1))
        f_ne = Signal()                      # f_cnt != 0 (registered)
        m.d.comb += [f_rd.addr.eq(f_ra), f_wr.addr.eq(f_wa)]
        # capability words are written one per cycle while the FIFO holds at most n_caps beats; the
        # error beat only into an empty output side; so beats that are not result rows never fill more
        # than T_AUX = n_caps + 3 places of FIFO and slots, which the credits (O_DEPTH + 1 - T_AUX of the
        # O_DEPTH + 2 places) leave free: the FIFO never overflows
        # caps_room: f_cnt <= n_caps, f_ne: f_cnt != 0 (registered, see below)

        aw = a.a_width
        hi = (1 << (aw - 1)) - 1
        lo = Mux(relu, 0, -(1 << (aw - 1)))
        Q = e.post_pipe              # pipelining option: 6 registered post-processing stages (or 0)
        o_take = Signal()
        m.d.comb += o_take.eq(arr.o.valid & arr.o.ready)
        adv = Const(1)               # the post pipeline never stalls (output credits)

        def clamp_tests(sh):
            """``(negative, any, all)`` of the shifted value: its sign and the reductions of the bits above
            aw-1, which compare it with the constant bounds without a carry chain."""
            top = sh[aw - 1:-1]
            return sh[-1], top.any(), top.all()

        def clamp(neg, any_top, all_top, low):
            """sh > hi <=> not negative and any bit above aw-1 set; sh < -2^(aw-1) <=> negative and not all
            of them set (with ReLU lo = 0: sh < 0); else ``low`` (the value's low bits)."""
            return Mux(~neg & any_top, hi, Mux(neg & (relu | ~all_top), lo, low))

        wv = max(a.acc_width, 32) + 1          # v = y + bias, exact
        lanes = []
        for j in range(C):
            prm = p_rd.data[j]
            y = arr.o.payload.y[j]
            v = Signal(signed(wv), name=f"v{j}")     # y + bias (of the array row, or of stage 1)
            # padding is zero: lanes past N (last tile) and, OS, rows past M (last block)
            keep = Signal(name=f"keep{j}")
            m.d.comb += keep.eq(o_mask[j] & (o_rv if OS else Const(1)))
            if Q == 0:
                m.d.comb += v.eq(y + prm.bias)
                s6 = Signal(6, name=f"s{j}")
                m.d.comb += s6.eq(prm.shift[:6])
                prod = Signal(signed(72), name=f"prod{j}")
                m.d.comb += prod.eq(v * Cat(prm.m0[:31], Const(0, 1)).as_signed())
                rnd = Signal(64, name=f"rnd{j}")
                m.d.comb += rnd.eq(Const(1, 1) << (s6 - 1)[:6])
                sh = Signal(signed(72), name=f"sh{j}")
                m.d.comb += sh.eq((prod + rnd) >> s6)
                q = Signal(signed(32), name=f"q{j}")
                m.d.comb += q.eq(clamp(*clamp_tests(sh), sh[:32]))
                lanes.append(Mux(keep, Mux(requant, q, v[:32]), 0))
                continue
            # ---- Q = 11 registered stages (each one a register after at most one adder, one mux level
            # or one reduction; all advance together, one row per cycle):
            #  1: y, bias, M0, S, keep        2: v = y + bias      3: v, M0 again (the operand registers;
            #  the DSPs' input registers load the stage-2 flip-flops)   4: four 18x18 partial products
            #  5: two partial sums     6: their sum v*M0     7: + 2^(S-1)     8: >> 8*(S div 8)
            #  9: >> (S mod 8)     10: the clamp's tests (sign, any / all of the bits above a-1)
            # 11: the clamped (or raw, or zero padding) lane
            def reg(shape, name, d):
                r = Signal(shape, name=name)
                with m.If(adv):
                    m.d.sync += r.eq(d)
                return r
            y1 = reg(signed(len(y)), f"y1_{j}", y)
            b1 = reg(signed(32), f"b1_{j}", prm.bias)
            m1 = reg(31, f"m1_{j}", prm.m0[:31])
            s1 = reg(6, f"s1_{j}", prm.shift[:6])
            k1 = reg(1, f"k1_{j}", keep)
            m.d.comb += v.eq(y1 + b1)
            v2, m2, s2, k2 = reg(signed(wv), f"v2_{j}", v), reg(31, f"m2_{j}", m1), reg(6, f"s2_{j}", s1), reg(1, f"k2_{j}", k1)
            v3, m3, s3, k3 = reg(signed(wv), f"v3_{j}", v2), reg(31, f"m3_{j}", m2), reg(6, f"s3_{j}", s2), reg(1, f"k3_{j}", k2)
            vlo, vhi = v3[:17], v3[17:].as_signed()
            mlo, mhi = m3[:16], m3[16:31]
            if wv - 17 <= ECP5_MUL_WIDTH:
                # each partial product a RegisteredProduct of the stage-3 registers (ECP5 target: a
                # MULT18X18D with its input and output registers; unsigned parts zero-extended)
                def product(name, x, x_d, y_, y_d):
                    rp = m.submodules[f"{name}_{j}"] = RegisteredProduct(len(x), len(y_))
                    m.d.comb += [rp.en.eq(adv), rp.a.eq(x), rp.a_d.eq(x_d), rp.b.eq(y_), rp.b_d.eq(y_d)]
                    return rp.p

                def zx(x):
                    return Cat(x, Const(0, 1)).as_signed()
                vlo_d, vhi_d = v2[:17], v2[17:].as_signed()
                mlo_d, mhi_d = m2[:16], m2[16:31]
                p00 = product("p00", zx(vlo), zx(vlo_d), zx(mlo), zx(mlo_d)).as_unsigned()[:33]
                p01 = product("p01", zx(vlo), zx(vlo_d), zx(mhi), zx(mhi_d)).as_unsigned()[:32]
                p10 = product("p10", vhi, vhi_d, zx(mlo), zx(mlo_d))
                p11 = product("p11", vhi, vhi_d, zx(mhi), zx(mhi_d))
            else:
                p00 = reg(unsigned(33), f"p00_{j}", vlo * mlo)
                p01 = reg(unsigned(32), f"p01_{j}", vlo * mhi)
                p10 = reg(signed(wv - 17 + 17), f"p10_{j}", vhi * mlo)
                p11 = reg(signed(wv - 17 + 16), f"p11_{j}", vhi * mhi)
            # |v * M0| < 2^(wv + 30) and 2^(S-1) <= 2^61: PW bits hold every sum exactly
            PW = max(wv + 31, 63) + 2
            v4, s4, k4 = reg(signed(wv), f"v4_{j}", v3), reg(6, f"s4_{j}", s3), reg(1, f"k4_{j}", k3)
            pa = reg(unsigned(49), f"pa_{j}", p00 + (p01 << 16))
            pb = reg(signed(PW), f"pb_{j}", (p10 << 17) + (p11 << 33))
            v5, s5, k5 = reg(signed(wv), f"v5_{j}", v4), reg(6, f"s5_{j}", s4), reg(1, f"k5_{j}", k4)
            prod = reg(signed(PW), f"prod_{j}", pa + pb)
            rnd = Signal(64, name=f"rnd{j}")
            m.d.comb += rnd.eq(Const(1, 1) << (s5 - 1)[:6])
            rnd6 = reg(64, f"rnd6_{j}", rnd)
            v6, s6, k6 = reg(signed(wv), f"v6_{j}", v5), reg(6, f"s6_{j}", s5), reg(1, f"k6_{j}", k5)
            pr = reg(signed(PW), f"pr_{j}", prod + rnd6)
            v7, s7, k7 = reg(signed(wv), f"v7_{j}", v6), reg(6, f"s7_{j}", s6), reg(1, f"k7_{j}", k6)
            sh8 = reg(signed(PW), f"sh8_{j}", pr >> Cat(Const(0, 3), s7[3:6]))
            v8, s8, k8 = reg(signed(wv), f"v8_{j}", v7), reg(3, f"s8_{j}", s7[:3]), reg(1, f"k8_{j}", k7)
            sh = reg(signed(PW), f"sh_{j}", sh8 >> s8)
            v9, k9 = reg(signed(wv), f"v9_{j}", v8), reg(1, f"k9_{j}", k8)
            # clamp tests as reductions of the bits above aw-1 (no carry chain): sh > hi <=> not negative
            # and any of them set; sh < -2^(aw-1) <=> negative and not all of them set (ReLU: lo = 0)
            neg, any_top, all_top = clamp_tests(sh)
            n10, any10, all10 = reg(1, f"neg10_{j}", neg), reg(1, f"any10_{j}", any_top), reg(1, f"all10_{j}", all_top)
            low10 = reg(signed(32), f"low10_{j}", sh[:32])
            v10, k10 = reg(signed(32), f"v10_{j}", v9[:32]), reg(1, f"k10_{j}", k9)
            q = clamp(n10, any10, all10, low10)
            lanes.append(reg(signed(32), f"lane11_{j}", Mux(k10, Mux(requant, q, v10), 0)))
        out_fire = Signal()
        out_last = Signal()
        pipe_empty = Signal()
        if Q == 0:
            m.d.comb += [out_fire.eq(o_take), out_last.eq(o_final & ~err), pipe_empty.eq(1)]
        else:
            vals, lasts = [o_take], [o_final & ~err]
            for k in range(Q):
                vk, lk = Signal(name=f"pval{k + 1}"), Signal(name=f"plast{k + 1}")
                with m.If(adv):
                    m.d.sync += [vk.eq(vals[-1]), lk.eq(lasts[-1])]
                vals.append(vk)
                lasts.append(lk)
            # pipe_empty: no valid row in stages 1..Q, kept as a register of the next values
            pe_r = Signal(init=1, name="pipe_empty_r")
            m.d.sync += pe_r.eq(~Cat(*vals[:Q]).any())
            m.d.comb += [out_fire.eq(vals[-1] & adv), out_last.eq(lasts[-1]), pipe_empty.eq(pe_r)]

        fin_err_sent = Signal()
        with m.If(start):
            m.d.sync += fin_err_sent.eq(0)
        with m.If(self.m_axis_tready & pv):
            m.d.sync += o_rp.eq(~o_rp)
            for k in range(2):
                with m.If(o_rp == k):
                    m.d.sync += sv_[k].eq(0)
        # stop: all blocks issued, or an error with nothing more to load
        stopped = Signal()
        m.d.comb += stopped.eq(g_done | (err & p_wait & ~a_occ.any()))      # g_blk == loaded
        drained = Signal()
        # the terms of the issue stage and queue, post pipeline and FIFO are ANDed one cycle ahead
        # (``quiet``, registered). Once every issued block's final row has left the array (``o_pend_z``)
        # they only turn true (a row taken from the array is in the post pipeline's first stage at once,
        # in the FIFO the cycle it leaves the pipeline), and the last of them (the FIFO's final pop)
        # precedes the slots' last transfer by a cycle: the registered AND is never late
        quiet = Signal(init=1, name="quiet")
        m.d.sync += quiet.eq(~sv & ~s_qne & pipe_empty & ~f_ne)
        m.d.comb += drained.eq(stopped & o_pend_z & quiet & ~sv_[0] & ~sv_[1])
        o_bdone = Signal()                   # the final row of a block is taken from the array
        with m.If(o_take):
            with m.If(orow.rl):
                if OS:
                    m.d.sync += [*orow.load(R - 1, R == 1), o_vc.eq(o_vr), o_rv.eq(1)]
                else:
                    m.d.sync += orow.load(o_mb1, o_mb1z)
                with m.If(on.last):
                    m.d.comb += o_bdone.eq(1)
                    m.d.sync += [*on.load(jN, j_tl0), o_mask.eq(j_mask0), o_pt.eq(0), *om.advance()]
                    if OS:
                        nv = Mux(gt_c(om.rem, 2 * R), R, om.rem - R)[:len(o_vr)]
                        m.d.sync += [o_vr.eq(nv), o_vc.eq(nv)]
                    else:
                        nmb1, nmb1z = om.next_mb()
                        m.d.sync += [o_mb1.eq(nmb1), o_mb1z.eq(nmb1z), *orow.load(nmb1, nmb1z)]
                with m.Else():
                    m.d.sync += [*on.advance(), o_mask.eq(thermo(on.rem, C)), o_pt.eq(o_pt + 1)]
            with m.Else():
                m.d.sync += orow.dec()
                if OS:
                    m.d.sync += [o_vc.eq(Mux(o_rv, o_vc - 1, 0)), o_rv.eq(o_vc >= 2)]
        with m.If(setup):
            m.d.sync += [*on.load(jN, c_tl0), o_mask.eq(c_mask0), o_pt.eq(0), *om.load(jM, c_bl0)]
            if OS:
                v0 = Mux(gt_c(jM, R), R, jM)[:len(o_vr)]
                m.d.sync += [*orow.load(R - 1, R == 1), o_vr.eq(v0), o_vc.eq(v0), o_rv.eq(1)]
            else:
                m.d.sync += [o_mb1.eq(c_mb1), o_mb1z.eq(c_mb1z), *orow.load(c_mb1, c_mb1z)]
        # o_pend counts a block's completion one cycle late (o_bdone registered: the array's output valid
        # does not reach the adder); that only delays `drained` while the block's rows are still in the
        # post pipeline anyway
        o_bdone_r = Signal()
        m.d.sync += o_bdone_r.eq(o_bdone & ~start)
        o_pend_next = Signal.like(o_pend)
        m.d.comb += o_pend_next.eq(Mux(start, 0, o_pend + g_rel - o_bdone_r))
        m.d.sync += o_pend.eq(o_pend_next)
        # o_pend' == 0 with the late events (g_rel, o_bdone_r) in the last select, not behind the adder
        m.d.sync += o_pend_z.eq(start | Mux(g_rel == o_bdone_r, o_pend == 0, o_bdone_r & (o_pend == 1)))
        new_row = Cat(*[l.as_unsigned()[:OUT_LANE_BITS] for l in lanes])
        # the error beat is due (registered: the drain test is a wide AND; nothing else can arrive once
        # drained, and the FIFO is empty then)
        err_beat = Signal()
        m.d.sync += err_beat.eq(drained & err & ~fin_err_sent & p_wait & ~err_beat)
        caps_word = Array([Const(w, 32) for w in caps])[caps_i]
        caps_go = Signal()
        m.d.comb += caps_go.eq(p_caps & caps_room)
        # FIFO write: a result row (out_fire), else a capability word or the error beat (never together:
        # rows flow only during a job, capability words only in CAPS, the error beat only when drained)
        aux = Cat(Mux(p_caps, caps_word, code), Const(0, e.out_width - 32),
                  ~p_caps | (caps_i == n_caps - 1), ~p_caps, Const(0, 1))
        push, pop = Signal(), Signal()
        m.d.comb += [
            push.eq(out_fire | caps_go | err_beat),
            pop.eq(p_free & f_ne),                # the FIFO head -> the next slot (flip-flops only)
            cr_ret.eq(pv & self.m_axis_tready & Mux(o_rp, sdat[1], sdat[0])),
            f_wr.en.eq(push),
            f_wr.data.eq(Mux(out_fire, Cat(new_row, out_last, Const(0, 1), Const(1, 1)), aux)),
        ]
        with m.If(push):
            m.d.sync += f_wa.eq(f_wa + 1)        # O_DEPTH is a power of two
        f_cnt_next = Signal(range(O_DEPTH + 1))
        m.d.comb += f_cnt_next.eq(f_cnt + push - pop)
        # the flags of the next count without the adder: constant compares of the current count (no
        # carry chain), selected by the events
        inc, dec = Signal(), Signal()
        m.d.comb += [inc.eq(push & ~pop), dec.eq(pop & ~push)]
        m.d.sync += [f_cnt.eq(f_cnt_next),
                     f_ne.eq(Mux(inc, 1, Mux(dec, f_cnt != 1, f_ne))),
                     caps_room.eq(Mux(inc, le_c(f_cnt, n_caps - 1) if n_caps >= 1 else 0,
                                      Mux(dec, le_c(f_cnt, n_caps + 1), caps_room)))]
        with m.If(pop):
            m.d.sync += [f_ra.eq(f_ra + 1), o_wp.eq(~o_wp)]
            for k in range(2):
                with m.If(o_wp == k):
                    m.d.sync += [sv_[k].eq(1), sdata[k].eq(f_rd.data[:e.out_width]),
                                 slast[k].eq(f_rd.data[e.out_width]), suser[k].eq(f_rd.data[e.out_width + 1]),
                                 sdat[k].eq(f_rd.data[e.out_width + 2])]
        with m.If(err_beat):
            m.d.sync += fin_err_sent.eq(1)
        m.d.comb += job_done.eq(drained & p_wait & (~err | fin_err_sent))
        return m


def engine_verilog(ecfg: EngineConfig, platform=None) -> str:
    """Verilog of the engine (its priority ``casez`` need the ``CASEOVERLAP`` waiver of
    :data:`macforge.sim.runner.WAIVERS`). ``platform``: the emission target
    (:class:`macforge.rtl.dsp.Target`; ``None`` = generic), passed to every ``elaborate``."""
    from macforge.rtl.verilog import hierarchical_verilog   # one definition per PE kind (issue 13)
    return strip_zero_meminit(hierarchical_verilog(Engine(ecfg), ecfg.top_name, platform)[0])


_ZERO_MEMINIT = re.compile(r"  initial begin\n(?:    [A-Za-z_\\][^\s\[]*\[\d+\] = \d+'h0+;\n)+  end\n")


def strip_zero_meminit(text: str) -> str:
    """``text`` without the all-zero ``initial`` blocks Amaranth writes for every memory (``init=[]``).

    No engine memory is read before it is written in a way that reaches an output (every word a job
    uses is loaded by its packet; padding lanes and rows are masked; the WS accumulator starts each
    row with ``first``), and ECP5 block RAM powers up zero anyway. The blocks cost Yosys's Verilog
    reader one statement per word: for the default 8x8 WS engine (24.6k words of buffers) read_verilog
    took 127 s of a 180 s synth_ecp5 on an idle core and over 20 min on the loaded 2-core machine,
    6 s without them."""
    return _ZERO_MEMINIT.sub("", text)
