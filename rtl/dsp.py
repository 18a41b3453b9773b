"""Registered multiplier of the parallel PEs, and the emission targets that choose how it is built.

Emission target. :func:`macforge.rtl.verilog.to_verilog` (and the engine's converter) hand Amaranth a
:class:`Target` as ``platform``; every ``elaborate`` sees it. ``generic`` (the default) emits portable
Verilog: synthesis tools infer the multipliers. ``ecp5`` instantiates the Lattice ECP5 ``MULT18X18D``
primitive with its internal input and output registers enabled: Yosys's ECP5 flow never enables those
registers for an inferred ``*`` (its DSP mapping leaves ``REG_* = NONE``), so an inferred multiplier is a
combinational DSP between two fabric flip-flops, and its 3 ns plus two long routes bound the clock. Both
targets have the same cycle-level behaviour, so the cycle models, the golden model and every simulation of
the generic Verilog hold for the ECP5 netlist too (``tests/test_dsp.py`` simulates the ECP5 variant with
the behavioural model in ``macforge/sim/models`` and compares it with the generic one).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal, signed

#: Targets :func:`target` accepts.
TARGETS = ("generic", "ecp5")

#: ECP5 MULT18X18D operand width (signed operands are sign-extended to it).
ECP5_MUL_WIDTH = 18


@dataclass(frozen=True)
class Target:
    """What the Verilog is emitted for (passed to Amaranth as ``platform``).

    ``name``: ``generic`` (portable, inferred multipliers) or ``ecp5`` (``MULT18X18D`` primitives with
    registered inputs and outputs). The target changes the netlist, never the cycle-level behaviour.
    """

    name: str = "generic"

    def __post_init__(self):
        if self.name not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {self.name!r}")

    @property
    def ecp5_dsp(self) -> bool:
        return self.name == "ecp5"


def target(name: str | None) -> Target:
    """The :class:`Target` called ``name`` (``None`` = generic); ``ValueError`` names the allowed ones."""
    return Target(name or "generic")


def uses_ecp5_dsp(platform) -> bool:
    """True when ``platform`` (an ``elaborate`` argument) asks for ECP5 DSP primitives."""
    return bool(getattr(platform, "ecp5_dsp", False))


class RegisteredProduct(Elaboratable):
    """``p <- a * b``: the product of two operands that sit in registers of the caller, registered.

    Ports (all signals): ``en`` (the caller's registers advance), ``a``/``b`` (the operands: outputs of the
    caller's registers, e.g. a systolic array's hop registers), ``a_d``/``b_d`` (the values those registers
    load when ``en``: their D inputs), ``p`` (signed, ``a_width + b_width`` bits, registered).

    Timing: ``p(t+1) = a(t) * b(t)`` when ``en(t)``, else ``p`` holds: one cycle after the operand
    registers, two after ``a_d``/``b_d``. Reset (the ``sync`` domain's) clears ``p``.

    Generic target: one product register (the caller's registers are the operands). ECP5 target: a
    ``MULT18X18D`` whose input registers load ``a_d``/``b_d`` -- copies of the caller's operand registers
    inside the DSP block, equal to ``a``/``b`` cycle for cycle -- and whose output register is ``p``; all on
    ``CLK0``/``CE0 = en``/``RST0 = reset`` (synchronous), so the multiply runs register to register inside
    the block.
    """

    def __init__(self, a_width: int, b_width: int):
        if not (1 <= a_width <= ECP5_MUL_WIDTH and 1 <= b_width <= ECP5_MUL_WIDTH):
            raise ValueError(f"multiplier operand widths must be 1..{ECP5_MUL_WIDTH}, got {a_width}, {b_width}")
        self.en = Signal()
        self.a = Signal(signed(a_width))
        self.b = Signal(signed(b_width))
        self.a_d = Signal(signed(a_width))
        self.b_d = Signal(signed(b_width))
        self.p = Signal(signed(a_width + b_width))

    def elaborate(self, platform):
        m = Module()
        if not uses_ecp5_dsp(platform):
            with m.If(self.en):
                m.d.sync += self.p.eq(self.a * self.b)
            return m
        w = ECP5_MUL_WIDTH
        a18 = Signal(signed(w))
        b18 = Signal(signed(w))
        p36 = Signal(signed(2 * w))
        m.d.comb += [a18.eq(self.a_d), b18.eq(self.b_d), self.p.eq(p36)]
        ports = {f"i_A{i}": a18[i] for i in range(w)}
        ports.update({f"i_B{i}": b18[i] for i in range(w)})
        ports.update({f"o_P{i}": p36[i] for i in range(2 * w)})
        regs = {}
        for r in ("INPUTA", "INPUTB", "OUTPUT"):
            regs.update({f"p_REG_{r}_CLK": "CLK0", f"p_REG_{r}_CE": "CE0", f"p_REG_{r}_RST": "RST0"})
        m.submodules.dsp = Instance(
            "MULT18X18D",
            p_RESETMODE="SYNC", p_GSR="DISABLED", **regs,
            i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
            i_CLK0=ClockSignal("sync"), i_CE0=self.en, i_RST0=ResetSignal("sync"),
            **ports)
        return m
