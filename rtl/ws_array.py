"""Weight-stationary (WS) systolic array with double-buffered weights and an output accumulator.

Math. A *weight tile* is ``W[k0:k0+R, n0:n0+C]`` (PE ``(i, j)`` holds ``W[k0+i][n0+j]``). Each input
beat is one activation row ``X[m, k0:k0+R]``; the array computes ``y[m, :] = X[m, k0:k0+R] @ W_tile`` and
adds it into row ``m`` of an on-chip accumulator of ``max_m`` rows x ``C`` columns:
``acc[m] <- (first ? 0 : acc[m]) + y[m]``. With ``last`` set the sum also leaves on the output stream.
A GEMM with ``K > R`` is a sequence of weight tiles over the same ``m`` rows (``first`` on the first
K-chunk, ``last`` on the final one); ``m`` counts beats since the previous ``tlast``.

Dataflow. Activation ``X[m, i]`` enters row ``i`` skewed by ``i`` cycles and moves right one PE per
cycle; partial sums move down one PE per cycle, so PE ``(i, j)`` adds its contribution ``i + j`` cycles
after the slot left the front end. The bottom of column ``j`` (a :class:`~macforge.rtl.mac.WsPost` unit folds
the slots of one bit-serial product), a de-skew line of ``C-1-j`` registers, then one read-modify-write
of the accumulator memory (``amaranth.lib.memory``, synchronous read port transparent to the write
port, address prefetched one cycle ahead).

Weights. Stream ``w`` carries one weight row ``W[k0+r, n0:n0+C]`` per beat, ``R`` beats per tile, into
the buffer that is not being computed with; each slot carries the buffer index (``wsel``) with it, so
every PE switches buffers exactly when the new tile's first activation reaches it. A buffer accepts
weights only when it is empty and ``p + R + C - 2`` cycles have passed since the ``tlast`` beat of the
tile that used it was accepted (its last slot has then left every PE). Loading the next tile overlaps
the current tile's compute; activations of a tile wait until its ``R`` weight rows are in.

Timing (advancing cycles). An activation beat accepted in cycle ``t`` presents its first slot in
``t + 1``; the product sum of a beat whose last slot is presented in cycle ``E`` leaves on ``o`` in
cycle ``E + R + C + 2``. Steady state: one beat per ``L`` cycles (``L = 1`` parallel, ``p`` bit-serial).
See :func:`macforge.golden.cycles.ws_job_cycles` for the exact job model.

Stall. Everything advances while the output skid register (:mod:`macforge.rtl.skid`) is empty: a row
that ``o`` does not take when the array advances moves there, and the array freezes until it is taken.
``en`` is a flip-flop, not a function of ``o.ready``.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.config import ArrayConfig
from .delay import delayed
from .frontend import connect_runtime, make_frontend, with_precision_port
from .hier import place
from .mac import family
from .skid import skid_output
from .os_array import out_layout
from .slot import CtlLayout


def ws_act_layout(cfg: ArrayConfig) -> data.StructLayout:
    return data.StructLayout({
        "a": data.ArrayLayout(family(cfg).act_shape(cfg), cfg.rows),
        "first": 1,
        "last": 1,
        "tlast": 1,
    })


def ws_weight_layout(cfg: ArrayConfig) -> data.ArrayLayout:
    return data.ArrayLayout(family(cfg).weight_shape(cfg), cfg.cols)


class WsArray(wiring.Component):
    """WS array top. Ports: ``w`` (weight rows), ``s`` (activation rows with ``first``/``last``/``tlast``),
    ``o`` (result rows, ``last`` on the row that carries ``tlast``) and, bit-serial only, ``precision``."""

    def __init__(self, cfg: ArrayConfig):
        assert cfg.dataflow == "ws"
        self.cfg = cfg
        members = {
            "w": In(stream.Signature(ws_weight_layout(cfg))),
            "s": In(stream.Signature(ws_act_layout(cfg))),
            "o": Out(stream.Signature(out_layout(cfg))),
        }
        super().__init__(with_precision_port(cfg, members))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C, n = cfg.rows, cfg.cols, cfg.acc_width
        fam = family(cfg)

        en = Signal()          # the array advances: a register (rtl/skid.py), see the end
        o_valid = Signal()

        # ---- weight double buffer: wb[b][i][j]
        wb = [[[Signal(fam.weight_shape(cfg), name=f"wb{b}_{i}_{j}") for j in range(C)] for i in range(R)]
              for b in range(2)]
        full = [Signal(name=f"full{b}") for b in range(2)]
        release = max(cfg.a_width, cfg.max_cycles_per_step) + R + C  # bounds L + R + C - 2 (sizes the counters)
        busy = [Signal(range(release + 1), name=f"busy{b}") for b in range(2)]
        lb = Signal()            # buffer being loaded
        cb = Signal()            # buffer being computed with (next accepted activation beat)
        wrow = Signal(range(max(R, 2)))
        load_ok = Signal()
        m.d.comb += [
            load_ok.eq(Mux(lb, ~full[1] & (busy[1] == 0), ~full[0] & (busy[0] == 0))),
            self.w.ready.eq(en & load_ok),
        ]
        w_take = self.w.valid & self.w.ready
        with m.If(w_take):
            for b in range(2):
                for i in range(R):
                    with m.If((lb == b) & (wrow == i)):
                        m.d.sync += [wb[b][i][j].eq(self.w.payload[j]) for j in range(C)]
            with m.If(wrow == R - 1):
                m.d.sync += [wrow.eq(0), lb.eq(~lb)]
            with m.Else():
                m.d.sync += wrow.eq(wrow + 1)

        # ---- front end (activations)
        fe = m.submodules.frontend = make_frontend(cfg)
        cb_full = Signal()
        m.d.comb += [
            cb_full.eq(Mux(cb, full[1], full[0])),
            fe.en.eq(en),
            fe.valid.eq(self.s.valid & cb_full),
            self.s.ready.eq(fe.ready & cb_full),
            fe.a.eq(self.s.payload.a),
            fe.first.eq(self.s.payload.first),
            fe.last.eq(self.s.payload.last),
            fe.tlast.eq(self.s.payload.tlast),
            fe.wsel.eq(cb),
        ]
        connect_runtime(m, cfg, fe, self)
        s_take = fe.accepted
        t_take = s_take & self.s.payload.tlast
        for b in range(2):
            with m.If(en):
                with m.If(t_take & (cb == b)):
                    m.d.sync += busy[b].eq(fe.beat_cycles + R + C - 2)
                with m.Elif(busy[b] != 0):
                    m.d.sync += busy[b].eq(busy[b] - 1)
            # full: set when the R-th row is written, cleared when the tile's tlast beat is accepted
            with m.If(w_take & (wrow == R - 1) & (lb == b)):
                m.d.sync += full[b].eq(1)
            with m.Elif(t_take & (cb == b)):
                m.d.sync += full[b].eq(0)
        with m.If(t_take):
            m.d.sync += cb.eq(~cb)

        # ---- operand pipelines
        sym = fam.symbol_shape(cfg)
        ra = [[Signal(sym, name=f"a_{i}_{j}") for j in range(C)] for i in range(R)]
        # slot-control hop registers: every register of an anti-diagonal holds the same value, so a
        # synthesis tool would merge them into one flip-flop per diagonal driving PEs across the whole
        # array; ``keep`` (see macforge.gen.synth.KEEP_HOP_REGISTERS) keeps one per PE, next to it
        rc = [[Signal(CtlLayout, name=f"c_{i}_{j}", attrs={"keep": 1}) for j in range(C)] for i in range(R)]
        rp = [[Signal(signed(n), name=f"p_{i}_{j}") for j in range(C)] for i in range(R)]
        P = cfg.ws_pipe           # pipelining option (ArrayConfig.pipeline): registered weight select
        wcur = [[Signal(fam.weight_shape(cfg), name=f"wcur_{i}_{j}") for j in range(C)] for i in range(R)]
        a_d = [[None] * C for _ in range(R)]      # D inputs of ra / wcur (the ECP5 DSP copies them)
        w_d = [[None] * C for _ in range(R)]
        with m.If(en):
            for i in range(R):
                c0 = delayed(m, fe.slot_ctl, i, en, f"cskew{i}")
                a0 = delayed(m, fe.slot_a[i], i, en, f"askew{i}")
                m.d.sync += [ra[i][0].eq(a0), rc[i][0].eq(c0)]
                for j in range(1, C):
                    m.d.sync += [ra[i][j].eq(ra[i][j - 1]), rc[i][j].eq(rc[i][j - 1])]
                for j in range(C):
                    a_d[i][j] = ra[i][j - 1] if j else a0
                if P:
                    # the weight PE (i, j) multiplies with in the next cycle, selected by the ctl that
                    # enters rc[i][j] now (a register instead of a mux in front of the multiplier)
                    for j in range(C):
                        src = c0 if j == 0 else rc[i][j - 1]
                        w_d[i][j] = Signal.like(wcur[i][j], name=f"wnext_{i}_{j}")
                        m.d.comb += w_d[i][j].eq(Mux(src.wsel, wb[1][i][j], wb[0][i][j]))
                        m.d.sync += wcur[i][j].eq(w_d[i][j])

        # ---- PEs, column post units, de-skew
        cols = []
        for j in range(C):
            for i in range(R):
                pe = place(m, f"pe_r{i}_c{j}", fam.ws_pe(cfg), "pe", cfg, platform)
                ctl = rc[i][j]
                m.d.comb += [pe.a.eq(ra[i][j]), pe.ctl.eq(ctl),
                             pe.w.eq(wcur[i][j] if P else Mux(ctl.wsel, wb[1][i][j], wb[0][i][j]))]
                if P and "contrib" in pe.signature.members:
                    # the PE registers its contribution itself (parallel MAC: the product register,
                    # inside the DSP block on the ECP5 target)
                    cd = delayed(m, ctl, pe.contrib_latency, en, f"cd_{i}_{j}")
                    m.d.comb += [pe.en.eq(en), pe.a_next.eq(a_d[i][j]), pe.w_next.eq(w_d[i][j]),
                                 pe.psum_in.eq(0)]
                    contrib = pe.contrib
                elif P:
                    # every WS PE computes psum_in + f(a, w, ctl): with psum_in = 0 it yields its
                    # contribution f, registered here (any MAC family) and added one cycle later
                    contrib = Signal(signed(n), name=f"f_{i}_{j}")
                    cd = Signal(CtlLayout, name=f"cd_{i}_{j}")
                    with m.If(en):
                        m.d.sync += [contrib.eq(pe.psum_out), cd.eq(ctl)]
                    m.d.comb += pe.psum_in.eq(0)
                if P:
                    total = Signal(signed(n), name=f"t_{i}_{j}")
                    m.d.comb += total.eq((rp[i - 1][j] if i else 0) + contrib)
                    vctl = cd
                else:
                    m.d.comb += pe.psum_in.eq(rp[i - 1][j] if i else 0)
                    total = pe.psum_out
                    vctl = ctl
                psum = total
                if cfg.fault is not None and (cfg.fault.row, cfg.fault.col) == (i, j):
                    psum = Mux(vctl.valid, total ^ cfg.fault.mask, total)  # test-only
                with m.If(en):
                    m.d.sync += rp[i][j].eq(psum)
            bot_ctl = Signal(CtlLayout, name=f"botc_{j}")
            with m.If(en):
                m.d.sync += bot_ctl.eq(vctl)      # the ctl of the slot whose sum is in rp[R-1][j]
            post = place(m, f"post_c{j}", fam.ws_post(cfg), "post", cfg, platform)
            m.d.comb += [post.en.eq(en), post.s.eq(rp[R - 1][j]), post.ctl.eq(bot_ctl)]
            y = delayed(m, post.y, C - 1 - j, en, f"dskew{j}")
            c = delayed(m, post.ctl_out, C - 1 - j, en, f"dskewc{j}")
            cols.append((y, c))

        # ---- accumulator: acc[mrow] <- (first ? 0 : acc[mrow]) + y ; emit on last
        xc = cols[0][1]
        xv = xc.valid
        row_shape = data.ArrayLayout(signed(n), C)
        # depth >= 2: a one-row memory would have a zero-width address (``[-1:0]`` in Verilog)
        mem = m.submodules.acc = memory.Memory(shape=row_shape, depth=max(cfg.max_m, 2), init=[])
        wp = mem.write_port()
        rd = mem.read_port(transparent_for=(wp,))
        mrow = Signal(range(max(cfg.max_m, 2)))
        m_next = Signal(range(max(cfg.max_m, 2)))
        with m.If(xv & xc.tlast):
            m.d.comb += m_next.eq(0)
        with m.Elif(xv):
            m.d.comb += m_next.eq(Mux(mrow == cfg.max_m - 1, 0, mrow + 1))
        with m.Else():
            m.d.comb += m_next.eq(mrow)
        m.d.comb += [rd.addr.eq(m_next), rd.en.eq(en)]
        new = Signal(row_shape)
        o_last = Signal()
        o_data = Signal(row_shape)
        if P:
            # pipelining option: register the memory's read data with the column results first (the
            # block RAM's clock-to-out then ends at a flip-flop), add in the next cycle. The row written
            # in the previous advancing cycle is forwarded (the read of this row was issued before that
            # write); a write two cycles back is seen through the read port's transparency.
            y_r = Signal(row_shape)
            d_r = Signal(row_shape)
            c_r = Signal(CtlLayout)
            a_r = Signal.like(mrow)
            lw_d = Signal(row_shape)
            # fwd: the row in a_r was written in the previous advancing cycle (compared one cycle ahead,
            # when that write's address and this row's were both known, and registered)
            fwd = Signal()
            base = Signal(row_shape)
            with m.If(en):
                m.d.sync += [y_r.eq(Cat(*[y for y, _ in cols])), d_r.eq(rd.data), c_r.eq(xc), a_r.eq(mrow),
                             fwd.eq(c_r.valid & (a_r == mrow))]
            m.d.comb += base.eq(Mux(fwd, lw_d, d_r))
            for j in range(C):
                m.d.comb += new[j].eq(Mux(c_r.first, 0, base[j]) + y_r[j])
            m.d.comb += [wp.addr.eq(a_r), wp.data.eq(new), wp.en.eq(en & c_r.valid)]
            with m.If(en):
                m.d.sync += [mrow.eq(m_next), lw_d.eq(new),
                             o_valid.eq(c_r.valid & c_r.last), o_data.eq(new), o_last.eq(c_r.tlast)]
        else:
            for j, (y, _) in enumerate(cols):
                m.d.comb += new[j].eq(Mux(xc.first, 0, rd.data[j]) + y)
            m.d.comb += [wp.addr.eq(mrow), wp.data.eq(new), wp.en.eq(en & xv)]
            with m.If(en):
                m.d.sync += [mrow.eq(m_next), o_valid.eq(xv & xc.last), o_data.eq(new), o_last.eq(xc.tlast)]
        # output register -> skid register -> o: ``en`` is the skid register's emptiness (macforge.rtl.skid)
        o_reg = Signal(out_layout(cfg))
        m.d.comb += [o_reg.y.eq(o_data), o_reg.last.eq(o_last)]
        en_skid, o_payload = skid_output(m, self.o, o_valid, o_reg)
        m.d.comb += [en.eq(en_skid), self.o.payload.eq(o_payload)]
        return m
