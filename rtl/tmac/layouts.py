"""Amaranth layouts of the tMAC words (the field order is :func:`macforge.golden.tmac.slot_fields`)."""

from amaranth import unsigned
from amaranth.lib import data

from macforge.golden.config import ArrayConfig
from macforge.golden.tmac import exp_bits, idx_bits, slot_fields, term_fields


def term_layout(cfg: ArrayConfig) -> data.StructLayout:
    """One activation term ``(valid, sign, exp)``; ``exp`` in ``0 .. a_width-1``."""
    return data.StructLayout({n: unsigned(b) for n, b in term_fields(cfg)})


def slot_layout(cfg: ArrayConfig) -> data.StructLayout:
    """One weight term slot ``(valid, sign, exp, idx)`` (``idx`` absent for ``g = 1``)."""
    return data.StructLayout({n: unsigned(b) for n, b in slot_fields(cfg)})


def group_act_shape(cfg: ArrayConfig) -> data.ArrayLayout:
    """What one row of an input beat carries: ``g`` signed activations (a group)."""
    from amaranth import signed
    return data.ArrayLayout(signed(cfg.a_width), cfg.g)


def group_slots_shape(cfg: ArrayConfig) -> data.ArrayLayout:
    """The ``k_max`` weight term slots of one group (one column of an OS beat, one WS weight word)."""
    return data.ArrayLayout(slot_layout(cfg), cfg.k_max)


def symbol_layout(cfg: ArrayConfig) -> data.StructLayout:
    """What one row wire carries per cycle: term ``j`` of each of the ``g`` activations of the row's group
    (``x``) and, WS only, the index ``s`` of the weight slot this cycle pairs them with (the stationary
    PE selects its slot; the OS front end selects the slot on the column wires instead)."""
    members = {"x": data.ArrayLayout(term_layout(cfg), cfg.g)}
    if cfg.dataflow == "ws":
        members["s"] = unsigned(max(1, (cfg.k_max - 1).bit_length()))
    return data.StructLayout(members)


def exp_sum_bits(cfg: ArrayConfig) -> int:
    """Bits of ``e_w + e_x`` (at most ``w_width + a_width - 2``)."""
    return (cfg.w_width + cfg.a_width - 2).bit_length()


__all__ = ["term_layout", "slot_layout", "group_act_shape", "group_slots_shape", "symbol_layout",
           "exp_sum_bits", "exp_bits", "idx_bits"]
