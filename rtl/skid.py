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

from amaranth import Array, Cat, Mux, Signal, Value


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
    """Feed stream ``o`` from a registered memory read (``valid``/``data``) through a queue of ``depth``
    registers and a head register, with a *registered* room flag for the reader.

    ``valid``/``data``: the input stage -- a word read two cycles ago, registered (the buffer memory's
    output register, :class:`macforge.rtl.bram.RegisteredReadMemory`, and the flags registered with it).
    ``rd``: the reader reads a word in this cycle (so ``valid`` is 1 two cycles later). ``gate``
    (optional, a function of ``o.payload``, i.e. of head flip-flops): the head may leave only while it
    is 1 (a credit check).

    Structure (nothing between two registers but a select):

    * **queue** of ``depth`` registers (``<name>_q<i>``, write/read pointers ``<name>_qwa``/``_qra``):
      holds beats only while ``o`` stalls;
    * **head register** ``<name>_hv``/``<name>_hd`` = ``o.valid``/``o.payload`` (with the gate): it
      reloads when empty or taken, from the queue's oldest beat, or, when the queue is empty, straight
      from the input stage. ``o.valid`` is a flip-flop and the gate's flags (one LUT), so the array's
      front end decides on registers; its combinational ``ready`` reaches only the head's load enable
      and the pointers.

    Room: ``occ`` counts the beats read and not yet taken (two read stages, queue, head); ``room`` (a
    flip-flop, computed one cycle ahead) is ``occ' <= depth``: one more read then fits in the
    ``depth + 1`` places of queue and head. Returns ``(room, take, nonempty)``: ``take`` = ``o`` takes
    the head this cycle; ``nonempty`` = a beat is in the queue or the head (registers; the read stages
    are the caller's).

    Timing: a word read in cycle ``t`` is in the input stage in ``t + 2`` and offered on ``o`` from
    ``t + 3``. With ``o.ready`` high three beats are in flight and the reader reads every cycle
    (``depth >= 3``), one beat per cycle reaches ``o``. While ``o`` stalls the reader runs ahead until
    queue and head are full; after a stall ``o`` gets one beat per cycle again. Order is kept; nothing
    is lost or duplicated (invariant ``occ <= depth + 1``).
    """
    assert depth >= 4 and depth & (depth - 1) == 0, "depth: a power of two >= 4"
    width = len(Value.cast(data))
    iv, idata = valid, Value.cast(data)
    store = Array(Signal(width, name=f"{name}_q{i}") for i in range(depth))
    wa = Signal(range(depth), name=f"{name}_qwa")
    ra = Signal(range(depth), name=f"{name}_qra")
    # the queue's and the pipeline's fill levels as thermometer codes (bit i: more than i beats), so
    # their next values are a shift, not an adder behind ``o.ready``
    qt = Signal(depth, name=f"{name}_qt")
    qne = qt[0]
    hv = Signal(name=f"{name}_hv")
    hd = Signal(width, name=f"{name}_hd")
    occ = Signal(depth + 2, name=f"{name}_occ")
    room = Signal(init=1, name=f"{name}_room")
    take = Signal(name=f"{name}_take")
    load = Signal(name=f"{name}_load")       # the head is empty or leaves: it reloads
    push = Signal(name=f"{name}_push")       # the input stage's beat goes to the queue
    pop = Signal(name=f"{name}_pop")         # the queue's oldest beat goes to the head
    m.d.comb += [
        o.payload.eq(hd),
        o.valid.eq(hv & (1 if gate is None else gate)),
        take.eq(o.valid & o.ready),
        load.eq(~hv | take),
        pop.eq(load & qne),
        push.eq(iv & ~(load & ~qne)),
    ]
    with m.If(load):
        m.d.sync += [hv.eq(qne | iv), hd.eq(Mux(qne, store[ra], idata))]
    # the input stage's beat is written at ``wa`` whenever it is valid (a free place: ``iv`` implies
    # ``qcnt < depth`` by the occupancy invariant), so the queue registers' clock enables are flip-flops;
    # ``wa`` advances only when the beat stays in the queue (not when it goes straight to the head)
    with m.If(iv):
        m.d.sync += store[wa].eq(idata)
    with m.If(push):
        m.d.sync += wa.eq(wa + 1)
    with m.If(pop):
        m.d.sync += ra.eq(ra + 1)
    with m.If(push & ~pop):
        m.d.sync += qt.eq(Cat(1, qt[:-1]))
    with m.Elif(pop & ~push):
        m.d.sync += qt.eq(qt[1:])
    # occ' = occ + rd - take; room = occ' <= depth, i.e. bit ``depth`` of the next thermometer code clear
    with m.If(rd & ~take):
        m.d.sync += [occ.eq(Cat(1, occ[:-1])), room.eq(~occ[depth - 1])]
    with m.Elif(take & ~rd):
        m.d.sync += [occ.eq(occ[1:]), room.eq(~occ[depth + 1])]
    with m.Else():
        m.d.sync += room.eq(~occ[depth])
    return room, take, qne | hv
