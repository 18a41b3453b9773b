"""Simple dual-port buffer memory whose read data is registered twice (a block RAM with its output register).

:class:`RegisteredReadMemory` is the engine's weight and activation buffer: one write port, one read port,
and ``r_data(t + 2) = mem[r_addr(t)]`` -- the memory's synchronous read (one cycle) followed by an output
register (one more). Reading a word in the cycle it is written returns the old contents (the engine never
does: a block is read only after it is completely loaded).

Why two cycles: an ECP5 ``DP16KD`` without its output register has a clock-to-out of 4.3 ns at speed grade
8, so its read data cannot reach any fabric register placed more than a short route away within a 150 MHz
clock. With the block's own output register (``REGMODE_B = "OUTREG"``) the data leave the block from a
flip-flop.

Emission targets (:mod:`macforge.rtl.dsp`): ``generic`` -- an ``amaranth.lib.memory.Memory`` with a
synchronous read port and a fabric register behind it (synthesis tools map the memory to block RAM and
leave the register in the fabric; Yosys does not merge it into a ``DP16KD``); ``ecp5`` -- ``DP16KD``
primitives instantiated directly, port A writes and port B reads with ``REGMODE_B = "OUTREG"``, each block
in the widest data width whose depth holds the buffer (the fewest blocks) (16384 x 1, 8192 x 2, 4096 x 4, 2048 x 9 or
1024 x 18), ``ceil(width / w)`` blocks side by side. Same cycle-level behaviour on both targets; the
behavioural model of the primitive for simulation is :data:`macforge.sim.ecp5_models.DP16KD_MODEL`.
"""

from __future__ import annotations

from amaranth import Cat, ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import memory

from .dsp import uses_ecp5_dsp

#: DP16KD data widths and the depth of one block in each (single port width, no cascading)
DP16KD_MODES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024))


def dp16kd_mode(depth: int) -> tuple[int, int, int]:
    """``(data width, depth, address shift)`` of the widest DP16KD mode whose depth holds ``depth``
    words; the block's address pins carry the word address shifted left by ``address shift`` (the low
    address pins select bits / bytes inside the 16-kbit array). ``ValueError`` above 16384 words."""
    for (w, d), sh in zip(reversed(DP16KD_MODES), (4, 3, 2, 1, 0)):
        if depth <= d:
            return w, d, sh
    raise ValueError(f"depth={depth} words does not fit one DP16KD column (at most 16384)")


class RegisteredReadMemory(Elaboratable):
    """``width`` x ``depth`` buffer: write port ``w_en``/``w_addr``/``w_data`` (written at the clock edge
    of the cycle ``w_en`` is 1, or with ``write_reg`` one cycle later: the write is registered first, so
    the logic computing it never routes to the block RAMs directly), read port ``r_addr`` (always
    enabled) -> ``r_data`` two cycles later."""

    def __init__(self, width: int, depth: int, name: str = "mem", write_reg: bool = False):
        if width < 1 or depth < 2:
            raise ValueError(f"RegisteredReadMemory needs width >= 1 and depth >= 2, got {width} x {depth}")
        self.width, self.depth, self.name, self.write_reg = width, depth, name, write_reg
        abits = (depth - 1).bit_length()
        self.w_en = Signal()
        self.w_addr = Signal(abits)
        self.w_data = Signal(width)
        self.r_addr = Signal(abits)
        self.r_data = Signal(width)

    def elaborate(self, platform):
        m = Module()
        we, wa, wd = self.w_en, self.w_addr, self.w_data
        if self.write_reg:
            we, wa, wd = (Signal.like(x, name=f"{self.name}_{n}_r") for x, n in ((we, "we"), (wa, "wa"), (wd, "wd")))
            m.d.sync += [we.eq(self.w_en), wa.eq(self.w_addr), wd.eq(self.w_data)]
        if uses_ecp5_dsp(platform) and self.depth <= DP16KD_MODES[0][1]:
            self._dp16kd(m, we, wa, wd)
            return m
        mem = m.submodules.mem = memory.Memory(shape=self.width, depth=self.depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        m.d.comb += [wr.en.eq(we), wr.addr.eq(wa), wr.data.eq(wd), rd.en.eq(1), rd.addr.eq(self.r_addr)]
        m.d.sync += self.r_data.eq(rd.data)
        return m

    def _dp16kd(self, m, we, w_addr, w_data):
        w, _, sh = dp16kd_mode(self.depth)
        n = -(-self.width // w)
        wa = Signal(14, name=f"{self.name}_wa")
        ra = Signal(14, name=f"{self.name}_ra")
        m.d.comb += [wa.eq(Cat(Const(0b11 if w == 18 else 0, sh), w_addr)),
                     ra.eq(Cat(Const(0, sh), self.r_addr))]
        wd = Signal(n * w)
        rd = Signal(n * w)
        m.d.comb += [wd.eq(w_data), self.r_data.eq(rd[:self.width])]
        for i in range(n):
            ports = {f"i_ADA{k}": wa[k] for k in range(14)}
            ports.update({f"i_ADB{k}": ra[k] for k in range(14)})
            ports.update({f"i_DIA{k}": (wd[i * w + k] if k < w else Const(0)) for k in range(18)})
            ports.update({f"i_DIB{k}": Const(0) for k in range(18)})
            spare = Signal(36 - w, name=f"{self.name}_b{i}_nc")     # unused outputs, every pin connected
            ports.update({f"o_DOB{k}": (rd[i * w + k] if k < w else spare[k - w]) for k in range(18)})
            ports.update({f"o_DOA{k}": spare[18 - w + k] for k in range(18)})
            for k in range(3):
                ports.update({f"i_CSA{k}": Const(0), f"i_CSB{k}": Const(0)})
            m.submodules[f"{self.name}_b{i}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=w, p_DATA_WIDTH_B=w, p_REGMODE_A="NOREG", p_REGMODE_B="OUTREG",
                p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC", p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
                p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL", p_GSR="DISABLED",
                i_CLKA=ClockSignal("sync"), i_CEA=Const(1), i_OCEA=Const(1), i_WEA=we, i_RSTA=Const(0),
                i_CLKB=ClockSignal("sync"), i_CEB=Const(1), i_OCEB=Const(1), i_WEB=Const(0), i_RSTB=Const(0),
                **ports)
