"""Output-stationary (OS) systolic array: ``Y[R x C] = A[R x K] @ W[K x C]`` per tile.

Dataflow. PE ``(i, j)`` owns ``Y[i][j]``. Step ``k`` delivers the column ``A[:, k]`` (one value per
row, entering at the left edge) and the row ``W[k, :]`` (one value per column, entering at the top
edge); the array skews row ``i`` by ``i`` cycles and column ``j`` by ``j`` cycles, so both operands of
step ``k`` meet in PE ``(i, j)`` ``i + j`` cycles after the front end emits them, travelling one hop per
cycle with their control bits (:mod:`macforge.rtl.slot`). The ``first`` slot of a tile restarts each
accumulator, so consecutive tiles need no reset and no bubble.

Drain. When PE ``(i, j)`` sees the ``last`` slot (``cfg.os_pipe`` advancing cycles later with the pipelining
option) it drops its result into a per-column drain chain of
``2R`` registers at position ``2i`` (two registers per row hop). Results then move one position per
cycle towards the bottom; because PE ``i`` finishes one cycle after PE ``i - 1`` and inserts two
positions further down, results never collide and leave the bottom of each column in consecutive
cycles. Logical row ``r`` is wired to physical row ``R-1-r`` so rows leave in order ``0 .. R-1``. A
de-skew line of ``C-1-j`` registers on column ``j`` aligns the columns: the output stream carries one
full row ``Y[r, 0..C-1]`` per beat, ``last`` on row ``R-1``.

Timing (advancing cycles, parallel MAC ``L = 1``, bit-serial ``L = p``). Let the front end present the
tile's final slot in cycle ``E``; output row ``r`` is presented in cycle ``E + R + C + 1 + P + r`` (``P`` =
:attr:`~macforge.golden.config.ArrayConfig.pipe_latency`: the PE's result comes ``P`` advancing cycles after
the ``last`` slot with the pipelining option). A tile's
final slot may follow the previous tile's by no less than ``R`` cycles (drain bandwidth is one row per
cycle), so back-to-back tiles take ``max(K * L, R)`` cycles each; the front end inserts the bubbles.
See :func:`macforge.golden.cycles.os_job_cycles` for the exact job model.

Stall. The array advances (``en``) while its output skid register (:mod:`macforge.rtl.skid`) is empty:
a result row that ``o`` does not take when the array advances moves there, and the array then freezes
every register until that row is taken, so nothing is lost or reordered. ``en`` is a flip-flop, not a
function of ``o.ready``; with ``o.ready`` high the array never stalls.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Shape, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.config import ArrayConfig
from .frontend import connect_runtime, make_frontend, with_precision_port
from .grid import Netlist
from .mac import family
from .skid import skid_output
from .slot import CtlLayout


def os_in_layout(cfg: ArrayConfig) -> data.StructLayout:
    return data.StructLayout({
        "a": data.ArrayLayout(family(cfg).act_shape(cfg), cfg.rows),
        "w": data.ArrayLayout(family(cfg).weight_shape(cfg), cfg.cols),
        "first": 1,
        "last": 1,
    })


def out_layout(cfg: ArrayConfig) -> data.StructLayout:
    return data.StructLayout({"y": data.ArrayLayout(signed(cfg.acc_width), cfg.cols), "last": 1})


class OsArray(wiring.Component):
    """OS array top. Ports: ``s`` (input stream: ``a`` column, ``w`` row, ``first``, ``last`` of a tile),
    ``o`` (output stream: one result row ``y`` per beat, ``last`` on the tile's final row) and, for the
    bit-serial MAC, ``precision`` (run-time activation precision, latched per input beat).

    Structure (:meth:`netlist`, :mod:`macforge.rtl.grid`): the edge unit :class:`OsEdge`, the a / ctl skew
    line of physical row ``i`` (``i`` stages ``askew<i>_k<k>``), the weight skew of column ``j``
    (``wskew<j>_k<k>``), R x C :class:`OsCell` units ``pe_r<i>_c<j>`` and the de-skew line of column
    ``j`` (``C-1-j`` stages ``dskew<j>_k<k>``) in front of the edge's output logic."""

    def __init__(self, cfg: ArrayConfig):
        assert cfg.dataflow == "os"
        self.cfg = cfg
        super().__init__(os_members(cfg))

    def netlist(self, platform) -> Netlist:
        cfg = self.cfg
        R, C, n = cfg.rows, cfg.cols, cfg.acc_width
        fam = family(cfg)
        sw, ww = Shape.cast(fam.symbol_shape(cfg)).width, Shape.cast(fam.os_weight_shape(cfg)).width
        aw = sw + CTL_W                   # one skew stage carries {ctl, a}
        nl = Netlist(cfg, platform, self)
        nl.net("en", 1)
        nl.net("sac", R * aw)
        nl.net("sw", C * ww)
        nl.net("ys", C * (n + 1))
        ports = {p: p for p in _port_names(self)}
        nl.add("edge_logic", lambda: OsEdge(cfg), "edge", {**ports, "en": "en", "sac": "sac", "sw": "sw", "ys": "ys"})
        left = [nl.stages(f"askew{i}", ("sac", i * aw, (i + 1) * aw), aw, i) for i in range(R)]
        top = [nl.stages(f"wskew{j}", ("sw", j * ww, (j + 1) * ww), ww, j) for j in range(C)]
        ys = []
        for j in range(C):
            d = Const(0, n + 1)
            w = top[j]
            for i in range(R):
                a = _sub(left[i], 0, sw) if j == 0 else f"a_{i}_{j - 1}"
                c = _sub(left[i], sw, aw) if j == 0 else f"c_{i}_{j - 1}"
                outs = {"a_out": nl.net(f"a_{i}_{j}", sw), "c_out": nl.net(f"c_{i}_{j}", CTL_W),
                        "w_out": nl.net(f"w_{i}_{j}", ww), "d_out": nl.net(f"d_{j}_{2 * i + 1}", n + 1)}
                faulty = cfg.fault is not None and (cfg.fault.row, cfg.fault.col) == (R - 1 - i, j)
                nl.add(f"pe_r{i}_c{j}", lambda f=faulty: OsCell(cfg, f), "cell",
                       {"en": "en", "a_in": a, "c_in": c, "w_in": w, "d_in": d, **outs}, variant=faulty)
                w, d = outs["w_out"], outs["d_out"]
            ys.append(nl.stages(f"dskew{j}", d, n + 1, C - 1 - j))
        nl.insts[0].conns["ys"] = ys
        return nl

    def elaborate(self, platform):
        return self.netlist(platform).elaborate(Module())


CTL_W = Shape.cast(CtlLayout).width


def _sub(ref, lo, hi):
    """Bits ``lo .. hi-1`` of a net reference (a net name or a slice of one)."""
    if isinstance(ref, tuple):
        return (ref[0], ref[1] + lo, ref[1] + hi)
    return (ref, lo, hi)


def _port_names(component) -> list[str]:
    from .hier import _port_values
    return list(_port_values(component))


def os_members(cfg: ArrayConfig) -> dict:
    return with_precision_port(cfg, {
        "s": In(stream.Signature(os_in_layout(cfg))),
        "o": Out(stream.Signature(out_layout(cfg))),
    })


class OsCell(wiring.Component):
    """PE ``(i, j)`` of the OS array (physical row ``i``) with its hop registers.

    Registers (all advance with ``en``; the output ports are the registers themselves): ``a_out`` /
    ``c_out`` (activation symbol, slot control; ``c_out`` marked ``keep``, see
    :func:`macforge.gen.synth.keep_hop_registers`) load ``a_in`` / ``c_in`` from the left, ``w_out``
    loads ``w_in`` from above, and ``d0`` / ``d_out`` are positions ``2i`` / ``2i+1`` of column ``j``'s
    drain chain, each ``{valid, result}`` (``n + 1`` bits). Position ``2i`` loads the PE's result when it
    is valid (the cycle of the ``last`` slot, ``cfg.os_pipe`` advancing cycles later with the pipelining
    option), otherwise ``d_in`` (position ``2i - 1``, the cell above;
    0 in row 0); position ``2i + 1`` copies ``2i``. The PE sees ``a_out``, ``w_out``, ``c_out``; a PE with
    ``a_next``/``w_next`` gets ``a_in`` / ``w_in`` (the D inputs of those registers). ``faulty``: the
    result is XORed with ``cfg.fault.mask`` (test only).
    """

    def __init__(self, cfg: ArrayConfig, faulty: bool = False):
        self.cfg, self.faulty = cfg, faulty
        fam = family(cfg)
        sym, ws, n = fam.symbol_shape(cfg), fam.os_weight_shape(cfg), cfg.acc_width
        super().__init__({"en": In(1), "a_in": In(sym), "c_in": In(CtlLayout), "w_in": In(ws), "d_in": In(n + 1),
                          "a_out": Out(sym), "c_out": Out(CtlLayout), "w_out": Out(ws), "d_out": Out(n + 1)})

    def elaborate(self, platform):
        m = Module()
        cfg, n = self.cfg, self.cfg.acc_width
        fam = family(cfg)
        # the output ports are the registers themselves (one name for each register in the flat and the
        # hierarchical emission, which the equivalence proof pairs by name)
        a, c, w, d1 = self.a_out, self.c_out, self.w_out, self.d_out
        # slot-control hop register: every register of an anti-diagonal holds the same value, so a
        # synthesis tool would merge them into one flip-flop per diagonal driving PEs across the whole
        # array; ``keep`` (see macforge.gen.synth.KEEP_HOP_REGISTERS) keeps one per PE, next to it
        Value.cast(c).attrs["keep"] = 1
        d0 = Signal(n + 1, name="d0")
        pe = m.submodules.pe = fam.os_pe(cfg)
        m.d.comb += [pe.en.eq(self.en), pe.a.eq(a), pe.w.eq(w), pe.ctl.eq(c)]
        if "a_next" in pe.signature.members:
            # D inputs of a / w (the ECP5 target copies them into the DSP block)
            m.d.comb += [pe.a_next.eq(self.a_in), pe.w_next.eq(self.w_in)]
        result = pe.result
        if self.faulty:
            result = pe.result ^ cfg.fault.mask   # test-only fault (see macforge.golden.config.Fault)
        with m.If(self.en):
            m.d.sync += [a.eq(self.a_in), c.eq(self.c_in), w.eq(self.w_in), d1.eq(d0)]
            with m.If(pe.result_valid):
                m.d.sync += d0.eq(Cat(result, 1))
            with m.Else():
                m.d.sync += d0.eq(self.d_in)
        return m


class OsEdge(wiring.Component):
    """Everything of the OS array but the grid: front end, drain spacing, output row counter, skid.

    Ports: the array's own, and towards the grid ``en`` (the array advances), ``sac`` (row ``i``:
    ``{slot ctl, slot a of logical row R-1-i}``, before the skew), ``sw`` (column ``j``'s weight slot,
    before the skew) and ``ys`` (column ``j``: ``{valid, result}`` after the de-skew; column 0's valid
    marks a result row)."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        fam = family(cfg)
        sw = Shape.cast(fam.symbol_shape(cfg)).width
        ww = Shape.cast(fam.os_weight_shape(cfg)).width
        members = os_members(cfg)
        members.update({"en": Out(1), "sac": Out(cfg.rows * (sw + CTL_W)), "sw": Out(cfg.cols * ww),
                        "ys": In(cfg.cols * (cfg.acc_width + 1))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C, n = cfg.rows, cfg.cols, cfg.acc_width
        en = self.en          # the array advances: a register (rtl/skid.py), see "output" below

        # ---- front end: one input beat -> L slots; enforces the drain spacing of R cycles.
        fe = m.submodules.frontend = make_frontend(cfg, with_weights=True)
        since_last = Signal(range(R + 1), init=R)
        m.d.comb += [
            fe.en.eq(en),
            fe.valid.eq(self.s.valid),
            self.s.ready.eq(fe.ready),
            fe.a.eq(self.s.payload.a),
            fe.extra.eq(self.s.payload.w),
            fe.first.eq(self.s.payload.first),
            fe.last.eq(self.s.payload.last),
            fe.hold_last.eq(since_last < R),
        ]
        connect_runtime(m, cfg, fe, self)
        with m.If(en):
            with m.If(fe.slot_ctl.valid & fe.slot_ctl.last):
                m.d.sync += since_last.eq(1)
            with m.Elif(since_last < R):
                m.d.sync += since_last.eq(since_last + 1)
        # physical row i carries logical row R-1-i
        m.d.comb += self.sac.eq(Cat(*[Cat(fe.slot_a[R - 1 - i], fe.slot_ctl) for i in range(R)]))
        m.d.comb += self.sw.eq(Cat(*[fe.slot_extra[j] for j in range(C)]))

        # ---- output: one row per beat; count rows to mark the tile's last one.
        # The de-skewed columns are the output register; a skid register decouples ``o.ready`` from the
        # array's enable (macforge.rtl.skid).
        row = Signal(range(max(R, 2)))
        ys = Signal(data.ArrayLayout(signed(n), C))
        for j in range(C):
            m.d.comb += ys[j].eq(self.ys[j * (n + 1):j * (n + 1) + n])
        en_skid, y_out = skid_output(m, self.o, self.ys[n], ys)
        m.d.comb += [en.eq(en_skid), self.o.payload.y.eq(y_out)]
        m.d.comb += self.o.payload.last.eq(row == R - 1)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += row.eq(Mux(row == R - 1, 0, row + 1))
        return m
