"""Registered stream decoupling: the array's output skid register (:func:`skid_output`) and the engine's
issue queue (:func:`issue_queue`), so that a combinational ``ready`` never fans out into wide logic.

Output skid register: the array's advance enable becomes a flip-flop instead of ``o.ready`` logic.

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

from amaranth import Array, Mux, Signal, Value


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



def issue_queue(m, o, valid, data, rd, depth: int, name: str, gate=None):
    """Feed stream ``o`` from a memory read stage through a queue of ``depth`` registers, with a
    *registered* room flag for the reader.

    ``valid``/``data``: the read stage (a word read in the previous cycle and the flags registered with
    its address); it empties into the queue in every cycle (the room flag guarantees the space).
    ``rd``: the reader reads a word in this cycle (so ``valid`` is 1 in the next one). ``gate``
    (optional, may depend on ``o.payload``): the head may leave only while it is 1 (a credit check).

    Returns ``(room, take, nonempty)``. ``room`` is a flip-flop: 1 when the queue can hold the stage's
    beat and one more read, i.e. ``count' + rd <= depth - 1`` computed one cycle ahead; the reader reads
    only while ``room``, so its advance never depends on ``o.ready``, and ``o``'s combinational ``ready``
    reaches only the queue's read pointer. ``take``: ``o`` takes the head this cycle.

    Timing: a word read in cycle ``t`` is in the stage in ``t + 1`` and offered on ``o`` from ``t + 2``
    (the queue's registers end the memory's clock-to-out and the route); with ``o.ready`` high the queue
    holds at most one beat and the reader reads every cycle; while ``o`` stalls the reader runs ahead
    until the queue is full (``depth`` beats), after a stall ``o`` gets one beat per cycle again. Order
    is kept; nothing is lost or duplicated (invariant ``count + valid <= depth``).
    """
    assert depth >= 2 and depth & (depth - 1) == 0, "depth: a power of two >= 2"
    width = len(Value.cast(data))
    store = Array(Signal(width, name=f"{name}_q{i}") for i in range(depth))
    wa = Signal(range(depth), name=f"{name}_qwa")
    ra = Signal(range(depth), name=f"{name}_qra")
    cnt = Signal(range(depth + 1), name=f"{name}_qcnt")
    ne = Signal(name=f"{name}_qne")
    room = Signal(init=1, name=f"{name}_room")
    take = Signal(name=f"{name}_take")
    m.d.comb += o.payload.eq(store[ra])
    m.d.comb += [o.valid.eq(ne & (1 if gate is None else gate)), take.eq(o.valid & o.ready)]
    with m.If(valid):
        m.d.sync += [store[wa].eq(Value.cast(data)), wa.eq(wa + 1)]
    with m.If(take):
        m.d.sync += ra.eq(ra + 1)
    cnt_next = Signal(range(depth + 1), name=f"{name}_qcnt_next")
    m.d.comb += cnt_next.eq(cnt + valid - take)
    m.d.sync += [cnt.eq(cnt_next), ne.eq(cnt_next != 0), room.eq(cnt_next + rd <= depth - 1)]
    return room, take, ne
