"""Output-stationary (OS) systolic array: ``Y[R x C] = A[R x K] @ W[K x C]`` per tile.

Dataflow. PE ``(i, j)`` owns ``Y[i][j]``. Step ``k`` delivers the column ``A[:, k]`` (one value per
row, entering at the left edge) and the row ``W[k, :]`` (one value per column, entering at the top
edge); the array skews row ``i`` by ``i`` cycles and column ``j`` by ``j`` cycles, so both operands of
step ``k`` meet in PE ``(i, j)`` ``i + j`` cycles after the front end emits them, travelling one hop per
cycle with their control bits (:mod:`macforge.rtl.slot`). The ``first`` slot of a tile restarts each
accumulator, so consecutive tiles need no reset and no bubble.

Drain. When PE ``(i, j)`` sees the ``last`` slot it drops its result into a per-column drain chain of
``2R`` registers at position ``2i`` (two registers per row hop). Results then move one position per
cycle towards the bottom; because PE ``i`` finishes one cycle after PE ``i - 1`` and inserts two
positions further down, results never collide and leave the bottom of each column in consecutive
cycles. Logical row ``r`` is wired to physical row ``R-1-r`` so rows leave in order ``0 .. R-1``. A
de-skew line of ``C-1-j`` registers on column ``j`` aligns the columns: the output stream carries one
full row ``Y[r, 0..C-1]`` per beat, ``last`` on row ``R-1``.

Timing (advancing cycles, parallel MAC ``L = 1``, bit-serial ``L = p``). Let the front end present the
tile's final slot in cycle ``E``; output row ``r`` is presented in cycle ``E + R + C + 1 + r``. A tile's
final slot may follow the previous tile's by no less than ``R`` cycles (drain bandwidth is one row per
cycle), so back-to-back tiles take ``max(K * L, R)`` cycles each; the front end inserts the bubbles.
See :func:`macforge.golden.cycles.os_job_cycles` for the exact job model.

Stall. The array advances (``en``) while its output skid register (:mod:`macforge.rtl.skid`) is empty:
a result row that ``o`` does not take when the array advances moves there, and the array then freezes
every register until that row is taken, so nothing is lost or reordered. ``en`` is a flip-flop, not a
function of ``o.ready``; with ``o.ready`` high the array never stalls.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from macforge.golden.config import ArrayConfig
from .delay import delayed
from .frontend import connect_runtime, make_frontend, with_precision_port
from .hier import place
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
    bit-serial MAC, ``precision`` (run-time activation precision, latched per input beat)."""

    def __init__(self, cfg: ArrayConfig):
        assert cfg.dataflow == "os"
        self.cfg = cfg
        members = {
            "s": In(stream.Signature(os_in_layout(cfg))),
            "o": Out(stream.Signature(out_layout(cfg))),
        }
        super().__init__(with_precision_port(cfg, members))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C, n = cfg.rows, cfg.cols, cfg.acc_width
        fam = family(cfg)

        en = Signal()          # the array advances: a register (rtl/skid.py), see "output" below

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

        # ---- operand pipelines. Physical row i carries logical row R-1-i.
        sym = fam.symbol_shape(cfg)
        ra = [[Signal(sym, name=f"a_{i}_{j}") for j in range(C)] for i in range(R)]
        # slot-control hop registers: every register of an anti-diagonal holds the same value, so a
        # synthesis tool would merge them into one flip-flop per diagonal driving PEs across the whole
        # array; ``keep`` (see macforge.gen.synth.KEEP_HOP_REGISTERS) keeps one per PE, next to it
        rc = [[Signal(CtlLayout, name=f"c_{i}_{j}", attrs={"keep": 1}) for j in range(C)] for i in range(R)]
        rw = [[Signal(fam.os_weight_shape(cfg), name=f"w_{i}_{j}") for j in range(C)] for i in range(R)]
        a_edges, w_edges = [], []
        with m.If(en):
            for i in range(R):
                a_edge = delayed(m, fe.slot_a[R - 1 - i], i, en, f"askew{i}")
                c_edge = delayed(m, fe.slot_ctl, i, en, f"cskew{i}")
                a_edges.append(a_edge)
                m.d.sync += [ra[i][0].eq(a_edge), rc[i][0].eq(c_edge)]
                for j in range(1, C):
                    m.d.sync += [ra[i][j].eq(ra[i][j - 1]), rc[i][j].eq(rc[i][j - 1])]
            for j in range(C):
                w_edge = delayed(m, fe.slot_extra[j], j, en, f"wskew{j}")
                w_edges.append(w_edge)
                m.d.sync += rw[0][j].eq(w_edge)
                for i in range(1, R):
                    m.d.sync += rw[i][j].eq(rw[i - 1][j])

        # ---- PEs and per-column drain chains (2R positions; PE row i inserts at position 2i).
        out_cols = []
        for j in range(C):
            chain = [Signal(signed(n), name=f"d_{j}_{p}") for p in range(2 * R)]
            chain_v = [Signal(name=f"dv_{j}_{p}") for p in range(2 * R)]
            for i in range(R):
                pe = place(m, f"pe_r{i}_c{j}", fam.os_pe(cfg), "pe", cfg, platform)  # physical row i
                m.d.comb += [pe.en.eq(en), pe.a.eq(ra[i][j]), pe.w.eq(rw[i][j]), pe.ctl.eq(rc[i][j])]
                if "a_next" in pe.signature.members:
                    # D inputs of ra[i][j] / rw[i][j] (the ECP5 target copies them into the DSP block)
                    m.d.comb += [pe.a_next.eq(ra[i][j - 1] if j else a_edges[i]),
                                 pe.w_next.eq(rw[i - 1][j] if i else w_edges[j])]
                result = pe.result
                if cfg.fault is not None and (cfg.fault.row, cfg.fault.col) == (R - 1 - i, j):
                    result = pe.result ^ cfg.fault.mask   # test-only fault (see macforge.golden.config.Fault)
                with m.If(en):
                    p = 2 * i
                    with m.If(pe.result_valid):
                        m.d.sync += [chain[p].eq(result), chain_v[p].eq(1)]
                    with m.Else():
                        m.d.sync += [chain[p].eq(chain[p - 1] if p else 0),
                                     chain_v[p].eq(chain_v[p - 1] if p else 0)]
                    m.d.sync += [chain[p + 1].eq(chain[p]), chain_v[p + 1].eq(chain_v[p])]
            y = delayed(m, chain[-1], C - 1 - j, en, f"dskew{j}")
            v = delayed(m, chain_v[-1], C - 1 - j, en, f"dskewv{j}")
            out_cols.append((y, v))

        # ---- output: one row per beat; count rows to mark the tile's last one.
        # The de-skewed columns are the output register; a skid register decouples ``o.ready`` from the
        # array's enable (macforge.rtl.skid).
        row = Signal(range(max(R, 2)))
        ys = Signal(data.ArrayLayout(signed(n), C))
        for j, (y, _) in enumerate(out_cols):
            m.d.comb += ys[j].eq(y)
        en_skid, y_out = skid_output(m, self.o, out_cols[0][1], ys)
        m.d.comb += [en.eq(en_skid), self.o.payload.y.eq(y_out)]
        m.d.comb += self.o.payload.last.eq(row == R - 1)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += row.eq(Mux(row == R - 1, 0, row + 1))
        return m
