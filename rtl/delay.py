"""Enable-gated delay lines (the skew and de-skew registers of the systolic array)."""

from amaranth import Signal


def delayed(m, sig, n: int, en, name: str = "dly"):
    """Return ``sig`` delayed by ``n`` advancing cycles (``n`` registers, all clocked when ``en``).

    ``n = 0`` returns ``sig`` itself. A stalled cycle (``en = 0``) freezes the whole line, so the
    relative timing of everything inside the array is measured in advancing cycles.
    """
    cur = sig
    for k in range(n):
        nxt = Signal.like(sig, name=f"{name}_{k}")
        with m.If(en):
            m.d.sync += nxt.eq(cur)
        cur = nxt
    return cur
