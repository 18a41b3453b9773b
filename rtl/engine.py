"""Layer engine: the systolic array plus buffers, a tiling controller, bias/requantization and AXI4-Stream.

Packet format (command word, sections, word packing, output rows, error beat): :mod:`macforge.golden.engine`.
Configuration and buffer sizes: :mod:`macforge.golden.engine_config`.

Structure::

    s_axis -> parser -> unpackers (params / weights / activations) -> P, W, A[2] buffers
    A[bank], W --(issue generators: read stage, issue queue)--> array --> post (bias, requant) -> m_axis

Loading (parser, one ``s_axis`` beat per cycle at most). State ``IDLE`` takes the command word (only when
the previous job is completely finished), then ``PARAM``, ``WGT``, ``ACT`` consume *words* from three
:class:`Unpacker` s (one per word width; a section's final word flushes the rest of its beat and does not
let the unpacker take the next beat, so the next section starts on a fresh beat in its own unpacker,
costing one bubble cycle). Activation block ``b`` goes to bank ``b mod 2`` and may start only when block
``b - 2`` has been released by the issue side (``b < released + 2``): **double buffering** -- block
``b + 1`` loads while block ``b`` computes.

Issue. Block ``b`` is issued when it is completely loaded (``b < loaded``, i.e. ``a_occ != 0``). OS: for each output tile
``t``, ``K`` beats ``(A[bank][k], W[t*K + k])`` with ``first``/``last`` on ``k = 0``/``K-1``. WS: a
weight generator streams ``W[t*Kp + c*R + r]`` rows (it may run ahead: the array's weight double buffer
gates it) and an activation generator streams, per tile and K-chunk ``c``, the block's ``mb`` words
``A[bank][c*mb + m]`` (``first`` on ``c = 0``, ``last`` on the final chunk, ``tlast`` on ``m = mb-1``).
Each generator owns a synchronous memory read port (always enabled; its read data is the *stage*) and a
queue of ``EngineConfig.issue_depth`` registers (:func:`macforge.rtl.skid.issue_queue`): it reads a word
whenever the queue's registered ``room`` flag is set, the stage empties into the queue in the next cycle
and the array takes the queue's head. So the generator's advance is a flip-flop (the array's combinational
``ready`` reaches only the queue's read pointer), the block RAM's clock-to-out ends in the queue registers,
and the array sees one beat per cycle from two cycles after the read. The bank is released when its final
word has been read.

Post-processing (one cycle, C lanes in parallel, on each array output row): ``v = y + bias`` (33 bits),
then for requant jobs ``clamp((v * M0 + 2^(S-1)) >> S, lo, hi)`` with a 66-bit product and an
arithmetic shift, exactly :func:`macforge.golden.requant.requantize` (``lo = 0`` with ReLU, else ``-2^(a-1)``),
else ``v`` as int32 (with the pipelining option 6 registered stages, ``EngineConfig.post_pipe``; the
products in ``RegisteredProduct`` s, i.e. ECP5 ``MULT18X18D`` with input and output registers on the
``ecp5`` target). The result row goes to the output register (``m_axis``), or, while that holds a beat
that is not taken, to an output FIFO of ``O_DEPTH`` rows behind it (the register reloads from the FIFO
head first, so order is kept and a row that finds both empty goes straight to the register: no latency).

Stalls (output credits). The array and the post-processing pipeline never stall (``o.ready = 1``: no
clock enable fans out from ``m_axis_tready``). Instead an activation beat that makes output rows
(``last``: ``R`` rows OS, one row WS) is offered to the array only while ``credit >= rows``; ``credit``
(registered, with the registered flag ``cr_ok``) counts the free places of FIFO + output register minus
every row already issued: ``-rows`` when such a beat is taken, ``+1`` when ``m_axis`` takes a result row.
``O_DEPTH`` (a power of two >= ``2 L_max + 4R + C + P + Q + 8``) exceeds the rows that can be in flight
without backpressure, so then ``cr_ok`` stays 1 and nothing waits: the cycle counts are those of the
model. Under backpressure the issue waits once the FIFO is full (``O_DEPTH`` rows buffered); nothing is
lost, duplicated or reordered.

Timing of the control (for Fmax): every loop of the parser, the issue generators and the output side is
a down-counter with a registered ``last`` flag (``Loop``, ``Rows``: the next flag is a constant compare
of the counter, computed when the loop advances), blocks in flight are small occupancy counters
(``a_occ = loaded - released``, ``h_occ``, ``o_pend``), the job constants derived from M, K, N are
registered in cycle 1 of a job (first used in cycle 2), the parameter check is registered in its
unpacker (``Unpacker.check``) and the lane masks are registered; no decision compares wide counters.
None of this changes a cycle count.

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

from amaranth import Array, Cat, Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.engine import OPCODE, OPCODE_CAPS, capability_words
from macforge.golden.requant import MAX_SHIFT
from macforge.golden.engine_config import EngineConfig, OUT_LANE_BITS
from .dsp import ECP5_MUL_WIDTH, RegisteredProduct
from .os_array import OsArray
from .skid import issue_queue
from .ws_array import WsArray


class Unpacker(Elaboratable):
    """``wax``-bit beats -> ``ww``-bit words (see the packing rule in :mod:`macforge.golden.engine`).

    Word side: ``o_valid``/``o_ready``/``o_data``; ``o_end`` (this is the last word taken from its beat),
    ``o_tlast`` (the beat carried ``tlast``); ``flush`` (from the consumer, combinational: this word is the
    final one of its section: drop the rest of the beat and take no further beat). A beat accepted in
    cycle ``t`` offers its first word in ``t + 1``; no beat is taken after a ``tlast`` beat until it has
    been consumed. Words wider than the bus collect ``ceil(ww / wax)`` beats (a ``tlast`` beat ends the
    word early).

    ``check`` (optional): a function of a ``ww``-bit word returning a ``check_width``-bit value;
    ``o_check`` is ``check(o_data)``, but *registered*: it is computed from the beat (and the word collected
    so far) when the beat is taken, so a consumer deciding on it sees a flip-flop, not the logic of
    ``check`` (same cycle as ``o_data``, no extra latency).
    """

    def __init__(self, ww: int, wax: int, check=None, check_width: int = 1):
        self.ww, self.wax = ww, wax
        self.check = check
        self.o_check = Signal(check_width)
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
            with m.If(i_take):
                m.d.sync += [have.eq(1), beat.eq(self.i_data), tl.eq(self.i_last)]
                if per > 1:
                    m.d.sync += idx.eq(0)
            with m.Elif(take):
                with m.If(self.o_end):
                    m.d.sync += have.eq(0)
                if per > 1:
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
            if self.check is not None:      # one registered check per word position of the beat
                cw = len(self.o_check)
                chk = Signal(cw * per)
                with m.If(i_take):
                    m.d.sync += chk.eq(Cat(*[self.check(self.i_data[i * ww:(i + 1) * ww]) for i in range(per)]))
                m.d.comb += self.o_check.eq(chk.word_select(idx, cw) if per > 1 else chk)
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
            if self.check is not None:      # check of the word as it will be after this beat
                nxt = Cat(*[Mux(j == i, self.i_data, word[i * wax:(i + 1) * wax]) for i in range(n)])
                with m.If(i_take):
                    m.d.sync += self.o_check.eq(self.check(nxt[:ww]))
            with m.If(i_take):
                m.d.sync += word.word_select(j, wax).eq(self.i_data)
                with m.If((j == n - 1) | self.i_last):
                    m.d.sync += [full.eq(1), j.eq(0), tl.eq(self.i_last)]
                with m.Else():
                    m.d.sync += [j.eq(j + 1), full.eq(0)]
            with m.Elif(take):
                m.d.sync += full.eq(0)
        return m


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
        wmem = m.submodules.wmem = memory.Memory(shape=e.w_word, depth=max(2, e.w_depth), init=[])
        amem = m.submodules.amem = memory.Memory(shape=e.a_word, depth=2 * e.a_bank_depth, init=[])
        p_wr, w_wr, a_wr = pmem.write_port(), wmem.write_port(), amem.write_port()
        p_rd = pmem.read_port(domain="comb")
        w_rd = wmem.read_port()
        a_rd = amem.read_port()

        # ---------------- unpackers
        def lanes_bad(word):
            """Per lane: its requantization parameters are out of range (S = 0, S > MAX_SHIFT, M0 >= 2^31)."""
            pw = data.ArrayLayout(_lane_layout(), C)(word)
            return Cat(*[(pw[j].shift == 0) | (pw[j].shift > MAX_SHIFT) | pw[j].m0[31] for j in range(C)])

        up_p = m.submodules.up_p = Unpacker(e.p_word, e.axis_width, check=lanes_bad, check_width=C)
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
        h_occ = Signal(3)
        blk_loaded = Signal()       # the final word of an activation block is written (this cycle)
        g_rel = Signal()            # the activation generator reads a block's final word (releases its bank)
        h_rel = Signal()            # the weight generator issues a block's final weight row

        # ---------------- job constants: registered functions of jM, jK, jN (valid from cycle 2, used by
        # the loop reloads from cycle 2 on); ``c_*``: the same, combinational (for the loads in cycle 1)
        KS = 1 if OS else R         # reduction steps per iteration of the K loop (OS: k, WS: a chunk)

        def mb_of(total):
            """``(min(total, B) - 1, min(total, B) == 1)`` (rows of a block, minus one, and its == 0 flag)."""
            return (Mux(total > B, B - 1, total - 1)[:max(1, (B - 1).bit_length())],
                    Mux(total > B, Const(int(B == 1)), total == 1))

        def thermo(total, off=0):
            """Lane mask of a tile: lane ``j`` is below ``total - off`` (``off + j < total``)."""
            return Cat(*[total > off + j for j in range(C)])

        c_tl0, c_cl0, c_bl0 = jN <= C, jK <= KS, jM <= B
        c_mask0 = thermo(jN)
        c_mb1, c_mb1z = mb_of(jM)
        j_tl0, j_cl0, j_bl0, j_mb1z = Signal(), Signal(), Signal(), Signal()
        j_mask0 = Signal(C)
        j_mb1 = Signal(range(max(B, 2)))
        m.d.sync += [j_tl0.eq(c_tl0), j_cl0.eq(c_cl0), j_bl0.eq(c_bl0), j_mask0.eq(c_mask0), j_mb1.eq(c_mb1),
                     j_mb1z.eq(c_mb1z)]

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
                return [self.rem.eq(self.rem - self.step), self.last.eq(self.rem <= 2 * self.step)]

            def next_mb(self):
                """Block loops: ``mb_of`` of the next block (from ``rem`` of the current one)."""
                big = self.rem > 2 * B
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
        lr = Rows("l")
        l_mb1, l_mb1z = Signal(range(max(B, 2))), Signal()   # WS: rows of the current block - 1, == 0
        l_bank = Signal()           # bank of the block being loaded
        D = e.a_bank_depth
        l_addr = Signal(range(max(e.w_depth, 2 * D, e.nt_max) + 1))
        with m.If(setup):           # the parameter section's tile loop
            m.d.sync += [*ln.load(jN, c_tl0), l_mask.eq(c_mask0)]

        def consume(m, u, sec_last, final, on_word):
            """Common word handling: flush at section end, truncation / long-packet checks."""
            m.d.comb += u.flush.eq(sec_last)
            with m.If(u.o_valid & u.o_ready):
                on_word()
                with m.If(u.o_tlast & u.o_end & ~final):
                    m.d.sync += [err.eq(1), code.eq(4)]
                    m.next = "WAIT"
                with m.Elif(final):
                    with m.If(~u.o_tlast):
                        m.d.sync += [err.eq(1), code.eq(5)]
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "WAIT"

        caps = capability_words(e)
        n_caps = len(caps)
        caps_i = Signal(range(n_caps))
        p_free_early = Signal()      # = p_free (the output register is free), defined with it below
        with m.FSM(name="parser") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.s_axis_tready.eq(1)
                with m.If(self.s_axis_tvalid):
                    # jK counts reduction steps: K, or ceil(K/g) groups for the tMAC
                    k_steps = (h_K + (a.g - 1)) >> (a.g.bit_length() - 1) if TMAC else h_K
                    m.d.sync += [jM.eq(h_M), jK.eq(k_steps), jN.eq(h_N), relu.eq(h_relu), requant.eq(h_rq),
                                 prec.eq(Mux(h_p == 0, a.a_width, h_p)), err.eq(h_code != 0),
                                 code.eq(h_code), l_addr.eq(0), l_bank.eq(0)]
                    with m.If((h_code == 0) & h_caps):
                        m.d.sync += caps_i.eq(0)
                        m.next = "CAPS"
                    with m.Elif(h_code == 0):
                        m.next = "BUDGET" if TMAC else "PARAM"
                    with m.Elif(self.s_axis_tlast):
                        m.next = "WAIT"
                    with m.Else():
                        m.next = "DRAIN"
            if TMAC:
                with m.State("BUDGET"):
                    # tMAC budget word: [7:0] k, [11:8] k_x, [12] hese; 0 selects the build maximum
                    b_k, b_kx, b_h = hdr[0:8], hdr[8:12], hdr[12]
                    bad = (b_k > a.k_max) | ((b_kx > a.kx_max) if a.kx_max < 15 else Const(0))
                    if a.encodings == ("binary",):
                        bad = bad | b_h
                    elif a.encodings == ("hese",):
                        bad = bad | ~b_h
                    m.d.comb += self.s_axis_tready.eq(1)
                    with m.If(self.s_axis_tvalid):
                        m.d.sync += [j_k.eq(Mux(b_k == 0, a.k_max, b_k)),
                                     j_kx.eq(Mux(b_kx == 0, a.kx_max, b_kx)), j_hese.eq(b_h)]
                        with m.If(bad):
                            m.d.sync += [err.eq(1), code.eq(6)]
                            m.next = "DRAIN"
                            with m.If(self.s_axis_tlast):
                                m.next = "WAIT"
                        with m.Elif(self.s_axis_tlast):
                            m.d.sync += [err.eq(1), code.eq(4)]
                            m.next = "WAIT"
                        with m.Else():
                            m.next = "PARAM"
            with m.State("PARAM"):
                m.d.comb += [up_p.i_valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(up_p.i_ready),
                             up_p.o_ready.eq(1), p_wr.addr.eq(l_addr), p_wr.data.eq(up_p.o_data)]

                def on_p():
                    m.d.comb += p_wr.en.eq(1)
                    with m.If(ln.last):
                        m.d.sync += [l_addr.eq(0), *ln.load(jN, j_tl0), *lk.load(jK, j_cl0), *lr.load(R - 1, R == 1)]
                        m.next = "WGT"
                    with m.Else():
                        m.d.sync += [l_addr.eq(l_addr + 1), *ln.advance(), l_mask.eq(thermo(ln.rem, C))]
                # requantization parameters of the channels < N: S in 1..MAX_SHIFT, M0 < 2^31 (else error 7:
                # the rest of the packet is discarded, then the error beat); raw jobs ignore M0 and S.
                # The per-lane checks are registered in the unpacker (up_p.o_check), the lanes < N are l_mask.
                bad_p = Signal()
                m.d.comb += bad_p.eq(requant & (up_p.o_check & l_mask).any())
                consume(m, up_p, ln.last | bad_p, Const(0), on_p)
                with m.If(up_p.o_valid & up_p.o_ready & bad_p):
                    m.d.sync += [err.eq(1), code.eq(7)]
                    with m.If(up_p.o_tlast & up_p.o_end):
                        m.next = "WAIT"
                    with m.Else():
                        m.next = "DRAIN"
            with m.State("WGT"):
                m.d.comb += [up_w.i_valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(up_w.i_ready),
                             up_w.o_ready.eq(1), w_wr.addr.eq(l_addr)]
                if OS:
                    m.d.comb += w_wr.data.eq(up_w.o_data)
                else:
                    # K padding (WS): the last chunk's rows r >= K - (kc-1) R are stored as zero whatever
                    # the packet carries, so padding lanes never reach a result (lk.rem = the chunk's valid
                    # rows there, 1..R; this row is r = R-1-rd)
                    kr = lk.rem[:R.bit_length() + 1]
                    pad_row = Signal()
                    m.d.comb += [pad_row.eq(lk.last & (lr.rd + kr < R)),
                                 w_wr.data.eq(Mux(pad_row, 0, up_w.o_data))]
                grp_last = lk.last if OS else lr.rl & lk.last
                sec_last = Signal()
                m.d.comb += sec_last.eq(grp_last & ln.last)

                def on_w():
                    m.d.comb += w_wr.en.eq(1)
                    m.d.sync += l_addr.eq(l_addr + 1)
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
                        if not OS:
                            m.d.sync += [l_mb1.eq(j_mb1), l_mb1z.eq(j_mb1z), *lr.load(j_mb1, j_mb1z)]
                        m.next = "ACT"
                consume(m, up_w, sec_last, Const(0), on_w)
            with m.State("ACT"):
                room = Signal()
                m.d.comb += room.eq(~a_occ[1])       # loaded < released + 2
                m.d.comb += [up_a.i_valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(up_a.i_ready),
                             up_a.o_ready.eq(room), a_wr.addr.eq(l_addr), a_wr.data.eq(up_a.o_data)]
                blk_end = lk.last if OS else lr.rl & lk.last
                sec_last = Signal()
                final = Signal()
                m.d.comb += [sec_last.eq(blk_end), final.eq(blk_end & lm.last)]

                def on_a():
                    m.d.comb += a_wr.en.eq(1)
                    m.d.sync += l_addr.eq(l_addr + 1)
                    if OS:
                        m.d.sync += lk.advance()
                    else:
                        with m.If(lr.rl):
                            m.d.sync += [*lr.load(l_mb1, l_mb1z), *lk.advance()]
                        with m.Else():
                            m.d.sync += lr.dec()
                    with m.If(blk_end):
                        m.d.comb += blk_loaded.eq(1)
                        m.d.sync += [l_addr.eq(Mux(l_bank, 0, D)), l_bank.eq(~l_bank), *lk.load(jK, j_cl0),
                                     *lm.advance()]
                        if not OS:
                            nmb1, nmb1z = lm.next_mb()
                            m.d.sync += [l_mb1.eq(nmb1), l_mb1z.eq(nmb1z), *lr.load(nmb1, nmb1z)]
                consume(m, up_a, sec_last, final, on_a)
            with m.State("CAPS"):
                # capabilities: one m_axis beat per word (lane 0), tlast on the last (output side below)
                with m.If(p_free_early):
                    m.d.sync += caps_i.eq(caps_i + 1)
                    with m.If(caps_i == n_caps - 1):
                        m.next = "IDLE"
            with m.State("DRAIN"):
                m.d.comb += self.s_axis_tready.eq(1)
                with m.If(self.s_axis_tvalid & self.s_axis_tlast):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(job_done):
                    m.next = "IDLE"
        p_wait = fsm.ongoing("WAIT")
        p_caps = fsm.ongoing("CAPS")
        p_idle = fsm.ongoing("IDLE")
        m.d.comb += self.status.eq(Cat(~p_idle, err, Const(0, 2), code))
        m.d.comb += start.eq(p_idle & self.s_axis_tvalid)
        with m.If(start):
            m.d.sync += [a_occ.eq(0), h_occ.eq(0)]
        with m.Else():
            m.d.sync += [a_occ.eq(a_occ + blk_loaded - g_rel), h_occ.eq(h_occ + blk_loaded - h_rel)]

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
        O_DEPTH = 1 << (2 * Lmax + 4 * R + C + a.pipe_latency + Q + 8 - 1).bit_length()
        credit = Signal(range(O_DEPTH + 2), init=O_DEPTH + 1)
        cr_ok = Signal(init=1)              # credit >= ROWS_PER_LAST (registered)
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
        cr_next = Signal(range(O_DEPTH + 2))
        m.d.comb += cr_next.eq(credit + cr_ret - Mux(s_take & arr.s.payload.last, ROWS_PER_LAST, 0))
        m.d.sync += [credit.eq(cr_next), cr_ok.eq(cr_next >= ROWS_PER_LAST)]
        g_have = Signal()
        m.d.comb += g_have.eq(~g_done & a_occ.any())     # g_blk < loaded
        m.d.comb += g_rd.eq(adv & g_have)
        m.d.comb += [a_rd.en.eq(1), a_rd.addr.eq(g_addr)]     # always enabled: the stage is valid only after g_rd
        g_base = Mux(g_bank, D, 0)
        if OS:
            m.d.comb += [w_rd.en.eq(1), w_rd.addr.eq(g_waddr)]
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
        s_beat = Signal(arr.s.payload.shape(), name="s_beat")
        if OS:
            m.d.comb += [s_beat.a.eq(a_rd.data), s_beat.w.eq(w_rd.data),
                         s_beat.first.eq(s_first), s_beat.last.eq(s_last)]
        else:
            m.d.comb += [s_beat.a.eq(a_rd.data),
                         s_beat.first.eq(s_first), s_beat.last.eq(s_last), s_beat.tlast.eq(s_tlast)]
        s_room, s_qtake, s_qne_ = issue_queue(m, arr.s, sv, s_beat, g_rd, e.issue_depth, name="s",
                                              gate=~arr.s.payload.last | cr_ok)
        m.d.comb += [adv.eq(s_room), s_take.eq(s_qtake), s_qne.eq(s_qne_)]
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
            m.d.comb += [w_rd.en.eq(1), w_rd.addr.eq(h_addr)]
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
            w_room, _, _ = issue_queue(m, arr.w, wv, w_rd.data, h_rd, e.issue_depth, name="w")
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
        o_pend = Signal(DW + 1)              # blocks issued whose rows are not all out (g_blk - o_blk)
        o_pt = Signal(range(e.nt_max + 1))
        o_final = Signal()
        m.d.comb += o_final.eq(orow.rl & on.last & om.last)
        m.d.comb += p_rd.addr.eq(o_pt)
        pv = Signal()
        pdata = Signal(e.out_width)
        plast, puser = Signal(), Signal()
        m.d.comb += [self.m_axis_tvalid.eq(pv), self.m_axis_tdata.eq(pdata), self.m_axis_tlast.eq(plast),
                     self.m_axis_tuser.eq(puser)]
        p_free = Signal()                    # the output register is free (or being emptied)
        m.d.comb += p_free.eq(~pv | self.m_axis_tready)
        m.d.comb += arr.o.ready.eq(1)        # never stalls: output credits (above)
        # output FIFO behind the output register (rows that arrive while it is occupied); the
        # post-processing pipeline never stalls either
        ofifo = m.submodules.ofifo = memory.Memory(shape=e.out_width + 1, depth=O_DEPTH, init=[])
        f_wr = ofifo.write_port()
        f_rd = ofifo.read_port(domain="comb")
        f_wa, f_ra = Signal(range(O_DEPTH)), Signal(range(O_DEPTH))
        f_cnt = Signal(range(O_DEPTH + 1))
        f_ne = Signal()                      # f_cnt != 0 (registered)
        m.d.comb += [f_rd.addr.eq(f_ra), f_wr.addr.eq(f_wa)]
        m.d.comb += p_free_early.eq(p_free & ~f_ne)

        aw = a.a_width
        hi = (1 << (aw - 1)) - 1
        lo = Mux(relu, 0, -(1 << (aw - 1)))
        Q = e.post_pipe              # pipelining option: 6 registered post-processing stages (or 0)
        o_take = Signal()
        m.d.comb += o_take.eq(arr.o.valid & arr.o.ready)
        adv = Const(1)               # the post pipeline never stalls (output credits)

        def clamp(m, sh, name):
            # compares against the constant bounds as reductions of the bits above aw-1 (no carry chain):
            # sh > hi <=> sh >= 2^(aw-1); sh < -2^(aw-1); with ReLU lo = 0: sh < 0
            q = Signal(signed(32), name=name)
            neg, top = sh[-1], sh[aw - 1:-1]
            with m.If(~neg & top.any()):
                m.d.comb += q.eq(hi)
            with m.Elif(neg & (relu | ~top.all())):
                m.d.comb += q.eq(lo)
            with m.Else():
                m.d.comb += q.eq(sh)
            return q

        wv = max(a.acc_width, 32) + 1          # v = y + bias, exact
        lanes = []
        stage_valid = []
        for j in range(C):
            prm = p_rd.data[j]
            y = arr.o.payload.y[j]
            v = Signal(signed(wv), name=f"v{j}")
            m.d.comb += v.eq(y + prm.bias)
            # padding is zero: lanes past N (last tile) and, OS, rows past M (last block)
            keep = Signal(name=f"keep{j}")
            m.d.comb += keep.eq(o_mask[j] & (o_rv if OS else Const(1)))
            if Q == 0:
                s6 = Signal(6, name=f"s{j}")
                m.d.comb += s6.eq(prm.shift[:6])
                prod = Signal(signed(72), name=f"prod{j}")
                m.d.comb += prod.eq(v * Cat(prm.m0[:31], Const(0, 1)).as_signed())
                rnd = Signal(64, name=f"rnd{j}")
                m.d.comb += rnd.eq(Const(1, 1) << (s6 - 1)[:6])
                sh = Signal(signed(72), name=f"sh{j}")
                m.d.comb += sh.eq((prod + rnd) >> s6)
                q = clamp(m, sh, f"q{j}")
                lanes.append(Mux(keep, Mux(requant, q, v[:32]), 0))
                continue
            # ---- Q = 6 registered stages (all advance together with the output register):
            # 1: v, M0, S   2: four partial products v_lo/v_hi x M0_lo/M0_hi (one 18x18 DSP each)
            # 3: two partial sums   4: v*M0 + 2^(S-1)   5: >> S   6: clamp (and the raw / padding select)
            def reg(shape, name, d):
                r = Signal(shape, name=name)
                with m.If(adv):
                    m.d.sync += r.eq(d)
                return r
            v1 = reg(signed(wv), f"v1_{j}", v)
            m1 = reg(31, f"m1_{j}", prm.m0[:31])
            s1 = reg(6, f"s1_{j}", prm.shift[:6])
            k1 = reg(1, f"k1_{j}", keep)
            vlo, vhi = v1[:17], v1[17:].as_signed()
            mlo, mhi = m1[:16], m1[16:31]
            if wv - 17 <= ECP5_MUL_WIDTH:
                # each partial product a RegisteredProduct of the stage-1 registers (ECP5 target: a
                # MULT18X18D with its input and output registers; unsigned parts zero-extended)
                def product(name, x, x_d, y, y_d):
                    rp = m.submodules[f"{name}_{j}"] = RegisteredProduct(len(x), len(y))
                    m.d.comb += [rp.en.eq(adv), rp.a.eq(x), rp.a_d.eq(x_d), rp.b.eq(y), rp.b_d.eq(y_d)]
                    return rp.p

                def zx(x):
                    return Cat(x, Const(0, 1)).as_signed()
                vlo_d, vhi_d = v[:17], v[17:].as_signed()
                mlo_d, mhi_d = prm.m0[:16], prm.m0[16:31]
                p00 = product("p00", zx(vlo), zx(vlo_d), zx(mlo), zx(mlo_d)).as_unsigned()[:33]
                p01 = product("p01", zx(vlo), zx(vlo_d), zx(mhi), zx(mhi_d)).as_unsigned()[:32]
                p10 = product("p10", vhi, vhi_d, zx(mlo), zx(mlo_d))
                p11 = product("p11", vhi, vhi_d, zx(mhi), zx(mhi_d))
            else:
                p00 = reg(unsigned(33), f"p00_{j}", vlo * mlo)
                p01 = reg(unsigned(32), f"p01_{j}", vlo * mhi)
                p10 = reg(signed(wv - 17 + 17), f"p10_{j}", vhi * mlo)
                p11 = reg(signed(wv - 17 + 16), f"p11_{j}", vhi * mhi)
            v2, s2, k2 = reg(signed(wv), f"v2_{j}", v1), reg(6, f"s2_{j}", s1), reg(1, f"k2_{j}", k1)
            pa = reg(unsigned(49), f"pa_{j}", p00 + (p01 << 16))
            pb = reg(signed(72), f"pb_{j}", (p10 << 17) + (p11 << 33))
            v3, s3, k3 = reg(signed(wv), f"v3_{j}", v2), reg(6, f"s3_{j}", s2), reg(1, f"k3_{j}", k2)
            rnd = Signal(64, name=f"rnd{j}")
            m.d.comb += rnd.eq(Const(1, 1) << (s3 - 1)[:6])
            pr = reg(signed(72), f"pr_{j}", pa + pb + rnd)
            v4, s4, k4 = reg(signed(wv), f"v4_{j}", v3), reg(6, f"s4_{j}", s3), reg(1, f"k4_{j}", k3)
            sh = reg(signed(72), f"sh_{j}", pr >> s4)
            v5, k5 = reg(signed(wv), f"v5_{j}", v4), reg(1, f"k5_{j}", k4)
            q = clamp(m, sh, f"q{j}")
            # 6: the clamped (or raw, or zero padding) lane, registered: the clamp's reduction ends in a
            # flip-flop, and the output register / FIFO write data start at one
            lanes.append(reg(signed(32), f"lane6_{j}", Mux(k5, Mux(requant, q, v5[:32]), 0)))
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
            m.d.comb += [out_fire.eq(vals[-1] & adv), out_last.eq(lasts[-1]),
                         pipe_empty.eq(~Cat(*vals[1:]).any())]

        fin_err_sent = Signal()
        with m.If(start):
            m.d.sync += fin_err_sent.eq(0)
        with m.If(self.m_axis_tready & pv):
            m.d.sync += pv.eq(0)
        # stop: all blocks issued, or an error with nothing more to load
        stopped = Signal()
        m.d.comb += stopped.eq(g_done | (err & p_wait & ~a_occ.any()))      # g_blk == loaded
        drained = Signal()
        m.d.comb += drained.eq(stopped & ~o_pend.any() & ~sv & ~s_qne & ~pv & pipe_empty & ~f_ne)
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
                        nv = Mux(om.rem > 2 * R, R, om.rem - R)[:len(o_vr)]
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
                v0 = Mux(jM > R, R, jM)[:len(o_vr)]
                m.d.sync += [*orow.load(R - 1, R == 1), o_vr.eq(v0), o_vc.eq(v0), o_rv.eq(1)]
            else:
                m.d.sync += [o_mb1.eq(c_mb1), o_mb1z.eq(c_mb1z), *orow.load(c_mb1, c_mb1z)]
        with m.If(start):
            m.d.sync += o_pend.eq(0)
        with m.Else():
            m.d.sync += o_pend.eq(o_pend + g_rel - o_bdone)
        # output register <- FIFO head (when the FIFO holds rows), else a new row directly; a new row
        # that cannot go to the output register goes to the FIFO
        p_data = Signal()                    # the output register holds a result row (returns a credit)
        new_row = Cat(*[l.as_unsigned()[:OUT_LANE_BITS] for l in lanes])
        pop = Signal()
        push = Signal()
        m.d.comb += [pop.eq(p_free & f_ne), push.eq(out_fire & (f_ne | ~p_free)),
                     cr_ret.eq(pv & self.m_axis_tready & p_data), f_wr.en.eq(push), f_wr.data.eq(Cat(new_row, out_last))]
        with m.If(push):
            m.d.sync += f_wa.eq(f_wa + 1)        # O_DEPTH is a power of two
        with m.If(pop):
            m.d.sync += f_ra.eq(f_ra + 1)
        f_cnt_next = Signal(range(O_DEPTH + 1))
        m.d.comb += f_cnt_next.eq(f_cnt + push - pop)
        m.d.sync += [f_cnt.eq(f_cnt_next), f_ne.eq(f_cnt_next != 0)]
        # output register sources, in priority order: FIFO head, a new row, a capabilities word, the
        # error beat. The source is chosen by flip-flops only (f_ne, the post pipeline's valid, the
        # state); ``m_axis_tready`` enters only the load enable (``p_free``), so it never passes
        # through the data select of the wide register. (The error beat needs ``drained``, i.e. an
        # empty output register, FIFO and post pipeline, so no other source competes with it.)
        err_beat = Signal()
        m.d.comb += err_beat.eq(drained & err & ~fin_err_sent & p_wait)
        caps_word = Array([Const(w, 32) for w in caps])[caps_i]
        p_load = Signal()
        m.d.comb += p_load.eq((p_free & (f_ne | out_fire | p_caps)) | err_beat)
        with m.If(p_load):
            m.d.sync += [
                pv.eq(1),
                pdata.eq(Mux(f_ne, f_rd.data[:e.out_width], Mux(out_fire, new_row, Mux(p_caps, caps_word, code)))),
                plast.eq(Mux(f_ne, f_rd.data[e.out_width], Mux(out_fire, out_last, ~p_caps | (caps_i == n_caps - 1)))),
                puser.eq(~f_ne & ~out_fire & ~p_caps),
                p_data.eq(f_ne | out_fire),
            ]
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
