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
of the accumulator memory. With the pipelining option (``ws_pipe``) the memory has registers on every
side (:class:`~macforge.rtl.bram.RegisteredReadMemory`: registered write, the block RAM's output
register -- ``DP16KD`` in its 512 x 36 mode with ``REGMODE = "OUTREG"`` on the ``ecp5`` target), the
read is issued three cycles before the add and the rows of the four beats whose writes it cannot see
are forwarded; without it, an ``amaranth.lib.memory`` read port transparent to the write port, address
prefetched one cycle ahead.

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

from amaranth import Cat, Const, Module, Mux, Shape, Signal, Value, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.config import ArrayConfig
from .delay import delayed
from .bram import RegisteredReadMemory
from .frontend import connect_runtime, make_frontend, with_precision_port
from .grid import Netlist
from .mac import family
from .skid import skid_output
from .os_array import CTL_W, _port_names, _sub, out_layout
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
    ``o`` (result rows, ``last`` on the row that carries ``tlast``) and, bit-serial only, ``precision``.

    Structure (:meth:`netlist`, :mod:`macforge.rtl.grid`): the edge unit :class:`WsEdge`, the a / ctl skew
    line of row ``i`` (``i`` stages ``askew<i>_k<k>``), R x C :class:`WsCell` units ``pe_r<i>_c<j>``, a
    :class:`WsBottom` unit ``post_c<j>`` per column and its de-skew line (``C-1-j`` stages
    ``dskew<j>_k<k>``) in front of the edge's accumulator."""

    def __init__(self, cfg: ArrayConfig):
        assert cfg.dataflow == "ws"
        self.cfg = cfg
        super().__init__(ws_members(cfg))

    def netlist(self, platform) -> Netlist:
        cfg = self.cfg
        R, C, n = cfg.rows, cfg.cols, cfg.acc_width
        fam = family(cfg)
        sw = Shape.cast(fam.symbol_shape(cfg)).width
        ww = Shape.cast(fam.weight_shape(cfg)).width
        aw = sw + CTL_W
        nl = Netlist(cfg, platform, self)
        nl.net("en", 1)
        nl.net("sac", R * aw)
        nl.net("wdat", C * ww)
        nl.net("we", 2 * R)
        ports = {p: p for p in _port_names(self)}
        nl.add("edge_logic", lambda: WsEdge(cfg), "edge", {**ports, "en": "en", "sac": "sac", "wdat": "wdat", "we": "we"})
        left = [nl.stages(f"askew{i}", ("sac", i * aw, (i + 1) * aw), aw, i) for i in range(R)]
        ys = []
        for j in range(C):
            p = Const(0, n)
            for i in range(R):
                a = _sub(left[i], 0, sw) if j == 0 else f"a_{i}_{j - 1}"
                c = _sub(left[i], sw, aw) if j == 0 else f"c_{i}_{j - 1}"
                outs = {"a_out": nl.net(f"a_{i}_{j}", sw), "c_out": nl.net(f"c_{i}_{j}", CTL_W),
                        "p_out": nl.net(f"p_{i}_{j}", n)}
                if i == R - 1 and cfg.ws_pipe:
                    outs["v_out"] = nl.net(f"v_{j}", CTL_W)
                faulty = cfg.fault is not None and (cfg.fault.row, cfg.fault.col) == (i, j)
                nl.add(f"pe_r{i}_c{j}", lambda f=faulty: WsCell(cfg, f), "cell",
                       {"en": "en", "a_in": a, "c_in": c, "p_in": p, "wdat": ("wdat", j * ww, (j + 1) * ww),
                        "we0": ("we", i, i + 1), "we1": ("we", R + i, R + i + 1), **outs}, variant=faulty)
                p = outs["p_out"]
            yc = nl.net(f"yc_{j}", n + CTL_W)
            nl.add(f"post_c{j}", lambda: WsBottom(cfg), "post", {"en": "en", "s": p, "ctl": f"v_{j}" if cfg.ws_pipe else f"c_{R - 1}_{j}", "yc": yc})
            ys.append(nl.stages(f"dskew{j}", yc, n + CTL_W, C - 1 - j))
        nl.net("ys", C * (n + CTL_W))
        nl.insts[0].conns["ys"] = ys
        return nl

    def elaborate(self, platform):
        return self.netlist(platform).elaborate(Module())


def ws_members(cfg: ArrayConfig) -> dict:
    return with_precision_port(cfg, {
        "w": In(stream.Signature(ws_weight_layout(cfg))),
        "s": In(stream.Signature(ws_act_layout(cfg))),
        "o": Out(stream.Signature(out_layout(cfg))),
    })


class WsCell(wiring.Component):
    """PE ``(i, j)`` of the WS array with its registers.

    Registers (advancing with ``en`` unless noted; output ports are the registers themselves):
    ``a_out`` / ``c_out`` (activation symbol, slot control; ``c_out`` marked ``keep``) load ``a_in`` /
    ``c_in`` from the left; the weight double buffer ``wb0`` / ``wb1`` loads ``wdat`` when ``we0`` /
    ``we1`` (the edge's weight-row write, already gated by the array's advance); the partial sum
    ``p_out = p_in + contribution`` (``p_in``: the cell above, 0 in row 0). The PE multiplies with the
    buffer the slot's ``wsel`` selects. With ``cfg.ws_pipe`` (pipelining option) that weight is
    registered (``wcur``, selected by the ctl entering ``c_out``) and the contribution too (by the PE
    itself when it has ``contrib``, else here as ``f``), so ``p_out`` adds a contribution whose slot
    control is ``v_out`` (the slot's ctl delayed alike; a port only with the option, the bottom unit
    reads it, else it reads ``c_out``). ``faulty``: the sum of a valid slot is XORed with
    ``cfg.fault.mask`` (test only)."""

    def __init__(self, cfg: ArrayConfig, faulty: bool = False):
        self.cfg, self.faulty = cfg, faulty
        fam = family(cfg)
        sym, ws, n = fam.symbol_shape(cfg), fam.weight_shape(cfg), cfg.acc_width
        members = {"en": In(1), "a_in": In(sym), "c_in": In(CtlLayout), "p_in": In(signed(n)),
                   "wdat": In(ws), "we0": In(1), "we1": In(1),
                   "a_out": Out(sym), "c_out": Out(CtlLayout), "p_out": Out(signed(n))}
        if cfg.ws_pipe:
            members["v_out"] = Out(CtlLayout)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg, n = self.cfg, self.cfg.acc_width
        fam = family(cfg)
        en = self.en
        # the output ports are the registers themselves (one name for each register in the flat and the
        # hierarchical emission, which the equivalence proof pairs by name)
        a, c, rp = self.a_out, self.c_out, self.p_out
        # slot-control hop register: every register of an anti-diagonal holds the same value, so a
        # synthesis tool would merge them into one flip-flop per diagonal driving PEs across the whole
        # array; ``keep`` (see macforge.gen.synth.KEEP_HOP_REGISTERS) keeps one per PE, next to it
        Value.cast(c).attrs["keep"] = 1
        wb = [Signal(fam.weight_shape(cfg), name=f"wb{b}") for b in range(2)]
        with m.If(self.we0):
            m.d.sync += wb[0].eq(self.wdat)
        with m.If(self.we1):
            m.d.sync += wb[1].eq(self.wdat)
        with m.If(en):
            m.d.sync += [a.eq(self.a_in), c.eq(self.c_in)]
        P = cfg.ws_pipe           # pipelining option (ArrayConfig.pipeline): registered weight select
        pe = m.submodules.pe = fam.ws_pe(cfg)
        if P:
            # the weight the PE multiplies with in the next cycle, selected by the ctl that enters c now
            # (a register instead of a mux in front of the multiplier)
            wcur = Signal(fam.weight_shape(cfg), name="wcur")
            w_d = Signal.like(wcur, name="wnext")
            m.d.comb += w_d.eq(Mux(self.c_in.wsel, wb[1], wb[0]))
            with m.If(en):
                m.d.sync += wcur.eq(w_d)
        m.d.comb += [pe.a.eq(a), pe.ctl.eq(c), pe.w.eq(wcur if P else Mux(c.wsel, wb[1], wb[0]))]
        if P and "contrib" in pe.signature.members:
            # the PE registers its contribution itself (parallel MAC: the product register,
            # inside the DSP block on the ECP5 target)
            cd = delayed(m, c, pe.contrib_latency - 1, en, "cd")
            with m.If(en):
                m.d.sync += self.v_out.eq(cd)
            cd = self.v_out
            m.d.comb += [pe.en.eq(en), pe.a_next.eq(self.a_in), pe.w_next.eq(w_d), pe.psum_in.eq(0)]
            contrib = pe.contrib
        elif P:
            # every WS PE computes psum_in + f(a, w, ctl): with psum_in = 0 it yields its
            # contribution f, registered here (any MAC family) and added one cycle later
            contrib = Signal(signed(n), name="f")
            cd = self.v_out
            with m.If(en):
                m.d.sync += [contrib.eq(pe.psum_out), cd.eq(c)]
            m.d.comb += pe.psum_in.eq(0)
        if P:
            total = Signal(signed(n), name="t")
            m.d.comb += total.eq(self.p_in + contrib)
            vctl = cd
        else:
            m.d.comb += pe.psum_in.eq(self.p_in)
            total = pe.psum_out
            vctl = c
        psum = total
        if self.faulty:
            psum = Mux(vctl.valid, total ^ cfg.fault.mask, total)  # test-only
        with m.If(en):
            m.d.sync += rp.eq(psum)
        return m


class WsBottom(wiring.Component):
    """Bottom of WS column ``j``: ``botc`` (the ctl of the slot whose sum the bottom cell's ``p`` holds,
    registered with ``en``) and the family's column post unit (:class:`macforge.rtl.mac.WsPost`, one
    cycle); ``yc = {ctl_out, y}``."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        n = cfg.acc_width
        super().__init__({"en": In(1), "s": In(signed(n)), "ctl": In(CtlLayout), "yc": Out(n + CTL_W)})

    def elaborate(self, platform):
        m = Module()
        bot_ctl = Signal(CtlLayout, name="botc")
        with m.If(self.en):
            m.d.sync += bot_ctl.eq(self.ctl)
        post = m.submodules.post = family(self.cfg).ws_post(self.cfg)
        m.d.comb += [post.en.eq(self.en), post.s.eq(self.s), post.ctl.eq(bot_ctl),
                     self.yc.eq(Cat(post.y, post.ctl_out))]
        return m


class WsEdge(wiring.Component):
    """Everything of the WS array but the grid: weight double-buffer control, front end, accumulator,
    skid. Ports: the array's own, and towards the grid ``en``, ``sac`` (row ``i``: ``{slot ctl, slot a}``
    before the skew), ``wdat`` (the weight row being accepted), ``we`` (bit ``b R + i``: write row ``i``
    of buffer ``b`` this cycle) and ``ys`` (column ``j``: ``{ctl, y}`` after the de-skew; column 0's ctl
    is the one of the row)."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        fam = family(cfg)
        sw = Shape.cast(fam.symbol_shape(cfg)).width
        ww = Shape.cast(fam.weight_shape(cfg)).width
        members = ws_members(cfg)
        members.update({"en": Out(1), "sac": Out(cfg.rows * (sw + CTL_W)), "wdat": Out(cfg.cols * ww),
                        "we": Out(2 * cfg.rows), "ys": In(cfg.cols * (cfg.acc_width + CTL_W))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C, n = cfg.rows, cfg.cols, cfg.acc_width

        en = self.en           # the array advances: a register (rtl/skid.py), see the end
        o_valid = Signal()

        # ---- weight double buffer (in the cells): which buffer loads, which computes
        full = [Signal(name=f"full{b}") for b in range(2)]
        release = max(cfg.a_width, cfg.max_cycles_per_step) + R + C  # bounds L + R + C - 2 (sizes the counters)
        busy = [Signal(range(release + 1), name=f"busy{b}") for b in range(2)]
        # ``busy<b> == 0`` as a flag kept with the counter (a flip-flop: the weight load enable, which
        # fans out to every PE's weight-buffer write enable, decides on registers only)
        idle = [Signal(init=1, name=f"idle{b}") for b in range(2)]
        lb = Signal()            # buffer being loaded
        cb = Signal()            # buffer being computed with (next accepted activation beat)
        wrow = Signal(range(max(R, 2)))
        load_ok = Signal()
        m.d.comb += [
            load_ok.eq(Mux(lb, ~full[1] & idle[1], ~full[0] & idle[0])),
            self.w.ready.eq(en & load_ok),
        ]
        w_take = self.w.valid & self.w.ready
        m.d.comb += self.wdat.eq(self.w.payload)
        # the row being loaded, one-hot (``rsel[b R + i]`` = ``lb == b and wrow == i``, a ring of 2R
        # flip-flops): each PE row's write enable is then an AND of flip-flops, one LUT before its fanout
        rsel = Signal(2 * R, init=1, name="rsel")
        with m.If(w_take):
            m.d.sync += rsel.eq(Cat(rsel[-1], rsel[:-1]))
        for b in range(2):
            ok_b = ~full[b] & idle[b]
            for i in range(R):
                m.d.comb += self.we[b * R + i].eq(self.w.valid & en & ok_b & rsel[b * R + i])
        with m.If(w_take):
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
        m.d.comb += self.sac.eq(Cat(*[Cat(fe.slot_a[i], fe.slot_ctl) for i in range(R)]))
        s_take = fe.accepted
        t_take = s_take & self.s.payload.tlast
        for b in range(2):
            with m.If(en):
                with m.If(t_take & (cb == b)):
                    m.d.sync += [busy[b].eq(fe.beat_cycles + R + C - 2), idle[b].eq(0)]   # >= 1
                with m.Elif(~idle[b]):
                    m.d.sync += [busy[b].eq(busy[b] - 1), idle[b].eq(busy[b] == 1)]
            # full: set when the R-th row is written, cleared when the tile's tlast beat is accepted
            with m.If(w_take & (wrow == R - 1) & (lb == b)):
                m.d.sync += full[b].eq(1)
            with m.Elif(t_take & (cb == b)):
                m.d.sync += full[b].eq(0)
        with m.If(t_take):
            m.d.sync += cb.eq(~cb)

        # ---- the de-skewed columns
        yw = n + CTL_W
        cols = [(self.ys[j * yw:j * yw + n], self.ys[j * yw + n:(j + 1) * yw]) for j in range(C)]

        # ---- accumulator: acc[mrow] <- (first ? 0 : acc[mrow]) + y ; emit on last
        P = cfg.ws_pipe
        xc = Signal(CtlLayout)
        m.d.comb += xc.eq(cols[0][1])
        xv = xc.valid
        row_shape = data.ArrayLayout(signed(n), C)
        depth = max(cfg.max_m, 2)   # a one-row memory would have a zero-width address (``[-1:0]`` in Verilog)
        mrow = Signal(range(depth))
        m_next = Signal(range(depth))
        with m.If(xv & xc.tlast):
            m.d.comb += m_next.eq(0)
        with m.Elif(xv):
            m.d.comb += m_next.eq(Mux(mrow == cfg.max_m - 1, 0, mrow + 1))
        with m.Else():
            m.d.comb += m_next.eq(mrow)
        new = Signal(row_shape)
        o_last = Signal()
        o_data = Signal(row_shape)
        if P:
            # pipelining option: the accumulator is a block RAM read through its output register and
            # written from a register (:class:`macforge.rtl.bram.RegisteredReadMemory`; ``DP16KD`` with
            # ``REGMODE = "OUTREG"`` on the ``ecp5`` target), its read address one LUT behind flip-flops
            # (``mrow_p1`` = ``mrow + 1`` kept as a register), so no path through the block RAM has more
            # than one LUT on it. A beat's stages (advancing cycles): ``xc`` (its row is ``mrow``; the
            # read of that row was issued the cycle before, as ``m_next``), ``c_p`` (column sums ``y_p``;
            # the read data arrive and go to ``d_r``), ``c_r`` (``base + y_r`` is added and written).
            # The read sees every write that landed before it: all but those of the four previous
            # beats (their adds are 1..4 advancing cycles before this one and their registered writes land
            # a cycle after the add), so those rows are forwarded. ``k1``..``k4`` (registered in the
            # ``xc`` stage from address compares on flip-flops, the most recent match first) select the
            # row written by the beat 1..4 places back: ``k2``..``k4`` when ``d_r`` is loaded (from
            # ``lw1``..``lw3`` then), ``k1`` at the add (``lw1``: the previous beat's row). Every register
            # and the memory's read pipeline advance with ``en``, so a stall freezes them; a registered
            # write landing during a stall changes nothing a forward would not (forwarded rows are the
            # newest).
            acc = m.submodules.acc = RegisteredReadMemory(len(Value.cast(new)), depth, name="acc", read_en=True,
                                                          write_reg=True)
            mrow_p1 = Signal.like(mrow, init=1 % max(cfg.max_m, 1))
            m.d.comb += [acc.r_addr.eq(Mux(xv, Mux(xc.tlast, 0, mrow_p1), mrow)), acc.r_en.eq(en)]
            c_p, c_r = Signal(CtlLayout), Signal(CtlLayout)
            y_p, y_r = Signal(row_shape), Signal(row_shape)
            a_p, a_r = Signal.like(mrow), Signal.like(mrow)
            d_r = Signal(row_shape)
            lw = [Signal(row_shape, name=f"lw{i}") for i in (1, 2, 3)]   # rows written by the adds 1, 2, 3 back
            h_v = [Signal(name=f"h_v{i}") for i in (1, 2)]      # c_r.valid / a_r, 1 and 2 advancing cycles back
            h_a = [Signal.like(mrow, name=f"h_a{i}") for i in (1, 2)]
            k = [Signal(name=f"k{i}") for i in (1, 2, 3, 4)]
            k1_d = Signal()
            hit = [c_p.valid & (a_p == mrow), c_r.valid & (a_r == mrow),
                   h_v[0] & (h_a[0] == mrow), h_v[1] & (h_a[1] == mrow)]
            base = Signal(row_shape)
            with m.If(en):
                m.d.sync += [c_p.eq(xc), y_p.eq(Cat(*[y for y, _ in cols])), a_p.eq(mrow),
                             *[k[i].eq(hit[i] & ~Cat(*hit[:i]).any() if i else hit[0]) for i in range(4)],
                             d_r.eq(Mux(k[1], lw[0], Mux(k[2], lw[1], Mux(k[3], lw[2], acc.r_data)))), k1_d.eq(k[0]),
                             c_r.eq(c_p), y_r.eq(y_p), a_r.eq(a_p),
                             h_v[0].eq(c_r.valid), h_a[0].eq(a_r), h_v[1].eq(h_v[0]), h_a[1].eq(h_a[0])]
            m.d.comb += base.eq(Mux(k1_d, lw[0], d_r))
            for j in range(C):
                m.d.comb += new[j].eq(Mux(c_r.first, 0, base[j]) + y_r[j])
            m.d.comb += [acc.w_addr.eq(a_r), acc.w_data.eq(new), acc.w_en.eq(en & c_r.valid)]
            with m.If(en):
                m.d.sync += [mrow.eq(m_next), lw[0].eq(new), lw[1].eq(lw[0]), lw[2].eq(lw[1]),
                             o_valid.eq(c_r.valid & c_r.last), o_data.eq(new), o_last.eq(c_r.tlast)]
                with m.If(xv):
                    m.d.sync += mrow_p1.eq(Mux(xc.tlast, 1 % max(cfg.max_m, 1),
                                               Mux(mrow_p1 == cfg.max_m - 1, 0, mrow_p1 + 1)))
        else:
            mem = m.submodules.acc = memory.Memory(shape=row_shape, depth=depth, init=[])
            wp = mem.write_port()
            rd = mem.read_port(transparent_for=(wp,))
            m.d.comb += [rd.addr.eq(m_next), rd.en.eq(en)]
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
