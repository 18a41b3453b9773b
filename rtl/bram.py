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
in the widest data width whose depth holds the buffer (the fewest blocks) (16384 x 1, 8192 x 2, 4096 x 4,
2048 x 9, 1024 x 18 or 512 x 36, the last in the block's simple dual-port mode: ``DIA``/``DIB`` carry
the low/high 18 bits of the written word, ``ADA[3:0]`` its four byte enables, ``DOA``/``DOB`` the read
word, each half through its own port's output register, so ``REGMODE_A`` is ``"OUTREG"`` too),
``ceil(width / w)`` blocks side by side. Same cycle-level behaviour on both targets; the behavioural
model of the primitive for simulation is :data:`macforge.sim.ecp5_models.DP16KD_MODEL`.

Read enable (``read_en=True``): ``r_en`` freezes the read pipeline -- the memory's read and the output
register both advance only in cycles with ``r_en = 1`` (``CEB`` and ``OCEB`` on the ``DP16KD``), so
``r_data`` shows ``mem[r_addr]`` of the second-to-last *enabled* cycle (a stalled pipeline keeps its
data). Without it both always advance.
"""

from __future__ import annotations

from amaranth import Cat, ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import memory

from .dsp import uses_ecp5_dsp

#: DP16KD data widths and the depth of one block in each (single port width, no cascading)
DP16KD_MODES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))


def dp16kd_mode(depth: int) -> tuple[int, int, int]:
    """``(data width, depth, address shift)`` of the widest DP16KD mode whose depth holds ``depth``
    words; the block's address pins carry the word address shifted left by ``address shift`` (the low
    address pins select bits / bytes inside the 16-kbit array). ``ValueError`` above 16384 words."""
    for (w, d), sh in zip(reversed(DP16KD_MODES), (5, 4, 3, 2, 1, 0)):
        if depth <= d:
            return w, d, sh
    raise ValueError(f"depth={depth} words does not fit one DP16KD column (at most 16384)")


class RegisteredReadMemory(Elaboratable):
    """``width`` x ``depth`` buffer: write port ``w_en``/``w_addr``/``w_data`` (written at the clock edge
    of the cycle ``w_en`` is 1, or with ``write_reg`` one cycle later: the write is registered first, so
    the logic computing it never routes to the block RAMs directly), read port ``r_addr`` (always
    enabled, or enabled by ``r_en`` with ``read_en``) -> ``r_data`` two (enabled) cycles later.

    With ``write_reg`` the pending write is visible as ``w_en_r``/``w_addr_r``/``w_data_r`` (the contents
    the memory will hold after this cycle, for proofs). A read sees every write that landed in an earlier
    cycle, not one landing in the same cycle."""

    def __init__(self, width: int, depth: int, name: str = "mem", write_reg: bool = False, read_en: bool = False):
        if width < 1 or depth < 2:
            raise ValueError(f"RegisteredReadMemory needs width >= 1 and depth >= 2, got {width} x {depth}")
        self.width, self.depth, self.name, self.write_reg = width, depth, name, write_reg
        abits = (depth - 1).bit_length()
        self.w_en = Signal()
        self.w_addr = Signal(abits)
        self.w_data = Signal(width)
        self.r_addr = Signal(abits)
        self.r_data = Signal(width)
        self.r_en = Signal(init=1) if read_en else Const(1)
        # the memory of the generic target (created here so a harness may add ports before elaboration,
        # e.g. the formal proofs' asynchronous read port; unused on the ecp5 target)
        self.mem = memory.Memory(shape=width, depth=depth, init=[])
        if write_reg:
            self.w_en_r = Signal(name=f"{name}_we_r")
            self.w_addr_r = Signal(abits, name=f"{name}_wa_r")
            self.w_data_r = Signal(width, name=f"{name}_wd_r")

    def elaborate(self, platform):
        m = Module()
        we, wa, wd = self.w_en, self.w_addr, self.w_data
        if self.write_reg:
            we, wa, wd = self.w_en_r, self.w_addr_r, self.w_data_r
            m.d.sync += [we.eq(self.w_en), wa.eq(self.w_addr), wd.eq(self.w_data)]
        ra = self.r_addr
        if uses_ecp5_dsp(platform) and self.depth <= DP16KD_MODES[0][1]:
            self.mem._MustUse__silence = True      # the generic target's memory is not used here
            self._dp16kd(m, we, wa, wd, ra)
            return m
        mem = m.submodules.mem = self.mem
        wr = mem.write_port()
        rd = mem.read_port()
        m.d.comb += [wr.en.eq(we), wr.addr.eq(wa), wr.data.eq(wd), rd.en.eq(self.r_en), rd.addr.eq(ra)]
        with m.If(self.r_en):
            m.d.sync += self.r_data.eq(rd.data)
        return m

    def _dp16kd(self, m, we, w_addr, w_data, r_addr):
        w, _, sh = dp16kd_mode(self.depth)
        n = -(-self.width // w)
        wa = Signal(14, name=f"{self.name}_wa")
        ra = Signal(14, name=f"{self.name}_ra")
        # 18 bits: ADA[1:0] are the two byte enables (both set, WEA writes); 36 bits: ADA[3:0] are the
        # four byte enables and carry the write enable (WEA = 1), as Yosys maps its own 36-bit memories
        if w == 36:
            m.d.comb += wa.eq(Cat(we, we, we, we, Const(0, 1), w_addr))
            we = Const(1)
        else:
            m.d.comb += wa.eq(Cat(Const(0b11 if w == 18 else 0, sh), w_addr))
        m.d.comb += ra.eq(Cat(Const(0, sh), r_addr))
        wd = Signal(n * w)
        rd = Signal(n * w)
        m.d.comb += [wd.eq(w_data), self.r_data.eq(rd[:self.width])]
        for i in range(n):
            ports = {f"i_ADA{k}": wa[k] for k in range(14)}
            ports.update({f"i_ADB{k}": ra[k] for k in range(14)})
            if w == 36:     # DIA/DOA the low half, DIB/DOB the high half of the word
                ports.update({f"i_DIA{k}": wd[i * w + k] for k in range(18)})
                ports.update({f"i_DIB{k}": wd[i * w + 18 + k] for k in range(18)})
                ports.update({f"o_DOA{k}": rd[i * w + k] for k in range(18)})
                ports.update({f"o_DOB{k}": rd[i * w + 18 + k] for k in range(18)})
            else:
                ports.update({f"i_DIA{k}": (wd[i * w + k] if k < w else Const(0)) for k in range(18)})
                ports.update({f"i_DIB{k}": Const(0) for k in range(18)})
                spare = Signal(36 - w, name=f"{self.name}_b{i}_nc")     # unused outputs, every pin connected
                ports.update({f"o_DOB{k}": (rd[i * w + k] if k < w else spare[k - w]) for k in range(18)})
                ports.update({f"o_DOA{k}": spare[18 - w + k] for k in range(18)})
            for k in range(3):
                ports.update({f"i_CSA{k}": Const(0), f"i_CSB{k}": Const(0)})
            m.submodules[f"{self.name}_b{i}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=w, p_DATA_WIDTH_B=w, p_REGMODE_A="OUTREG" if w == 36 else "NOREG", p_REGMODE_B="OUTREG",
                p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC", p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
                p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL", p_GSR="DISABLED",
                i_CLKA=ClockSignal("sync"), i_CEA=Const(1), i_OCEA=self.r_en if w == 36 else Const(1), i_WEA=we,
                i_RSTA=Const(0),
                i_CLKB=ClockSignal("sync"), i_CEB=self.r_en, i_OCEB=self.r_en, i_WEB=Const(0), i_RSTB=Const(0),
                **ports)
