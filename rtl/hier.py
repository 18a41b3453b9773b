"""Hierarchical Verilog: one module definition per distinct unit, instantiated where the array needs it.

Amaranth writes one Verilog module per submodule *instance* (``top.pe_3_5``, ...), so a flat R x C array
carries R x C copies of the same PE. Inside :func:`hierarchical` (used by
:func:`macforge.rtl.verilog.to_verilog`), :func:`place` does not add a repeated unit (a PE, a WS column
post unit) as an Amaranth submodule; it

1. converts the unit once per *kind* (its class and the :class:`~macforge.golden.config.ArrayConfig`) on
   its own with :func:`amaranth.back.verilog.convert`, passing the same ``platform`` object the array was
   elaborated with (so a target-specific PE, e.g. one using a vendor DSP primitive, is the same here);
2. names that module ``macforge_<kind>_<mac>_<dataflow>_a<A>w<W>acc<N>_<hash>`` (``hash``: 6 hex digits of
   the definition's text, so two different definitions never share a name, even across files);
3. instantiates it with :class:`amaranth.hdl.Instance` under the instance name the array gives
   (``pe_r3_c5``), its ports wired to the unit's own port signals (``clk``/``rst`` to the ``sync``
   domain when the unit has registers).

:func:`macforge.rtl.verilog.to_verilog` puts the definitions in front of the top's text: one file, the
number of modules independent of R x C. Outside :func:`hierarchical` (Amaranth's Python simulator, the
flat emission ``to_verilog(cfg, flat=True)``), :func:`place` adds the unit as an ordinary submodule:
the same logic, the same timing (the units' ports and registers are unchanged; an instance is only a
boundary), which the formal equivalence check of flat and hierarchical netlists confirms
(``tests/test_hier.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
from dataclasses import dataclass, field

from amaranth.back import verilog
from amaranth.hdl import ClockSignal, Instance, ResetSignal, Value
from amaranth.hdl import _ir, _nir
from amaranth.lib import wiring

_CURRENT: contextvars.ContextVar["Hierarchy | None"] = contextvars.ContextVar("macforge_hierarchy", default=None)

#: ports of the non-component WS column units (:class:`macforge.rtl.mac.WsPost` and kin)
_POST_PORTS = (("en", "i"), ("s", "i"), ("ctl", "i"), ("y", "o"), ("ctl_out", "o"))


@dataclass
class Definition:
    """One emitted module: its name, Verilog text, ports ``{name: "i"|"o"}`` and instance names."""
    name: str
    text: str
    ports: dict
    clocked: tuple            # ("clk", "rst") of the sync domain, those the module has
    instances: list = field(default_factory=list)


@dataclass
class Hierarchy:
    """The definitions collected while a top is converted (in first-use order)."""
    platform: object = None
    defs: dict = field(default_factory=dict)        # kind key -> Definition

    def definitions(self) -> list[Definition]:
        return list(self.defs.values())


@contextlib.contextmanager
def hierarchical(platform=None):
    """Within this block, :func:`place` emits repeated units as instances of one definition each."""
    h = Hierarchy(platform)
    tok = _CURRENT.set(h)
    try:
        yield h
    finally:
        _CURRENT.reset(tok)


def _port_values(unit) -> dict:
    """``{port name: (value, "i"|"o")}`` under the names :func:`amaranth.back.verilog.convert` gives them."""
    sig = getattr(unit, "signature", None)
    ports = {}
    if isinstance(sig, wiring.Signature):
        for path, member, value in sig.flatten(unit):
            ports["__".join(map(str, path))] = (Value.cast(value), "i" if member.flow == wiring.In else "o")
    else:
        for name, d in _POST_PORTS:
            ports[name] = (Value.cast(getattr(unit, name)), d)
    return ports


def _key(unit, kind, cfg, platform, variant):
    return (kind, type(unit).__module__, type(unit).__qualname__, cfg, id(platform), variant)


def _define(h: Hierarchy, unit, kind: str, cfg, platform, variant=None) -> Definition:
    return define_many(h, [(unit, kind, cfg, platform, variant)])[0]


_CHUNK = re.compile(r"(?:\(\*[^\n]*\*\)\n)*module (\\?[^\s(]+)\s*\(.*?\nendmodule\n", re.S)


@contextlib.contextmanager
def _fast_zero_meminit():
    """Within this block, Amaranth's RTLIL back end writes the all-zero initial contents of a memory
    (``init=[]``) as one constant instead of building a net per bit: the same text, byte for byte
    (``{n}'00..0``, what ``ModuleEmitter.sigspec`` makes of ``n`` constant zero nets). The WS edge's
    accumulator (``max_m`` rows of C x ``acc_width`` bits: 786k bits at 128 x 128) cost 1.7 s of a 5.7 s
    emission on an idle core (7.8 s of 24 s at load 13) bit by bit. Any other memory: Amaranth's own."""
    from amaranth.back import rtlil

    orig = rtlil.ModuleEmitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        n = len(cell.init) * cell.width
        if n == 0 or any(cell.init):
            return orig(self, cell_idx, cell)
        memory_info = self.memories[cell_idx]
        self.builder.cell("$meminit_v2", ports={
            "ADDR": self.sigspec(),
            "DATA": f"{n}'{'0' * n}",
            "EN": self.sigspec(_nir.Value.ones(cell.width)),
        }, parameters={
            "MEMID": memory_info.memid,
            "ABITS": 0,
            "WIDTH": cell.width,
            "WORDS": cell.depth,
            "PRIORITY": 0,
        }, src_loc=cell.src_loc)

    rtlil.ModuleEmitter.emit_memory = emit_memory
    try:
        yield
    finally:
        rtlil.ModuleEmitter.emit_memory = orig


def define_many(h: Hierarchy, items) -> list[Definition]:
    """The definitions of ``items`` (``(unit, kind, cfg, platform, variant)`` each), converting those not
    yet defined in ``h`` together: each unit is lowered to RTLIL by Amaranth on its own (under a
    placeholder name), and one Yosys run (what :func:`amaranth.back.verilog.convert` does per unit:
    ``proc -nomux -norom; memory_collect; write_verilog -norename``) writes them all. The text of a
    definition is that of its modules (its own and its submodules ``<name>.<sub>``)."""
    from amaranth.back import rtlil

    pending = {}
    for unit, kind, cfg, platform, variant in items:
        key = _key(unit, kind, cfg, platform, variant)
        if key not in h.defs and key not in pending:
            pending[key] = (unit, kind, cfg, platform)
    if pending:
        rtl, meta = [], []
        for k, (key, (unit, kind, cfg, platform)) in enumerate(pending.items()):
            ph = f"macforge_hier_ph_{k}_"
            ports = _port_values(unit)
            amaranth_ports = {n: (v, _ir.PortDirection.Input if io == "i" else _ir.PortDirection.Output)
                              for n, (v, io) in ports.items()}
            with _fast_zero_meminit():
                rtl.append(rtlil.convert(unit, name=ph, platform=platform, ports=amaranth_ports, emit_src=False))
            meta.append((key, ph, kind, cfg, ports))
        out = verilog._convert_rtlil_text("\n".join(rtl))
        chunks = {}
        for mt in _CHUNK.finditer(out):
            name = mt.group(1).lstrip("\\")
            chunks.setdefault(name.split(".", 1)[0], []).append(mt.group(0))
        placeholder = "macforge_hier_placeholder"
        for key, ph, kind, cfg, ports in meta:
            text = "".join(chunks[ph]).replace(ph, placeholder)
            digest = hashlib.sha256(text.encode()).hexdigest()[:6]
            name = (f"macforge_{kind}_{cfg.mac}_{cfg.dataflow}_a{cfg.a_width}w{cfg.w_width}acc{cfg.acc_width}"
                    f"{f'_cc{cfg.alpha}' if cfg.alpha else ''}_{digest}")
            text = "\n" + text.replace(placeholder, name)
            # only the file's top keeps the ``top`` attribute (a unit's own submodules, if any, are named
            # ``<name>.<sub>`` by Amaranth, unique with the unit's name)
            text = re.sub(r"\(\*\s*top\s*=\s*\S+\s*\*\)\s*\n", "", text)
            start = text.index(f"module {name}(")
            head = text[start:text.index(");", start) + 2]
            clocked = tuple(c for c in ("clk", "rst") if re.search(rf"\b{c}\b", head))
            h.defs[key] = Definition(name, text, {n: io for n, (_, io) in ports.items()}, clocked)
    return [h.defs[_key(unit, kind, cfg, platform, variant)] for unit, kind, cfg, platform, variant in items]


def place(m, name: str, unit, kind: str, cfg, platform=None, variant=None):
    """Add ``unit`` (a PE or column unit of ``cfg``) to module ``m`` as the submodule ``name``.

    Flat (default): ``m.submodules[name] = unit``. Inside :func:`hierarchical`: an instance ``name`` of the
    one definition of ``kind`` (see the module docstring). Returns ``unit``, whose port signals the
    caller wires either way. ``platform`` is the one the caller's ``elaborate`` received; the unit's
    definition is converted with it (default: the one :func:`hierarchical` was given). Units of one
    ``kind``, class and ``cfg`` share a definition unless ``variant`` (hashable) tells them apart
    (e.g. the width of a delay stage, the one cell that carries a test fault).
    """
    h = _CURRENT.get()
    if h is None:
        m.submodules[name] = unit
        return unit
    d = _define(h, unit, kind, cfg, platform if platform is not None else h.platform, variant)
    kw = {}
    if "clk" in d.clocked:
        kw["i_clk"] = ClockSignal("sync")
    if "rst" in d.clocked:
        kw["i_rst"] = ResetSignal("sync")
    for pname, (value, io) in _port_values(unit).items():
        kw[f"{io}_{pname}"] = value
    unit._MustUse__used = True      # the unit itself is never elaborated here (its definition was)
    m.submodules[name] = Instance(d.name, **kw)
    d.instances.append(name)
    return unit



_MODULE = re.compile(r"^module\s+(\\\S+|\w+)\s*\(", re.M)
_INST = re.compile(r"^\s+(\\\S+|[A-Za-z_]\w*)\s+(\\\S+|[A-Za-z_]\w*)\s*\($", re.M)


def verilog_hierarchy(text: str, top: str) -> dict:
    """The module hierarchy of an emitted Verilog file (for the manifest): ``module_count`` and, per
    module defined in the file, its instances of the file's other modules, by module then
    ``{"count", "instances"}`` (instance names listed when there are at most 8, else the first and last);
    a module's vendor primitives (black boxes, e.g. ``MULT18X18D``) are listed the same way."""
    chunks = {}
    for mt in _MODULE.finditer(text):
        name = mt.group(1).lstrip("\\")
        end = text.find("\nendmodule", mt.end())
        chunks[name] = text[mt.end():end]
    modules = []
    for name, body in chunks.items():
        inst: dict[str, list] = {}
        for mod, iname in _INST.findall(body):
            mod = mod.lstrip("\\")
            if mod in ("module", "assign", "always", "reg", "wire", "input", "output", "if", "else", "case"):
                continue
            inst.setdefault(mod, []).append(iname.lstrip("\\"))
        modules.append({"name": name, "top": name == top, "instances": {
            m: {"count": len(v), "names": v if len(v) <= 8 else [v[0], "...", v[-1]]} for m, v in inst.items()}})
    return {"top": top, "module_count": len(modules), "modules": modules}
