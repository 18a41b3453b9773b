"""The structure of an array top: unit instances and the nets between them, described once.

An array top (:class:`macforge.rtl.os_array.OsArray`, :class:`macforge.rtl.ws_array.WsArray`) is an *edge*
unit (front end, control, output / accumulator logic: everything whose size is O(R + C)) and a grid of
repeated units: R x C *cells* (a PE with its operand, control and partial-sum / drain hop registers),
the skew and de-skew lines as chains of one-register :class:`Stage` units and, for WS, a bottom unit
per column. :class:`Netlist` records the units and which net each port connects to; it is built from
the one :class:`~macforge.golden.config.ArrayConfig` by the array's ``netlist()``, and then either

* elaborated by Amaranth (:meth:`Netlist.elaborate`): each unit added with :func:`macforge.rtl.hier.place`
  (a submodule, or inside :func:`macforge.rtl.hier.hierarchical` an instance of its one definition) and
  its ports wired to the nets with combinational assignments: the flat reference (Amaranth's simulator,
  the formal equivalence check, an array embedded in the engine); or
* written as structural Verilog (:meth:`Netlist.verilog`): each distinct unit converted once by Amaranth,
  the top module's wires and instances written as text by Python. The text of a 128 x 128 top is a few
  MB and takes well under a second; Amaranth only ever sees the units.

Both read the same :class:`Netlist`, so the two emissions have the same instances, nets and registers
(:mod:`macforge.gen.equiv` proves them equivalent). No register lives in the top module: timing is that
of the units (every :class:`Stage` and every hop register advances only when ``en``).

A net reference (``Ref``) is a net name, ``(name, lo, hi)`` (bits ``lo .. hi - 1``), an Amaranth
``Const`` or a list of references concatenated LSB first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth import Cat, Const, Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .hier import _CURRENT, _port_values, define_many, hierarchical, place


class Stage(wiring.Component):
    """One enable-gated register: ``q <= d`` in every cycle with ``en`` (a step of a skew / de-skew line).

    A delay line of ``n`` advancing cycles is a chain of ``n`` stages; a stalled cycle freezes it."""

    def __init__(self, width: int):
        self.width = width
        super().__init__({"en": In(1), "d": In(width), "q": Out(width)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.q.eq(self.d)
        return m


@dataclass
class _Inst:
    name: str
    make: object            # () -> a new unit (every instance of one kind / variant is the same unit)
    kind: str
    conns: dict
    variant: object = None


@dataclass
class Netlist:
    """Units and nets of an array top (see the module docstring). ``top``: the array component whose
    ports are the top's ports (nets of the same names, ``s__payload`` ...)."""
    cfg: object
    platform: object
    top: object
    nets: dict = field(default_factory=dict)       # name -> width
    insts: list = field(default_factory=list)

    def net(self, name: str, width) -> str:
        self.nets[name] = Shape.cast(width).width
        return name

    def add(self, name: str, make, kind: str, conns: dict, variant=None):
        """Add instance ``name`` of the unit ``make()`` builds; ``conns``: ``{port: Ref}`` (an output may
        stay unconnected). Units of one ``kind`` and ``variant`` must be alike (one definition)."""
        self.insts.append(_Inst(name, make, kind, conns, variant))

    def stages(self, prefix: str, src, width: int, n: int, en: str = "en"):
        """A delay line of ``n`` :class:`Stage` units (``<prefix>_k<k>``, nets ``<prefix>_<k>``) from
        ``src``; returns the reference of its output (``src`` itself when ``n = 0``)."""
        cur = src
        for k in range(n):
            out = self.net(f"{prefix}_{k}", width)
            self.add(f"{prefix}_k{k}", lambda: Stage(width), f"dly{width}", {"en": en, "d": cur, "q": out}, variant=width)
            cur = out
        return cur

    # ----- Amaranth ---------------------------------------------------------------------------------
    def elaborate(self, m: Module) -> Module:
        h = _CURRENT.get()
        if h is not None:
            # inside hierarchical(): convert every unit kind in one Yosys run up front (place() then
            # finds each definition made)
            plat = self.platform if self.platform is not None else h.platform
            define_many(h, [(u, k, self.cfg, plat, v) for (k, v), u in self._one_of_each().items()])
        sig = {n: Signal(w, name=n) for n, w in self.nets.items()}
        sig.update({n: v for n, (v, _) in _port_values(self.top).items()})

        def val(ref):
            if isinstance(ref, str):
                return sig[ref]
            if isinstance(ref, Const):
                return ref
            if isinstance(ref, tuple):
                return sig[ref[0]][ref[1]:ref[2]]
            return Cat(*[val(r) for r in ref])

        for inst in self.insts:
            unit = place(m, inst.name, inst.make(), inst.kind, self.cfg, self.platform, variant=inst.variant)
            for pname, (value, io) in _port_values(unit).items():
                ref = inst.conns.get(pname)
                if ref is None:
                    if io == "i":
                        raise ValueError(f"{inst.name}: input port {pname} is not connected")
                    continue
                m.d.comb += (value.eq(val(ref)) if io == "i" else val(ref).eq(value))
        return m

    def _one_of_each(self) -> dict:
        units = {}
        for i in self.insts:
            if (i.kind, i.variant) not in units:
                u = units[i.kind, i.variant] = i.make()
                u._MustUse__used = True     # converted by define_many, never placed itself
        return units

    # ----- structural Verilog -----------------------------------------------------------------------
    def verilog(self, name: str):
        """``(text, definitions)``: the unit definitions (each converted once) followed by the top
        module ``name`` (ports: ``clk``, ``rst`` and the array's; wires; instances), as text."""
        self.top._MustUse__used = True      # only its ports are read here
        units = self._one_of_each()
        with hierarchical(self.platform) as h:
            got = define_many(h, [(u, k, self.cfg, self.platform, v) for (k, v), u in units.items()])
        bykey = dict(zip(units, got))
        defs = [bykey[i.kind, i.variant] for i in self.insts]
        top_ports = {n: (len(v), io) for n, (v, io) in _port_values(self.top).items()}
        widths = dict(self.nets)
        widths.update({n: w for n, (w, _) in top_ports.items()})

        def ref(r) -> str:
            if isinstance(r, str):
                return r
            if isinstance(r, Const):
                return f"{len(r)}'h{r.value & ((1 << len(r)) - 1):x}"
            if isinstance(r, tuple):
                n, lo, hi = r
                return f"{n}[{hi - 1}:{lo}]" if hi - lo > 1 else f"{n}[{lo}]"
            return "{" + ", ".join(ref(x) for x in reversed(r)) + "}"

        def rng(w):
            return f"[{w - 1}:0] " if w > 1 else ""

        out = [f"module {name}(clk, rst, {', '.join(top_ports)});",
               "  input clk;", "  wire clk;", "  input rst;", "  wire rst;"]
        for n, (w, io) in top_ports.items():
            out += [f"  {'input' if io == 'i' else 'output'} {rng(w)}{n};", f"  wire {rng(w)}{n};"]
        # only the nets an instance connects (a net recorded but then bypassed, e.g. the edge's ``ys``
        # connected to the concatenation of the de-skew outputs, would be an undriven, unused wire)
        used = set()

        def mark(r):
            if isinstance(r, str):
                used.add(r)
            elif isinstance(r, tuple):
                used.add(r[0])
            elif isinstance(r, list):
                for x in r:
                    mark(x)
        for inst in self.insts:
            for r in inst.conns.values():
                mark(r)
        out += [f"  wire {rng(w)}{n};" for n, w in self.nets.items() if n in used and n not in top_ports]
        for inst, d in zip(self.insts, defs):
            d.instances.append(inst.name)
            conns = [f"    .{c}({c})" for c in d.clocked]
            for pname, io in d.ports.items():
                r = inst.conns.get(pname)
                conns.append(f"    .{pname}({'' if r is None else ref(r)})")
            out.append(f"  {d.name} {inst.name} (\n" + ",\n".join(conns) + "\n  );")
        out.append("endmodule\n")
        uniq = list({id(d): d for d in defs}.values())
        return "".join(d.text for d in uniq) + "\n".join(out), uniq

