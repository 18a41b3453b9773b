"""Formal harnesses (SymbiYosys): the PEs, small OS / WS arrays and the engine's stream ports.

Each harness is an Amaranth elaboratable whose top-level inputs (:attr:`ports`) are free in the formal
tools (any value in every cycle); ``Assume`` states what the environment guarantees, ``Assert`` what
the design must do. :mod:`macforge.gen.formal` writes them as RTLIL and runs ``sby``.

* :class:`OsPEProof` -- one output-stationary PE (parallel or bit-serial) fed arbitrary slots. A
  reference written from the math, not the RTL, keeps the exact (wide) sum of the products of the
  received slots (bit-serial: ``bit * w * 2^t``, negative on the sign slot); on the ``last`` slot the
  PE's ``result`` must equal it. ``result`` is ``acc_width`` bits and the reference wider, so the check
  also shows that no overflow is reachable while a reduction has at most ``max_k`` products (assumed).
  Internal invariants (the accumulator equals the reference modulo ``2^acc_width``, the bit-serial
  weight shift register holds ``w 2^t``, ``|sum| <= count 2^(a+w-2)``) make it provable by induction.
* :class:`OsArrayProof` / :class:`WsArrayProof` -- a whole small array with its front end, skew, drain /
  de-skew (and, WS, double-buffered weights and the output accumulator): every output beat carries the
  reference result, rows leave in order, and each leaves exactly on the advancing cycle the cycle model
  (:mod:`macforge.golden.cycles`) states; the input and output streams may stall at will.
* :class:`EngineStreamProof` -- the engine's ``m_axis`` keeps the AXI4-Stream / ``amaranth.lib.stream``
  rules under arbitrary ``s_axis`` traffic and ``m_axis_tready`` (payload stable and ``valid`` not
  withdrawn until the transfer), and after any packet closed by ``tlast`` it is idle again within a
  stated number of cycles (with ``m_axis_tready`` high).
"""

from __future__ import annotations

from amaranth import Cat, Const, Elaboratable, Module, Mux, ResetSignal, Signal, signed, unsigned, Value
from amaranth.hdl import Assert, Assume, Cover
from amaranth.lib import data

from macforge.golden.config import ArrayConfig
from .mac import family
from .slot import CtlLayout


def internal(mod: Module, name: str) -> Signal:
    """The signal called ``name`` that ``mod`` (an elaborated :class:`Module`) drives: read-only access to
    a PE's state for the induction invariants, without changing the PE's code."""
    hits = [s for s in mod._driving if getattr(s, "name", None) == name]
    if len(hits) != 1:
        raise LookupError(f"expected one internal signal {name!r}, found {len(hits)} "
                          "(the PE changed: update macforge.rtl.formal)")
    return hits[0]


def _no_reset(m: Module) -> None:
    m.d.comb += Assume(~ResetSignal())


def _abs_le(m: Module, x, bound, name: str):
    """``-bound <= x <= bound`` for a signed ``x`` and an unsigned ``bound`` (wide compare)."""
    b = Signal(signed(len(x) + 2), name=name)
    m.d.comb += b.eq(bound)
    return (x <= b) & (x >= -b)


class OsPEProof(Elaboratable):
    """One OS PE (``cfg.mac`` parallel or bit-serial) against the exact dot product of its slots."""

    def __init__(self, cfg: ArrayConfig):
        assert cfg.mac in ("parallel", "bitserial") and cfg.dataflow == "os"
        self.cfg = cfg
        aw, ww = cfg.a_width, cfg.w_width
        bs = cfg.mac == "bitserial"
        self.en = Signal()
        self.valid = Signal()
        self.first = Signal()
        self.last = Signal()
        self.a = Signal(1) if bs else Signal(signed(aw))
        self.w = Signal(signed(ww))
        self.p = Signal(range(aw + 1))     # bit-serial run-time precision (free, constant)
        self.ports = [self.en, self.valid, self.first, self.last, self.a, self.w] + ([self.p] if bs else [])

    def elaborate(self, platform):
        m = Module()
        _no_reset(m)
        cfg = self.cfg
        aw, ww, n, K = cfg.a_width, cfg.w_width, cfg.acc_width, cfg.max_k
        W = n + 4                         # the reference is wider than the accumulator
        sh = aw + ww - 2                  # |product| <= 2^sh
        bs = cfg.mac == "bitserial"
        pe = family(cfg).os_pe(cfg)
        pm = pe.elaborate(platform)
        pe._MustUse__silence = True          # elaborated by hand (to read its state), not by Amaranth
        m.submodules.pe = pm
        acc = internal(pm, "acc")
        cnt = Signal(range(K + 1))        # products of the current reduction (incl. the one in flight)
        S = Signal(signed(W))             # exact sum of the received slots' products
        ctl = Signal(CtlLayout)
        m.d.comb += [pe.en.eq(self.en), pe.a.eq(self.a), pe.w.eq(self.w), pe.ctl.eq(ctl)]
        for name, src in (("a_next", self.a), ("w_next", self.w)):
            if hasattr(pe, name):        # D inputs of the operand registers (used by the ECP5 target only)
                m.d.comb += getattr(pe, name).eq(src)
        m.d.comb += Assert(cnt <= K)
        if not bs:
            m.d.comb += [ctl.valid.eq(self.valid), ctl.first.eq(self.first), ctl.last.eq(self.last),
                         ctl.bit0.eq(1), ctl.msb.eq(1)]
            # the slot the PE accumulates now: P = cfg.os_pipe advancing cycles behind the input (the
            # pipelining option's product registers). With P > 0 the proof assumes en = 1 (no stalls):
            # the stall behaviour of the pipelined PE is covered by the array proofs (BMC).
            P = cfg.os_pipe
            if P:
                m.d.comb += Assume(self.en)
            prod_now = Signal(signed(aw + ww))
            m.d.comb += prod_now.eq(self.a * self.w)
            d_valid, d_first, d_last, d_prod = self.valid, self.first, self.last, prod_now
            for k in range(P):
                v, f, l_ = Signal(name=f"d{k}_valid"), Signal(name=f"d{k}_first"), Signal(name=f"d{k}_last")
                pr = Signal(signed(aw + ww), name=f"d{k}_prod")
                with m.If(self.en):
                    m.d.sync += [v.eq(d_valid), f.eq(d_first), l_.eq(d_last), pr.eq(d_prod)]
                m.d.comb += Assert(_abs_le(m, pr, 1 << sh, f"pbound{k}"))   # a registered product
                d_valid, d_first, d_last, d_prod = v, f, l_, pr
            # environment: at most max_k products per reduction (stated on the accumulated stream)
            with m.If(d_valid & ~d_first):
                m.d.comb += Assume(cnt < K)
            with m.If(self.en & d_valid):
                m.d.sync += cnt.eq(Mux(d_first, 1, cnt + 1))
            nxt = Signal(signed(W))
            m.d.comb += nxt.eq(Mux(d_first, 0, S) + d_prod)
            with m.If(self.en & d_valid):
                m.d.sync += S.eq(nxt)
            m.d.comb += Assert(_abs_le(m, S, cnt << sh, "bound"))
            # the pipelined PE's accumulator register holds the restart-resolved base (0 while the slot
            # being added is a ``first`` one, decided a cycle ahead), the unpipelined one the plain sum
            acc_ref = Signal(signed(W))
            m.d.comb += acc_ref.eq(Mux(d_valid & d_first, 0, S) if P else S)
        else:
            t = Signal(range(aw))         # bit position of the current slot
            p_prev = Signal(range(aw + 1))
            started = Signal()
            m.d.sync += [p_prev.eq(self.p), started.eq(1)]
            m.d.comb += Assume((self.p >= 1) & (self.p <= aw))
            with m.If(started):
                m.d.comb += Assume(self.p == p_prev)
            m.d.comb += Assert(t < self.p)
            bit0, msb = Signal(), Signal()
            m.d.comb += [bit0.eq(t == 0), msb.eq(t == self.p - 1)]
            m.d.comb += [ctl.valid.eq(self.valid), ctl.first.eq(self.first & bit0),
                         ctl.last.eq(self.last & msb), ctl.bit0.eq(bit0), ctl.msb.eq(msb)]
            wl = Signal(signed(ww))      # the weight of the current product (taken on its bit-0 slot)
            part = Signal(signed(W))       # exact partial product of the bits received so far
            Sd = Signal(signed(W))         # exact sum of the completed products
            wcur = Signal(signed(ww))
            m.d.comb += wcur.eq(Mux(bit0, self.w, wl))
            weight = Signal(signed(W))     # w * 2^t
            m.d.comb += weight.eq(wcur << t)
            base = Signal(signed(W))
            m.d.comb += base.eq(Mux(ctl.first, 0, Sd))
            part_now = Signal(signed(W))
            m.d.comb += part_now.eq(Mux(bit0, 0, part) + Mux(self.a, Mux(msb, -weight, weight), 0))
            nxt = Signal(signed(W))
            m.d.comb += nxt.eq(base + part_now)
            with m.If(self.valid & bit0 & ~self.first):
                m.d.comb += Assume(cnt < K)
            with m.If(self.en & self.valid):
                m.d.sync += t.eq(Mux(msb, 0, t + 1))
                with m.If(bit0):
                    m.d.sync += [wl.eq(self.w), cnt.eq(Mux(self.first, 1, cnt + 1))]
                with m.If(msb):
                    m.d.sync += [Sd.eq(nxt), part.eq(0)]
                with m.Else():
                    m.d.sync += [Sd.eq(base), part.eq(part_now)]
            # invariants: the PE's accumulator holds Sd + part (mod 2^acc_width) and its weight shift
            # register wl * 2^t; part lies between 0 and wl * (2^t - 1) (it is wl times t low bits);
            # |Sd| <= (completed products) * 2^(a+w-2)
            S = Signal(signed(W))
            m.d.comb += S.eq(Sd + part)
            sw = ww + aw - 1
            wsh = internal(pm, "wsh")
            wexp = Signal(signed(W))
            m.d.comb += wexp.eq(wl << t)
            with m.If(t != 0):
                m.d.comb += Assert(wsh.as_unsigned() == wexp.as_unsigned()[:sw])
            lim = Signal(signed(W))
            m.d.comb += lim.eq(wexp - wl)
            m.d.comb += Assert(Mux(wl >= 0, (part >= 0) & (part <= lim), (part <= 0) & (part >= lim)))
            with m.If(t == 0):
                m.d.comb += Assert(part == 0)
            done = Signal(range(K + 1))
            m.d.comb += done.eq(cnt - (t != 0))
            m.d.comb += Assert(~(t != 0) | (cnt >= 1))
            m.d.comb += Assert(_abs_le(m, Sd, done << sh, "bound"))
            d_valid, d_last = self.valid, ctl.last
            acc_ref = S
            if cfg.os_pipe:
                # pipelining option: the result (the accumulator register) comes one advancing cycle after
                # the last slot and waits there through stalls
                v1, l1, n1 = Signal(name="r_valid"), Signal(name="r_last"), Signal(signed(W), name="r_nxt")
                with m.If(self.en):
                    m.d.sync += [v1.eq(d_valid), l1.eq(d_last), n1.eq(nxt)]
                d_valid, d_last, nxt = v1, l1, n1
        # the property: on the last slot the result is the exact dot product (so it fits acc_width)
        m.d.comb += Assert(acc.as_unsigned() == acc_ref.as_unsigned()[:n])
        with m.If(d_valid & d_last):
            m.d.comb += Assert(pe.result_valid & (pe.result == nxt))
        with m.Else():
            m.d.comb += Assert(~pe.result_valid)
        m.d.comb += Cover(d_valid & d_last & (cnt == K))
        return m


class _Timeline:
    """Expected output beats ``k`` advancing cycles ahead (``k = 0``: now); shifts when ``en``."""

    def __init__(self, m: Module, depth: int, cols: int, width: int, en):
        self.m, self.depth, self.en = m, depth, en
        self.valid = [Signal(name=f"tl_v{k}") for k in range(depth)]
        self.last = [Signal(name=f"tl_l{k}") for k in range(depth)]
        self.y = [[Signal(signed(width), name=f"tl_y{k}_{j}") for j in range(cols)] for k in range(depth)]
        self._writes = []        # (cond, pos, values, last) -- pos counted from now (>= 1)

    def write(self, cond, pos, values, last):
        self._writes.append((cond, pos, values, last))

    def finish(self):
        m = self.m
        for k in range(self.depth):
            nxt_v = self.valid[k + 1] if k + 1 < self.depth else Const(0)
            nxt_l = self.last[k + 1] if k + 1 < self.depth else Const(0)
            with m.If(self.en):
                m.d.sync += [self.valid[k].eq(nxt_v), self.last[k].eq(nxt_l)]
                if k + 1 < self.depth:
                    m.d.sync += [self.y[k][j].eq(self.y[k + 1][j]) for j in range(len(self.y[k]))]
                for cond, pos, values, last in self._writes:
                    with m.If(cond & (pos == k + 1)):
                        # no two results may be due in the same cycle
                        m.d.comb += Assert(~nxt_v)
                        m.d.sync += [self.valid[k].eq(1), self.last[k].eq(last)]
                        m.d.sync += [self.y[k][j].eq(v) for j, v in enumerate(values)]
            for cond, pos, _, _ in self._writes:
                m.d.comb += Assert(~(self.en & cond) | ((pos >= 1) & (pos <= self.depth)))

    def check(self, o_valid, o_y, o_last):
        """The output port shows exactly the beat due now."""
        m = self.m
        m.d.comb += Assert(o_valid == self.valid[0])
        with m.If(self.valid[0]):
            m.d.comb += Assert(o_last == self.last[0])
            for j, y in enumerate(self.y[0]):
                m.d.comb += Assert(o_y[j] == y)


class _Queue:
    """Reference rows not yet sent, oldest first: ``push`` appends rows (one event per cycle), ``check``
    compares each output transfer with the oldest row and drops it."""

    def __init__(self, m: Module, depth: int, cols: int, width: int):
        self.m, self.depth = m, depth
        self.count = Signal(range(depth + 1))
        self.y = [[Signal(signed(width), name=f"q_y{k}_{j}") for j in range(cols)] for k in range(depth)]
        self.last = [Signal(name=f"q_l{k}") for k in range(depth)]

    def run(self, push, rows, lasts, pop, o_y, o_last):
        m, D, n = self.m, self.depth, len(rows)
        # environment bound: the harness holds at most ``depth`` rows in flight
        with m.If(push):
            m.d.comb += Assume(self.count + n - pop <= D)
        with m.If(pop):
            m.d.comb += Assert(self.count >= 1)          # no output beat without a reference row
            m.d.comb += Assert(o_last == self.last[0])
            for j, y in enumerate(self.y[0]):
                m.d.comb += Assert(o_y[j] == y)
        base = Signal(range(D + 1))
        m.d.comb += base.eq(self.count - pop)
        for k in range(D):
            if k + 1 < D:
                with m.If(pop):
                    m.d.sync += [self.y[k][j].eq(self.y[k + 1][j]) for j in range(len(self.y[k]))]
                    m.d.sync += self.last[k].eq(self.last[k + 1])
            for r in range(n):
                with m.If(push & (base + r == k)):
                    m.d.sync += [self.y[k][j].eq(v) for j, v in enumerate(rows[r])]
                    m.d.sync += self.last[k].eq(lasts[r])
        m.d.sync += self.count.eq(base + Mux(push, n, 0))


def _latency_os(cfg: ArrayConfig) -> int:
    from macforge.golden.cycles import os_output_latency
    return os_output_latency(cfg)


def _latency_ws(cfg: ArrayConfig, L: int) -> int:
    """Cycles from an activation beat's acceptance to its output row: from :func:`ws_job_cycles` of a
    one-row tile (``N = T_0 + lat + 1`` with the tile's beat accepted in cycle ``T_0 = R``)."""
    from macforge.golden.cycles import ws_job_cycles
    return ws_job_cycles(cfg, [1], L) - 1 - cfg.rows


class OsArrayProof(Elaboratable):
    """An OS array (parallel or bit-serial at ``precision = a_width``) against a reference GEMM and the
    cycle model: a tile's final slot is presented in advancing cycle ``E = max(t + L, E_prev + R)`` (``t``
    the acceptance of its ``last`` beat; with a continuous input this is ``E_t = E_(t-1) + max(K L, R)`` of
    :func:`macforge.golden.cycles.os_job_cycles`) and row ``r`` leaves in ``E + os_output_latency + r``."""

    def __init__(self, cfg: ArrayConfig, mode: str = "timing"):
        assert cfg.dataflow == "os" and cfg.mac in ("parallel", "bitserial") and mode in ("timing", "order")
        self.cfg, self.mode = cfg, mode
        R, C = cfg.rows, cfg.cols
        self.s_valid, self.s_first, self.s_last, self.o_ready = Signal(), Signal(), Signal(), Signal()
        self.s_a = [Signal(signed(cfg.a_width), name=f"s_a{i}") for i in range(R)]
        self.s_w = [Signal(signed(cfg.w_width), name=f"s_w{j}") for j in range(C)]
        self.ports = [self.s_valid, self.s_first, self.s_last, self.o_ready, *self.s_a, *self.s_w]

    def elaborate(self, platform):
        from .os_array import OsArray
        m = Module()
        _no_reset(m)
        cfg = self.cfg
        R, C, K = cfg.rows, cfg.cols, cfg.max_k
        L = cfg.cycles_per_step()
        W = cfg.acc_width + 4
        arr = m.submodules.array = OsArray(cfg)
        if cfg.mac == "bitserial":
            m.d.comb += arr.precision.eq(cfg.a_width)
        m.d.comb += [arr.s.valid.eq(self.s_valid), arr.s.payload.first.eq(self.s_first),
                     arr.s.payload.last.eq(self.s_last), arr.o.ready.eq(self.o_ready)]
        m.d.comb += [arr.s.payload.a[i].eq(self.s_a[i]) for i in range(R)]
        m.d.comb += [arr.s.payload.w[j].eq(self.s_w[j]) for j in range(C)]
        # timing: the cycle model's convention (output always ready), every cycle advances;
        # order: any backpressure, only values and order are checked
        en = Const(1)
        if self.mode == "timing":
            m.d.comb += Assume(self.o_ready)
        take = Signal()
        m.d.comb += take.eq(arr.s.valid & arr.s.ready)
        # environment (the engine's generator): first exactly on a tile's first beat, K <= max_k
        in_tile = Signal()
        kc = Signal(range(K + 1))
        with m.If(self.s_valid):
            m.d.comb += Assume(self.s_first == ~in_tile)
            with m.If(~self.s_last):
                m.d.comb += Assume(Mux(self.s_first, 1, kc + 1) < K)
        with m.If(take):
            m.d.sync += [in_tile.eq(~self.s_last), kc.eq(Mux(self.s_first, 1, kc + 1))]
        # reference sums
        acc = [[Signal(signed(W), name=f"ref_{i}_{j}") for j in range(C)] for i in range(R)]
        nxt = [[Signal(signed(W), name=f"refn_{i}_{j}") for j in range(C)] for i in range(R)]
        for i in range(R):
            for j in range(C):
                m.d.comb += nxt[i][j].eq(Mux(self.s_first, 0, acc[i][j]) + self.s_a[i] * self.s_w[j])
                with m.If(take):
                    m.d.sync += acc[i][j].eq(nxt[i][j])
        if self.mode == "order":
            q = _Queue(m, 3 * R, C, W)
            q.run(take & self.s_last, [nxt[r] for r in range(R)], [Const(r == R - 1) for r in range(R)],
                  arr.o.valid & arr.o.ready, [arr.o.payload.y[j] for j in range(C)], arr.o.payload.last)
            return m
        # cycle model: gap = cycles since the previous tile's final slot (saturating)
        lat = _latency_os(cfg)
        gap = Signal(signed(8), init=R)
        delta = Signal(signed(8))
        m.d.comb += delta.eq(Mux(R - gap > L, R - gap, L))
        with m.If(en):
            with m.If(take & self.s_last):
                m.d.comb += Assert(gap >= 0)         # a tile's last beat never overtakes the previous E
                m.d.sync += gap.eq(1 - delta)
            with m.Elif(gap < R):
                m.d.sync += gap.eq(gap + 1)
        tl = _Timeline(m, L + 2 * R + lat + 2, C, W, en)
        for r in range(R):
            tl.write(take & self.s_last, delta + lat + r, [nxt[r][j] for j in range(C)], r == R - 1)
        tl.finish()
        tl.check(arr.o.valid, [arr.o.payload.y[j] for j in range(C)], arr.o.payload.last)
        return m


def _elaborated(mod: Module, name: str, platform) -> Module:
    """The submodule ``name`` of ``mod`` elaborated by hand (so :func:`internal` can read its state),
    put back in its place."""
    unit, loc = mod._named_submodules[name]
    if not isinstance(unit, Module):
        em = unit.elaborate(platform)
        unit._MustUse__silence = True
        mod._named_submodules[name] = (em, loc)
        unit = em
    return unit


def _ws_lemmas(m, cfg, am, take, first, last, tlast, y_ref, new_ref, accm, wb_ref, lb_ref, wrow_ref, cb_ref,
               D: int, which=None, platform=None):
    """Lemmas relating the WS array's internal state to the harness's reference, asserted in every cycle.

    smtbmc adds every assertion it has proven at a step as a fact for the later steps, so with these a deep
    step needs no re-derivation of the whole input history: without them each output check had to
    re-prove, across every possible schedule of idles and loads, that the sum of all the K-chunks' products
    that went through the accumulator memory equals the reference -- the 3-bit WS jobs then stopped at
    steps 14-16 of 18-25. Each lemma is an extra proven property (a wrong one fails the job, it is never
    assumed). ``D``: advancing cycles (``skid_en``) from a beat's acceptance to the cycle the array
    accumulates its row (``new``, one cycle before the output register). ``h[k]`` below is a value ``k + 1``
    advancing cycles ago.

    * ``ctl``: the accumulate stage's slot control ``c_r`` is valid exactly ``D`` advancing cycles after a
      beat was accepted, with that beat's ``first`` / ``last`` / ``tlast``;
    * ``w``: the weight double buffer (every cell's ``wb0`` / ``wb1``, the edge's ``lb``, ``wrow``, ``cb``)
      equals the reference's;
    * ``y``: the registered column sums ``y_r`` of that slot equal the reference ``x W`` of the beat;
    * ``mem``: every accumulator memory row (read through an extra asynchronous read port the harness adds
      to the array's memory) equals the reference row as it was ``D`` advancing cycles ago;
    * ``base``: ``(first ? 0 : base) + y_r`` (the row written back) equals the reference's new row.

    Returns the reference stream delayed to the accumulate stage (``en``, ``valid``, ``last``, ``tlast``,
    ``new``: :class:`WsArrayProof` order mode pushes its reference queue from it), or None (no lemma added;
    the job is then plain BMC) when the array's internals are not the ones named here, i.e.
    ``macforge.rtl.ws_array`` was restructured and this function must follow it."""
    R, C, n = cfg.rows, cfg.cols, cfg.acc_width
    which = set(which or ("ctl", "w", "mem", "y", "base"))
    try:
        if "edge_logic" in am._named_submodules:
            # the array top as a netlist of units (macforge.rtl.grid): the edge unit holds the weight
            # buffer control, the accumulator and the skid; every cell its two weight registers
            edge = _elaborated(am, "edge_logic", platform)
            cells = [[_elaborated(am, f"pe_r{i}_c{j}", platform) for j in range(C)] for i in range(R)]
            wb = [[[internal(cells[i][j], f"wb{b}") for j in range(C)] for i in range(R)] for b in range(2)]
        else:
            edge = am
            wb = [[[internal(am, f"wb{b}_{i}_{j}") for j in range(C)] for i in range(R)] for b in range(2)]
        en = internal(edge, "skid_en")          # the array's advance enable (macforge.rtl.skid)
        c_r = data.View(CtlLayout, internal(edge, "c_r"))
        row = data.ArrayLayout(signed(n), C)
        y_r = data.View(row, internal(edge, "y_r"))
        base = data.View(row, internal(edge, "base"))
        lb, wrow, cb = internal(edge, "lb"), internal(edge, "wrow"), internal(edge, "cb")
        acc_mod = edge._named_submodules["acc"][0]
        mem = getattr(acc_mod, "mem", acc_mod)  # a RegisteredReadMemory (pipelined) holds its Memory
    except (LookupError, KeyError):
        return None
    # histories: h[k] = the value k + 1 advancing cycles ago
    def hist(sig, depth, name):
        h = [Signal.like(sig, name=f"h_{name}_{k}") for k in range(depth)]
        with m.If(en):
            m.d.sync += h[0].eq(sig)
            m.d.sync += [h[k].eq(h[k - 1]) for k in range(1, depth)]
        return h
    hv, hf, hl, ht = (hist(x, D, nm) for x, nm in ((take, "v"), (first, "f"), (last, "l"), (tlast, "t")))
    if "ctl" in which:
        m.d.comb += Assert(c_r.valid == hv[D - 1])
        with m.If(c_r.valid):
            m.d.comb += Assert((c_r.first == hf[D - 1]) & (c_r.last == hl[D - 1]) & (c_r.tlast == ht[D - 1]))
    if "w" in which:
        m.d.comb += Assert((lb == lb_ref) & (wrow == wrow_ref) & (cb == cb_ref))
        for b in range(2):
            for i in range(R):
                for j in range(C):
                    m.d.comb += Assert(wb[b][i][j] == wb_ref[b][i][j])
    if "y" in which:
        for j in range(C):
            hy = hist(y_ref[j], D, f"y{j}")
            with m.If(c_r.valid):
                m.d.comb += Assert(y_r[j] == hy[D - 1])
    if "mem" in which:
        for r in range(len(accm)):
            rp = mem.read_port(domain="comb")
            m.d.comb += rp.addr.eq(r)
            eff = Value.cast(rp.data)
            if hasattr(acc_mod, "w_en_r"):      # a registered write pending: the row as it will be
                eff = Mux(acc_mod.w_en_r & (acc_mod.w_addr_r == r), acc_mod.w_data_r, eff)
            rdat = data.View(row, eff)
            for j in range(C):
                ha = hist(accm[r][j], D, f"acc{r}_{j}")
                m.d.comb += Assert(rdat[j] == ha[D - 1])
    hn = [hist(new_ref[j], D, f"new{j}") for j in range(C)]
    if "base" in which:
        for j in range(C):
            with m.If(c_r.valid):
                m.d.comb += Assert(y_r[j] + Mux(c_r.first, 0, base[j]) == hn[j][D - 1])
    # the reference stream delayed to the accumulate stage (for the order check)
    return {"en": en, "valid": hv[D - 1], "last": hl[D - 1], "tlast": ht[D - 1], "new": [h[D - 1] for h in hn]}


class WsArrayProof(Elaboratable):
    """A WS array (parallel or bit-serial at ``precision = a_width``) against a reference: weight rows
    fill two tile buffers in order, an activation beat multiplies with the oldest complete tile (one is
    always there when a beat is accepted; a third tile is never written over an unused one), row ``m``
    of the accumulator is ``(first ? 0 : acc[m]) + x W``, and a ``last`` beat's row leaves exactly
    ``lat`` advancing cycles after the beat was accepted (``lat`` from :func:`ws_job_cycles`).
    ``lemmas`` (default): also assert :func:`_ws_lemmas` on the array's internal state, which makes the
    BMC reach whole tiles in minutes; ``lemmas_used`` tells whether they could be attached."""

    def __init__(self, cfg: ArrayConfig, mode: str = "timing", lemmas: bool = True):
        assert cfg.dataflow == "ws" and cfg.mac in ("parallel", "bitserial") and mode in ("timing", "order")
        self.cfg, self.mode, self.lemmas = cfg, mode, lemmas
        self.lemmas_used = False
        self.lemma_set = None
        R, C = cfg.rows, cfg.cols
        self.w_valid, self.s_valid, self.o_ready = Signal(), Signal(), Signal()
        self.s_first, self.s_last, self.s_tlast = Signal(), Signal(), Signal()
        self.w_row = [Signal(signed(cfg.w_width), name=f"w_row{j}") for j in range(C)]
        self.s_a = [Signal(signed(cfg.a_width), name=f"s_a{i}") for i in range(R)]
        self.ports = [self.w_valid, self.s_valid, self.o_ready, self.s_first, self.s_last, self.s_tlast,
                      *self.w_row, *self.s_a]

    def elaborate(self, platform):
        from .ws_array import WsArray
        m = Module()
        _no_reset(m)
        cfg = self.cfg
        R, C, MM = cfg.rows, cfg.cols, cfg.max_m
        L = cfg.cycles_per_step()
        W = cfg.acc_width + 4
        arr = WsArray(cfg)
        am = arr.elaborate(platform) if self.lemmas else arr
        if self.lemmas:
            arr._MustUse__silence = True      # elaborated by hand (to read its state for the lemmas)
        m.submodules.array = am
        if cfg.mac == "bitserial":
            m.d.comb += arr.precision.eq(cfg.a_width)
        m.d.comb += [arr.w.valid.eq(self.w_valid), arr.s.valid.eq(self.s_valid), arr.o.ready.eq(self.o_ready),
                     arr.s.payload.first.eq(self.s_first), arr.s.payload.last.eq(self.s_last),
                     arr.s.payload.tlast.eq(self.s_tlast)]
        m.d.comb += [arr.w.payload[j].eq(self.w_row[j]) for j in range(C)]
        m.d.comb += [arr.s.payload.a[i].eq(self.s_a[i]) for i in range(R)]
        en = Const(1)
        if self.mode == "timing":
            m.d.comb += Assume(self.o_ready)
        w_take, s_take = Signal(), Signal()
        m.d.comb += [w_take.eq(arr.w.valid & arr.w.ready), s_take.eq(arr.s.valid & arr.s.ready)]
        # reference weight buffers
        wb = [[[Signal(signed(cfg.w_width), name=f"rwb{b}_{i}_{j}") for j in range(C)] for i in range(R)]
              for b in range(2)]
        lb, cb = Signal(), Signal()
        wrow = Signal(range(max(R, 2)))
        nfull = Signal(range(3))
        tile_done = Signal()
        m.d.comb += tile_done.eq(w_take & (wrow == R - 1))
        with m.If(w_take):
            m.d.comb += Assert(nfull <= 1)
            for b in range(2):
                for i in range(R):
                    with m.If((lb == b) & (wrow == i)):
                        m.d.sync += [wb[b][i][j].eq(self.w_row[j]) for j in range(C)]
            m.d.sync += wrow.eq(Mux(wrow == R - 1, 0, wrow + 1))
            with m.If(wrow == R - 1):
                m.d.sync += lb.eq(~lb)
        with m.If(s_take):
            m.d.comb += Assert(nfull >= 1)
        m.d.sync += nfull.eq(nfull + tile_done - (s_take & self.s_tlast))
        with m.If(s_take & self.s_tlast):
            m.d.sync += cb.eq(~cb)
        # reference accumulator rows
        accm = [[Signal(signed(W), name=f"racc{r}_{j}") for j in range(C)] for r in range(MM)]
        mrow = Signal(range(max(MM, 2)))
        y = [Signal(signed(W), name=f"ry{j}") for j in range(C)]
        new = [Signal(signed(W), name=f"rnew{j}") for j in range(C)]
        for j in range(C):
            m.d.comb += y[j].eq(sum(self.s_a[i] * Mux(cb, wb[1][i][j], wb[0][i][j]) for i in range(R)))
            cur = Signal(signed(W), name=f"rcur{j}")
            for r in range(MM):
                with m.If(mrow == r):
                    m.d.comb += cur.eq(accm[r][j])
            m.d.comb += new[j].eq(Mux(self.s_first, 0, cur) + y[j])
        # environment (the engine's generator): at most max_k products per output, i.e. max_k / R K-chunks
        # accumulate into a row before the next ``first``
        chunks = [Signal(range(cfg.max_k + 2), name=f"rchunks{r}") for r in range(MM)]
        cmax = max(1, cfg.max_k // R)
        for r in range(MM):
            with m.If(self.s_valid & (mrow == r) & ~self.s_first):
                m.d.comb += Assume(chunks[r] < cmax)
        with m.If(s_take):
            for r in range(MM):
                with m.If(mrow == r):
                    m.d.sync += [accm[r][j].eq(new[j]) for j in range(C)]
                    m.d.sync += chunks[r].eq(Mux(self.s_first, 1, chunks[r] + 1))
            m.d.sync += mrow.eq(Mux(self.s_tlast | (mrow == MM - 1), 0, mrow + 1))
        lem = None
        if self.lemmas:
            lem = _ws_lemmas(m, cfg, am, s_take, self.s_first, self.s_last, self.s_tlast, y, new, accm,
                             wb, lb, wrow, cb, _latency_ws(cfg, L) - 1, self.lemma_set, platform)
            self.lemmas_used = lem is not None
        if self.mode == "order":
            q = _Queue(m, 4, C, W)
            if lem is not None:
                # the same reference rows, pushed D advancing cycles later (when the array accumulates
                # them): the sequence and its order are unchanged, and an output row still has to be
                # pushed before it may leave, so this check implies the undelayed one -- but the queue
                # now spans only the output register and the skid register
                q.run(lem["en"] & lem["valid"] & lem["last"], [lem["new"]], [lem["tlast"]],
                      arr.o.valid & arr.o.ready, [arr.o.payload.y[j] for j in range(C)], arr.o.payload.last)
            else:
                q.run(s_take & self.s_last, [new], [self.s_tlast], arr.o.valid & arr.o.ready,
                      [arr.o.payload.y[j] for j in range(C)], arr.o.payload.last)
            return m
        lat = _latency_ws(cfg, L)
        tl = _Timeline(m, lat + 1, C, W, en)
        tl.write(s_take & self.s_last, Const(lat, range(lat + 1)), new, self.s_tlast)
        tl.finish()
        tl.check(arr.o.valid, [arr.o.payload.y[j] for j in range(C)], arr.o.payload.last)
        return m


class EngineStreamProof(Elaboratable):
    """The engine's output stream contract and bounded return to idle (see the module docstring).

    ``bound``: the most cycles the engine may stay busy after the ``tlast`` beat of a packet was taken,
    with ``m_axis_tready`` high from then on (the caller derives it from the cycle model)."""

    def __init__(self, ecfg, bound: int, check: str = "both", ready_always: bool = False):
        assert check in ("stream", "idle", "both")
        self.ecfg, self.bound, self.ready_always, self.check = ecfg, bound, ready_always, check
        self.s_tdata = Signal(ecfg.axis_width)
        self.s_tvalid, self.s_tlast, self.m_tready = Signal(), Signal(), Signal()
        self.ports = [self.s_tdata, self.s_tvalid, self.s_tlast, self.m_tready]

    def elaborate(self, platform):
        from .engine import Engine
        m = Module()
        _no_reset(m)
        e = m.submodules.engine = Engine(self.ecfg)
        m.d.comb += [e.s_axis_tdata.eq(self.s_tdata), e.s_axis_tvalid.eq(self.s_tvalid),
                     e.s_axis_tlast.eq(self.s_tlast), e.m_axis_tready.eq(self.m_tready)]
        # stream contract on m_axis: a beat offered and not taken stays, unchanged
        held = Signal()
        pd, pl, pu = Signal.like(e.m_axis_tdata), Signal(), Signal()
        m.d.sync += [held.eq(e.m_axis_tvalid & ~e.m_axis_tready), pd.eq(e.m_axis_tdata),
                     pl.eq(e.m_axis_tlast), pu.eq(e.m_axis_tuser)]
        if self.check in ("stream", "both"):
            with m.If(held):
                m.d.comb += Assert(e.m_axis_tvalid)
                m.d.comb += Assert((e.m_axis_tdata == pd) & (e.m_axis_tlast == pl) & (e.m_axis_tuser == pu))
        if self.check == "stream":
            return m
        # bounded return to idle after a packet's tlast (m_axis_tready high from then on)
        busy = e.status[0]
        closed = Signal()          # a tlast beat was taken and the engine has not been idle since
        waited = Signal(range(self.bound + 2))
        with m.If(e.s_axis_tvalid & e.s_axis_tready & e.s_axis_tlast):
            m.d.sync += [closed.eq(1), waited.eq(0)]
        with m.Elif(~busy):
            m.d.sync += [closed.eq(0), waited.eq(0)]
        with m.Elif(closed & (waited <= self.bound)):
            m.d.sync += waited.eq(waited + 1)
        with m.If(closed):
            m.d.comb += Assume(self.m_tready)
        if self.ready_always:
            m.d.comb += Assume(self.m_tready)
        m.d.comb += Assert(~(closed & busy) | (waited <= self.bound))
        m.d.comb += Cover(closed & ~busy & (waited > 3))
        return m
