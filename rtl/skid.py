"""Output skid register: the array's advance enable becomes a flip-flop instead of ``o.ready`` logic.

Without it an array advances when ``~o.valid | o.ready``: the downstream ``ready`` (and the output register's
``valid``) fan out combinationally to the clock enable of every register in the array -- thousands of
loads behind a few LUTs, the critical path of every array once the multipliers are registered.

:func:`skid_output` puts one skid register (``s_valid``, ``s_data``) between the array's output register
(``valid``/``data``, updated only when the array advances) and the stream ``o``:

* the array advances (``en``) exactly when the skid register is empty: ``en = ~s_valid``, a register;
* ``o`` presents the skid beat when there is one, else the output register's;
* when the array advances while the output register holds a beat that ``o`` does not take this cycle,
  that beat moves into the skid register (it is older than whatever the array produces next).

Transfer rules: ``o.valid`` never depends on ``o.ready``; a beat leaves only on ``o.valid & o.ready``, in
order, once. Timing: with ``o.ready`` held high the skid register stays empty, ``en`` stays 1 and the
array runs exactly as without it (same latency, the cycle models hold). Under backpressure the array
advances one cycle more before it stalls (the beat it then produces waits in the output register), and
after a stall it resumes one cycle after the skid beat is taken.
"""

from __future__ import annotations

from amaranth import Mux, Signal


def skid_output(m, o, valid, data, name: str = "skid"):
    """Drive stream ``o`` (``o.payload`` is ``data``'s shape, or ``data`` maps to ``o.payload.<field>``
    via the caller) from the output register ``valid``/``data``; returns ``(en, payload)``: the array's
    advance enable (a register) and the payload ``o`` carries, for the caller to assign."""
    s_valid = Signal(name=f"{name}_valid")
    s_data = Signal.like(data, name=f"{name}_data")
    en = Signal(name=f"{name}_en")
    m.d.comb += [en.eq(~s_valid), o.valid.eq(s_valid | valid)]
    payload = Mux(s_valid, s_data, data)
    take = o.valid & o.ready
    with m.If(s_valid):
        with m.If(take):
            m.d.sync += s_valid.eq(0)
    with m.Elif(valid & ~take):
        # the array advances this cycle (s_valid = 0) and would overwrite the untaken beat: keep it
        m.d.sync += [s_valid.eq(1), s_data.eq(data)]
    return en, payload
