"""Layer engine: the systolic array plus buffers, a tiling controller, bias/requantization and AXI4-Stream.

Packet format (command word, sections, word packing, output rows, error beat): :mod:`macforge.golden.engine`.
Configuration and buffer sizes: :mod:`macforge.golden.engine_config`.

Structure::

    s_axis -> parser -> unpackers (params / weights / activations) -> P, W, A[2] buffers
    A[bank], W --(issue generators, 1-cycle read stage)--> array --> post (bias, requant) -> m_axis

Loading (parser, one ``s_axis`` beat per cycle at most). State ``IDLE`` takes the command word (only when
the previous job is completely finished), then ``PARAM``, ``WGT``, ``ACT`` consume *words* from three
:class:`Unpacker` s (one per word width; a section's final word flushes the rest of its beat and does not
let the unpacker take the next beat, so the next section starts on a fresh beat in its own unpacker,
costing one bubble cycle). Activation block ``b`` goes to bank ``b mod 2`` and may start only when block
``b - 2`` has been released by the issue side (``b < released + 2``): **double buffering** -- block
``b + 1`` loads while block ``b`` computes.

Issue. Block ``b`` is issued when it is completely loaded (``b < loaded``). OS: for each output tile
``t``, ``K`` beats ``(A[bank][k], W[t*K + k])`` with ``first``/``last`` on ``k = 0``/``K-1``. WS: a
weight generator streams ``W[t*Kp + c*R + r]`` rows (it may run ahead: the array's weight double buffer
gates it) and an activation generator streams, per tile and K-chunk ``c``, the block's ``mb`` words
``A[bank][c*mb + m]`` (``first`` on ``c = 0``, ``last`` on the final chunk, ``tlast`` on ``m = mb-1``).
Each generator owns a synchronous memory read port and one output register (*stage*): a new address is
read whenever the stage is empty or its beat is taken, so the array sees one beat per cycle. The bank is
released when its final word has been read.

Post-processing (one cycle, C lanes in parallel, on each array output row): ``v = y + bias`` (33 bits),
then for requant jobs ``clamp((v * M0 + 2^(S-1)) >> S, lo, hi)`` with a 66-bit product and an
arithmetic shift, exactly :func:`macforge.golden.requant.requantize` (``lo = 0`` with ReLU, else ``-2^(a-1)``),
else ``v`` as int32. The result row waits in the output register (``m_axis``); the array stalls while
it is not taken (``o.ready = ~m_axis_tvalid | m_axis_tready``).

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

from amaranth import Array, Cat, Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.engine import OPCODE, OPCODE_CAPS, capability_words
from macforge.golden.requant import MAX_SHIFT
from macforge.golden.engine_config import EngineConfig, OUT_LANE_BITS
from .os_array import OsArray
from .ws_array import WsArray


class Unpacker(Elaboratable):
    """``wax``-bit beats -> ``ww``-bit words (see the packing rule in :mod:`macforge.golden.engine`).

    Word side: ``o_valid``/``o_ready``/``o_data``; ``o_end`` (this is the last word taken from its beat),
    ``o_tlast`` (the beat carried ``tlast``); ``flush`` (from the consumer, combinational: this word is the
    final one of its section: drop the rest of the beat and take no further beat). A beat accepted in
    cycle ``t`` offers its first word in ``t + 1``; no beat is taken after a ``tlast`` beat until it has
    been consumed. Words wider than the bus collect ``ceil(ww / wax)`` beats (a ``tlast`` beat ends the
    word early).
    """

    def __init__(self, ww: int, wax: int):
        self.ww, self.wax = ww, wax
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
        up_p = m.submodules.up_p = Unpacker(e.p_word, e.axis_width)
        up_w = m.submodules.up_w = Unpacker(e.w_word, e.axis_width)
        up_a = m.submodules.up_a = Unpacker(e.a_word, e.axis_width)
        for u in (up_p, up_w, up_a):
            m.d.comb += [u.i_data.eq(self.s_axis_tdata), u.i_last.eq(self.s_axis_tlast)]

        loaded = Signal(DW + 1)     # activation blocks completely loaded in this job
        released = Signal(DW + 1)   # blocks whose bank the issue side has finished reading
        job_done = Signal()         # compute side: everything (incl. error beat) delivered

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

        # load-side loop counters
        l_n0 = Signal(DW + 1)       # first column of the current tile
        l_k = Signal(DW + 1)        # OS: k; WS: k0 of the chunk
        l_r = Signal(range(max(R, B) + 1))   # WS: row r within the chunk (weights) / m within block (acts)
        l_m0 = Signal(DW + 1)       # first row of the current block
        l_addr = Signal(range(max(e.w_depth, e.a_bank_depth, e.nt_max) + 1))
        l_mb = Signal(range(B + 1))  # rows in the current block (WS)
        rest = Signal(DW + 1)
        m.d.comb += rest.eq(jM - l_m0)
        m.d.comb += l_mb.eq(Mux(rest > B, B, rest))
        tile_last = Signal()
        m.d.comb += tile_last.eq(l_n0 + C >= jN)
        block_last = Signal()
        m.d.comb += block_last.eq(l_m0 + B >= jM)
        chunk_last = Signal()
        m.d.comb += chunk_last.eq(l_k + R >= jK)

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
                                 code.eq(h_code), loaded.eq(0), l_n0.eq(0), l_k.eq(0), l_r.eq(0),
                                 l_m0.eq(0), l_addr.eq(0)]
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
                    with m.If(tile_last):
                        m.d.sync += [l_addr.eq(0), l_n0.eq(0)]
                        m.next = "WGT"
                    with m.Else():
                        m.d.sync += [l_addr.eq(l_addr + 1), l_n0.eq(l_n0 + C)]
                # requantization parameters of the channels < N: S in 1..MAX_SHIFT, M0 < 2^31 (else error 7:
                # the rest of the packet is discarded, then the error beat); raw jobs ignore M0 and S
                pw = data.ArrayLayout(_lane_layout(), C)(up_p.o_data)
                bad_p = Signal()
                m.d.comb += bad_p.eq(requant & Cat(*[(l_n0 + j < jN) & ((pw[j].shift == 0) | (pw[j].shift > MAX_SHIFT)
                                                                       | pw[j].m0[31]) for j in range(C)]).any())
                consume(m, up_p, tile_last | bad_p, Const(0), on_p)
                with m.If(up_p.o_valid & up_p.o_ready & bad_p):
                    m.d.sync += [err.eq(1), code.eq(7)]
                    with m.If(up_p.o_tlast & up_p.o_end):
                        m.next = "WAIT"
                    with m.Else():
                        m.next = "DRAIN"
            with m.State("WGT"):
                m.d.comb += [up_w.i_valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(up_w.i_ready),
                             up_w.o_ready.eq(1), w_wr.addr.eq(l_addr), w_wr.data.eq(up_w.o_data)]
                if OS:
                    grp_last = l_k == jK - 1
                else:
                    grp_last = (l_r == R - 1) & chunk_last
                sec_last = Signal()
                m.d.comb += sec_last.eq(grp_last & tile_last)

                def on_w():
                    m.d.comb += w_wr.en.eq(1)
                    m.d.sync += l_addr.eq(l_addr + 1)
                    if OS:
                        m.d.sync += l_k.eq(Mux(grp_last, 0, l_k + 1))
                    else:
                        with m.If(l_r == R - 1):
                            m.d.sync += [l_r.eq(0), l_k.eq(Mux(chunk_last, 0, l_k + R))]
                        with m.Else():
                            m.d.sync += l_r.eq(l_r + 1)
                    with m.If(grp_last):
                        m.d.sync += l_n0.eq(l_n0 + C)
                    with m.If(sec_last):
                        m.d.sync += [l_addr.eq(0), l_k.eq(0), l_r.eq(0), l_n0.eq(0)]
                        m.next = "ACT"
                consume(m, up_w, sec_last, Const(0), on_w)
            with m.State("ACT"):
                bank = loaded[0]
                room = Signal()
                m.d.comb += room.eq(loaded < released + 2)
                m.d.comb += [up_a.i_valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(up_a.i_ready),
                             up_a.o_ready.eq(room),
                             a_wr.addr.eq(Mux(bank, e.a_bank_depth, 0) + l_addr), a_wr.data.eq(up_a.o_data)]
                if OS:
                    blk_end = l_k == jK - 1
                else:
                    blk_end = (l_r == l_mb - 1) & chunk_last
                sec_last = Signal()
                final = Signal()
                m.d.comb += [sec_last.eq(blk_end), final.eq(blk_end & block_last)]

                def on_a():
                    m.d.comb += a_wr.en.eq(1)
                    m.d.sync += l_addr.eq(l_addr + 1)
                    if OS:
                        m.d.sync += l_k.eq(l_k + 1)
                    else:
                        with m.If(l_r == l_mb - 1):
                            m.d.sync += [l_r.eq(0), l_k.eq(l_k + R)]
                        with m.Else():
                            m.d.sync += l_r.eq(l_r + 1)
                    with m.If(blk_end):
                        m.d.sync += [loaded.eq(loaded + 1), l_addr.eq(0), l_k.eq(0), l_r.eq(0),
                                     l_m0.eq(l_m0 + B)]
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

        # ================= issue generators =================
        def gen_counters(prefix):
            return (Signal(DW + 1, name=f"{prefix}_blk"), Signal(DW + 1, name=f"{prefix}_m0"),
                    Signal(DW + 1, name=f"{prefix}_n0"), Signal(DW + 1, name=f"{prefix}_k"),
                    Signal(range(max(R, B) + 1), name=f"{prefix}_r"),
                    Signal(range(max(e.w_depth, e.a_bank_depth) + 1), name=f"{prefix}_addr"),
                    Signal(name=f"{prefix}_done"))

        start = Signal()   # command word accepted: reset the generators
        m.d.comb += start.eq(p_idle & self.s_axis_tvalid)

        # --- activation generator (OS: also weights) feeding array.s
        g_blk, g_m0, g_n0, g_k, g_r, g_addr, g_done = gen_counters("g")
        g_waddr = Signal(range(e.w_depth + 1))
        sv = Signal()                       # stage valid
        s_first, s_last, s_tlast = Signal(), Signal(), Signal()
        s_take = Signal()
        m.d.comb += s_take.eq(sv & arr.s.ready)
        adv = Signal()
        m.d.comb += adv.eq(~sv | s_take)
        g_have = Signal()
        m.d.comb += g_have.eq(~g_done & (g_blk < loaded))
        g_rest = Signal(DW + 1)
        g_mb = Signal(range(B + 1))
        m.d.comb += [g_rest.eq(jM - g_m0), g_mb.eq(Mux(g_rest > B, B, g_rest))]
        g_tile_last = Signal()
        m.d.comb += g_tile_last.eq(g_n0 + C >= jN)
        g_blk_last = Signal()
        m.d.comb += g_blk_last.eq(g_m0 + B >= jM)
        m.d.comb += [a_rd.en.eq(adv), a_rd.addr.eq(Mux(g_blk[0], e.a_bank_depth, 0) + g_addr)]
        if OS:
            m.d.comb += [w_rd.en.eq(adv), w_rd.addr.eq(g_waddr)]
            g_first = g_k == 0
            g_lst = g_k == jK - 1
            g_sweep_end = g_lst
        else:
            g_chunk_last = Signal()
            m.d.comb += g_chunk_last.eq(g_k + R >= jK)
            g_first = g_k == 0
            g_lst = g_chunk_last
            g_sweep_end = (g_r == g_mb - 1) & g_chunk_last
        g_blk_end = Signal()
        m.d.comb += g_blk_end.eq(g_sweep_end & g_tile_last)
        with m.If(start):
            m.d.sync += [g_blk.eq(0), g_m0.eq(0), g_n0.eq(0), g_k.eq(0), g_r.eq(0), g_addr.eq(0),
                         g_waddr.eq(0), g_done.eq(0), released.eq(0), sv.eq(0)]
        with m.Elif(adv):
            m.d.sync += sv.eq(g_have)
            with m.If(g_have):
                m.d.sync += [s_first.eq(g_first), s_last.eq(g_lst),
                             s_tlast.eq(g_r == g_mb - 1 if not OS else 0)]
                if OS:
                    m.d.sync += [g_k.eq(Mux(g_lst, 0, g_k + 1)), g_addr.eq(Mux(g_lst, 0, g_addr + 1)),
                                 g_waddr.eq(g_waddr + 1)]
                else:
                    with m.If(g_r == g_mb - 1):
                        m.d.sync += [g_r.eq(0), g_k.eq(Mux(g_chunk_last, 0, g_k + R))]
                    with m.Else():
                        m.d.sync += g_r.eq(g_r + 1)
                    m.d.sync += g_addr.eq(Mux(g_sweep_end, 0, g_addr + 1))
                with m.If(g_sweep_end):
                    m.d.sync += g_n0.eq(g_n0 + C)
                with m.If(g_blk_end):
                    m.d.sync += [g_n0.eq(0), g_blk.eq(g_blk + 1), g_m0.eq(g_m0 + B), released.eq(released + 1),
                                 g_waddr.eq(0)]
                    with m.If(g_blk_last):
                        m.d.sync += g_done.eq(1)
        if OS:
            m.d.comb += [arr.s.valid.eq(sv), arr.s.payload.a.eq(a_rd.data), arr.s.payload.w.eq(w_rd.data),
                         arr.s.payload.first.eq(s_first), arr.s.payload.last.eq(s_last)]
        else:
            m.d.comb += [arr.s.valid.eq(sv), arr.s.payload.a.eq(a_rd.data),
                         arr.s.payload.first.eq(s_first), arr.s.payload.last.eq(s_last),
                         arr.s.payload.tlast.eq(s_tlast)]
            # --- WS weight generator feeding array.w
            h_blk, h_m0, h_n0, h_k, h_r, h_addr, h_done = gen_counters("h")
            wv = Signal()
            w_take = Signal()
            m.d.comb += w_take.eq(wv & arr.w.ready)
            wadv = Signal()
            m.d.comb += wadv.eq(~wv | w_take)
            h_have = Signal()
            m.d.comb += h_have.eq(~h_done & (h_blk < loaded))
            m.d.comb += [w_rd.en.eq(wadv), w_rd.addr.eq(h_addr)]
            h_chunk_last = Signal()
            m.d.comb += h_chunk_last.eq(h_k + R >= jK)
            h_blk_end = Signal()
            m.d.comb += h_blk_end.eq((h_r == R - 1) & h_chunk_last & (h_n0 + C >= jN))
            with m.If(start):
                m.d.sync += [h_blk.eq(0), h_m0.eq(0), h_n0.eq(0), h_k.eq(0), h_r.eq(0), h_addr.eq(0),
                             h_done.eq(0), wv.eq(0)]
            with m.Elif(wadv):
                m.d.sync += wv.eq(h_have)
                with m.If(h_have):
                    m.d.sync += h_addr.eq(h_addr + 1)
                    with m.If(h_r == R - 1):
                        m.d.sync += [h_r.eq(0), h_k.eq(Mux(h_chunk_last, 0, h_k + R))]
                        with m.If(h_chunk_last):
                            m.d.sync += h_n0.eq(h_n0 + C)
                    with m.Else():
                        m.d.sync += h_r.eq(h_r + 1)
                    with m.If(h_blk_end):
                        m.d.sync += [h_n0.eq(0), h_addr.eq(0), h_blk.eq(h_blk + 1), h_m0.eq(h_m0 + B)]
                        with m.If(h_m0 + B >= jM):
                            m.d.sync += h_done.eq(1)
            m.d.comb += [arr.w.valid.eq(wv), arr.w.payload.eq(w_rd.data)]

        # ================= output side: post-processing, m_axis =================
        o_blk, o_m0, o_n0, o_r = (Signal(DW + 1, name="o_blk"), Signal(DW + 1, name="o_m0"),
                                 Signal(DW + 1, name="o_n0"), Signal(range(B + 1), name="o_r"))
        o_pt = Signal(range(e.nt_max + 1))
        o_rest = Signal(DW + 1)
        o_h = Signal(range(B + 1))
        m.d.comb += o_rest.eq(jM - o_m0)
        if OS:
            m.d.comb += o_h.eq(R)
        else:
            m.d.comb += o_h.eq(Mux(o_rest > B, B, o_rest))
        o_row_last = Signal()
        o_tile_last = Signal()
        o_final = Signal()
        m.d.comb += [o_row_last.eq(o_r == o_h - 1), o_tile_last.eq(o_n0 + C >= jN),
                     o_final.eq(o_row_last & o_tile_last & (o_m0 + B >= jM))]
        m.d.comb += p_rd.addr.eq(o_pt)

        pv = Signal()
        pdata = Signal(e.out_width)
        plast, puser = Signal(), Signal()
        m.d.comb += [self.m_axis_tvalid.eq(pv), self.m_axis_tdata.eq(pdata), self.m_axis_tlast.eq(plast),
                     self.m_axis_tuser.eq(puser)]
        p_free = Signal()
        m.d.comb += p_free.eq(~pv | self.m_axis_tready)
        m.d.comb += arr.o.ready.eq(p_free)
        m.d.comb += p_free_early.eq(p_free)

        aw = a.a_width
        hi = (1 << (aw - 1)) - 1
        lo = Mux(relu, 0, -(1 << (aw - 1)))
        Q = e.post_pipe              # pipelining option: 5 registered post-processing stages (or 0)
        o_take = Signal()
        m.d.comb += o_take.eq(arr.o.valid & arr.o.ready)
        adv = p_free                 # the post pipeline advances with the output register

        def clamp(m, sh, name):
            q = Signal(signed(32), name=name)
            with m.If(sh > hi):
                m.d.comb += q.eq(hi)
            with m.Elif(sh < lo):
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
            m.d.comb += keep.eq((o_n0 + j < jN) & ((o_m0 + o_r < jM) if OS else Const(1)))
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
            # ---- Q = 5 registered stages (all advance together with the output register):
            # 1: v, M0, S   2: four partial products v_lo/v_hi x M0_lo/M0_hi (one 18x18 DSP each)
            # 3: two partial sums   4: v*M0 + 2^(S-1)   5: >> S   then clamp into the output register
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
            lanes.append(Mux(k5, Mux(requant, q, v5[:32]), 0))
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
            m.d.sync += [o_blk.eq(0), o_m0.eq(0), o_n0.eq(0), o_r.eq(0), o_pt.eq(0), fin_err_sent.eq(0)]
        with m.If(self.m_axis_tready & pv):
            m.d.sync += pv.eq(0)
        # stop: all blocks issued, or an error with nothing more to load
        stopped = Signal()
        m.d.comb += stopped.eq(g_done | (err & p_wait & (g_blk == loaded)))
        drained = Signal()
        m.d.comb += drained.eq(stopped & (o_blk == g_blk) & ~sv & ~pv & pipe_empty)
        with m.If(o_take):
            with m.If(o_row_last):
                m.d.sync += o_r.eq(0)
                with m.If(o_tile_last):
                    m.d.sync += [o_n0.eq(0), o_pt.eq(0), o_blk.eq(o_blk + 1), o_m0.eq(o_m0 + B)]
                with m.Else():
                    m.d.sync += [o_n0.eq(o_n0 + C), o_pt.eq(o_pt + 1)]
            with m.Else():
                m.d.sync += o_r.eq(o_r + 1)
        with m.If(out_fire):
            m.d.sync += [pv.eq(1), pdata.eq(Cat(*[l.as_unsigned()[:OUT_LANE_BITS] for l in lanes])),
                         plast.eq(out_last), puser.eq(0)]
        with m.Elif(p_caps & p_free):
            m.d.sync += [pv.eq(1), pdata.eq(Array([Const(w, 32) for w in caps])[caps_i]),
                         plast.eq(caps_i == n_caps - 1), puser.eq(0)]
        with m.Elif(drained & err & ~fin_err_sent & p_wait):
            m.d.sync += [pv.eq(1), pdata.eq(code), plast.eq(1), puser.eq(1), fin_err_sent.eq(1)]
        m.d.comb += job_done.eq(drained & p_wait & (~err | fin_err_sent))
        return m


def engine_verilog(ecfg: EngineConfig) -> str:
    """Verilog of the engine (its priority ``casez`` need the ``CASEOVERLAP`` waiver of
    :data:`macforge.sim.runner.WAIVERS`)."""
    from macforge.rtl.verilog import hierarchical_verilog   # one definition per PE kind (issue 13)
    return hierarchical_verilog(Engine(ecfg), ecfg.top_name)[0]
