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


def issue_pipe(m, o, valid, data, regs: int, name: str):
    """Feed stream ``o`` from a read stage (``valid``/``data``, e.g. a memory's read data and the flags
    registered with its address) through ``regs`` plain registers and a skid register (:func:`skid_output`).

    Returns ``(ld, payload)``: ``ld`` -- the read stage's beat leaves this cycle if it is valid (and the
    stage may load a new one), a function of the pipeline's ``valid`` flip-flops only, never of
    ``o.ready``; ``payload`` -- what ``o`` carries (the caller assigns ``o.payload``).

    Register ``i`` loads when it is empty or its beat leaves (``ld_i = ~v_i | ld_{i+1}``, the last one's
    beat leaves when the skid register is empty). Timing: a beat offered by the read stage in cycle ``t``
    is offered on ``o`` in ``t + regs``; every register of the chain advances together, so a beat that
    ``o`` refuses waits in the skid register while the stages behind it fill: after a stall ``o`` sees
    one beat per cycle again without a bubble. Order is kept; nothing is lost or duplicated.
    """
    vs, ds = [valid], [data]
    for i in range(regs):
        vs.append(Signal(name=f"{name}_r{i}_valid"))
        ds.append(Signal.like(data, name=f"{name}_r{i}_data"))
    en, payload = skid_output(m, o, vs[-1], ds[-1], name=f"{name}_skid")
    ld = en
    for i in range(regs, 0, -1):
        ld_i = Signal(name=f"{name}_r{i - 1}_ld")
        m.d.comb += ld_i.eq(~vs[i] | ld)
        with m.If(ld_i):
            m.d.sync += [vs[i].eq(vs[i - 1]), ds[i].eq(ds[i - 1])]
        ld = ld_i
    return ld, payload
