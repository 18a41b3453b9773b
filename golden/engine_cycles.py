"""Exact cycle model of the layer engine (loads, compute, drain, double-buffer overlap).

Convention: cycle 0 is the cycle in which the engine accepts the command word; ``s_axis`` offers the
packet's next beat in every cycle (no idle cycles) and ``m_axis_tready`` is always high. A job takes
``N`` cycles when its ``tlast`` beat is transferred in cycle ``N - 1``.

The model is a cycle-level simulation of the engine's *documented* behaviour (:mod:`macforge.rtl.engine`,
:mod:`macforge.golden.engine`, the array timing of :mod:`macforge.golden.cycles`), written independently of the RTL:

* **Unpackers.** A section of ``n`` words of ``ww`` bits on a ``wax``-bit bus. ``ww <= wax``: a beat is
  taken when the unpacker is empty or its last word is being taken (not on a section's final word);
  its words are offered from the next cycle, one per cycle. ``ww > wax``: a word collects
  ``ceil(ww / wax)`` beats, one per cycle, and is offered in the cycle after its final beat. Each section
  starts one cycle after the previous one's final word (a bubble).
* **Double buffering.** Activation block ``b`` is written only while ``b < released + 2``; a block counts as
  loaded from the cycle after its final word (for this check) and as released from the cycle after its
  final word has been read; the generators may read it from two cycles after its final word (the
  buffer writes are registered).
* **Issue.** A generator reads a word of a loaded block whenever its queue has room (a flag computed
  one cycle ahead: the words read and not yet taken, ``<= depth``, ``depth`` =
  :attr:`~macforge.golden.engine_config.EngineConfig.issue_depth`); the word is in the read stage in the
  next cycle, in the input register the cycle after, then in the head register (or the queue behind it),
  where the array takes it (:func:`macforge.rtl.skid.issue_queue`). So a word read in cycle ``t`` is
  offered from ``t + 3``, one beat per cycle; while the array stalls the generator runs ahead until queue
  and head are full.
* **Array.** OS: the front end takes a beat when idle or emitting the final slot of its beat (``L``
  slots per beat), holds a ``last`` slot until ``R`` cycles after the previous one; a tile's final
  slot presented in cycle ``E`` puts row ``r`` on the output in cycle ``E + R + C + 1 + r``. WS: weight
  rows enter a free buffer (``R`` rows, then ``full``), a buffer is free again ``L + R + C - 2`` cycles
  after its tile's ``tlast`` beat; activation beats need the current buffer ``full``; a beat accepted in
  cycle ``t`` with ``last`` puts its row on the output in ``t + L + R + C + 2``. Both plus ``P``
  (:attr:`~macforge.golden.config.ArrayConfig.pipe_latency`, the pipelining option's extra stage).
* **tMAC.** The budget word is taken in cycle 1 (the parameters start a cycle later); the reduction
  runs in groups (``K`` steps become ``ceil(K/g)``) of ``L = k k_x`` slots.
* **Output.** The post-processing pipeline takes an array row in its cycle and transfers it on
  ``m_axis`` ``2 + Q`` cycles later (``Q`` = :attr:`~macforge.golden.engine_config.EngineConfig.post_pipe`:
  11 registered stages with the pipelining option, else 0; then the output FIFO and an output slot).

Without a stall the total is dominated by ``sum over blocks of max(load_b+1, compute_b)``: e.g. a
256 x 256 x 256 layer on an 8x8 OS array with a 64-bit bus needs 12 x 32 + 8192 + ~32 x 258 load cycles
for parameters, weights and the first block, then 32 blocks x 32 tiles x 256 beats of compute.
"""

from __future__ import annotations

from .config import ArrayConfig
from .engine import check_dims, geometry
from .engine_config import EngineConfig



class _IssueQueue:
    """A generator's read stage -> input register -> a queue and head register of ``depth + 1`` beats ->
    the array, with the registered room flag of :func:`macforge.rtl.skid.issue_queue`. Beats are tuples
    (or ``True`` for weight rows)."""

    def __init__(self, depth: int):
        self.depth = depth
        self.stage = None                  # the beat read in the previous cycle (memory read data)
        self.inreg = None                  # the beat read two cycles ago (input register)
        self.q: list = []                  # head register (q[0]) and queue, oldest first
        self.room = True                   # the generator may read in this cycle

    def offer(self):
        """(valid, beat) the array sees in this cycle (the head register)."""
        return (True, self.q[0]) if self.q else (False, None)

    def step(self, take: bool, rd: bool, new_beat) -> None:
        """Register update: ``take`` (the array took the head), ``rd`` (the generator read ``new_beat``)."""
        if take:
            self.q.pop(0)
        if self.inreg is not None:
            self.q.append(self.inreg)
        self.inreg = self.stage
        self.stage = new_beat if rd else None
        occ = len(self.q) + (self.inreg is not None) + (self.stage is not None)
        self.room = occ <= self.depth


def job_cycles(e: EngineConfig, M: int, K: int, N: int, precision: int | None = None,
               trace: dict | None = None, k: int | None = None, k_x: int | None = None) -> int:
    """Cycles of one good job ``(M x K) @ (K x N)`` (see the module docstring).

    ``trace`` (a dict, optional) receives per-cycle lists: ``s_axis`` (section of the beat taken on
    ``s_axis``: ``"cmd"``, ``"P"``, ``"W"``, ``"A<b>"`` or ``None``), ``array`` (block of the beat the
    array takes, or ``None``) and ``m_axis`` (cycles of the result beats on ``m_axis``).
    """
    check_dims(e, M, K, N)        # the hardware rejects anything else (error 2 / 3)
    a: ArrayConfig = e.array
    R, C = a.rows, a.cols
    P = a.pipe_latency + e.post_pipe   # pipelining option: extra array + post-processing latency
    L = a.cycles_per_step(precision, k=k, k_x=k_x)
    OS = a.dataflow == "os"
    wax = e.axis_width
    nt, kc, kp, starts = geometry(e, M, K, N)
    K = kp if OS else K            # OS: reduction steps per tile (tMAC: groups of g)
    blocks = [mb for _, mb in starts]
    nb = len(blocks)
    sec = [(e.p_word, nt), (e.w_word, nt * kp)]
    for mb in blocks:
        sec.append((e.a_word, K if OS else kc * mb))
    block_beats = [nt * K if OS else nt * kc * mb for mb in blocks]
    w_rows_per_block = nt * kc * R

    # ---- state (registers); simulation starts in cycle 1 (cycle 0 took the command word)
    s_i, wi = 0, 0                 # parser: section, word within it
    have, idx, full, j = 0, 0, 0, 0  # unpacker of the current section
    loaded = released = 0
    loaded_g = 0                   # blocks the generators may read (loaded, one cycle later)
    # activation generator (beats: (last, tlast, block)) and its pipe to the array
    apipe = _IssueQueue(e.issue_depth)
    g_blk, g_i, g_done = 0, 0, False
    # WS weight generator and its pipe
    wpipe = _IssueQueue(e.issue_depth)
    h_blk, h_i, h_done = 0, 0, False
    # array: front end
    fe_busy, fe_pos, fe_last = 0, 0, 0
    since_last = R
    # WS array state
    wfull = [0, 0]
    wbusy = [0, 0]
    lb = cb = 0
    wrow = 0
    B_rel = L + R + C - 2      # release time of a WS weight buffer (macforge.golden.cycles)
    rows_total = nb * nt * R if OS else nt * sum(blocks)
    rows_seen = 0
    last_row_cycle = None
    s_blk = 0
    if trace is not None:
        trace.update({"s_axis": ["cmd"], "array": [None], "m_axis": []})
    t = 1
    if a.mac == "tmac":            # the budget word takes one more header cycle
        t = 2
        if trace is not None:
            trace["s_axis"].append("budget")
            trace["array"].append(None)
    while True:
        # ================= combinational view of cycle t =================
        # --- parser / unpacker
        p_take = i_take = False
        sec_last = False
        if s_i < len(sec):
            ww, n = sec[s_i]
            kind_a = s_i >= 2
            sec_last = wi == n - 1
            o_ready = (loaded < released + 2) if kind_a else True
            if ww <= wax:
                per = wax // ww
                p_take = bool(have) and o_ready
                o_end = idx == per - 1 or sec_last
                i_ready = (not have) or (p_take and o_end and not sec_last)
            else:
                nbw = -(-ww // wax)
                p_take = bool(full) and o_ready
                i_ready = (not full) or (p_take and not sec_last)
            i_take = i_ready
        # --- activation generator -> array.s
        if OS:
            hold = fe_busy and fe_last and fe_pos == L - 1 and since_last < R
            finishing = fe_busy and fe_pos == L - 1 and not hold
            s_ready = (not fe_busy) or finishing
            slot_last = fe_busy and not hold and fe_last and fe_pos == L - 1
        else:
            finishing = fe_busy and fe_pos == L - 1
            s_ready = ((not fe_busy) or finishing) and wfull[cb]
            hold = False
            slot_last = False
        s_offer, s_beat = apipe.offer()
        s_take = s_offer and s_ready
        if s_offer:
            s_last, s_tlast, s_blk = s_beat
        g_have = (not g_done) and g_blk < loaded_g
        a_rd = apipe.room and g_have       # the generator reads a word
        if not OS:
            w_ready = (not wfull[lb]) and wbusy[lb] == 0
            w_offer, _ = wpipe.offer()
            w_take = w_offer and w_ready
            h_have = (not h_done) and h_blk < loaded_g
        # ================= sequential update =================
        # array output (o.valid rows) are scheduled; count rows in their cycles
        if OS:
            if slot_last:
                since_last = 1
                last_row_cycle_tile = t + R + C + 1 + a.pipe_latency + R - 1
                if trace is not None:
                    trace["m_axis"] += [t + R + C + 3 + P + r for r in range(R)]
                rows_seen += R
                if rows_seen == rows_total:
                    last_row_cycle = last_row_cycle_tile
            elif since_last < R:
                since_last += 1
            if s_take:
                fe_busy, fe_pos, fe_last = 1, 0, s_last
            elif finishing:
                fe_busy = 0
            elif fe_busy and not hold:
                fe_pos += 1
        else:
            t_take = s_take and s_tlast
            if s_take and s_last:
                if trace is not None:
                    trace["m_axis"].append(t + L + R + C + 4 + P)
                rows_seen += 1
                if rows_seen == rows_total:
                    last_row_cycle = t + L + R + C + 2 + a.pipe_latency
            for b in (0, 1):
                if t_take and cb == b:
                    wbusy[b] = B_rel
                elif wbusy[b]:
                    wbusy[b] -= 1
                if w_take and wrow == R - 1 and lb == b:
                    wfull[b] = 1
                elif t_take and cb == b:
                    wfull[b] = 0
            if w_take:
                if wrow == R - 1:
                    wrow = 0
                    lb ^= 1
                else:
                    wrow += 1
            if t_take:
                cb ^= 1
            if s_take:
                fe_busy, fe_pos = 1, 0
            elif finishing:
                fe_busy = 0
            elif fe_busy:
                fe_pos += 1
            # weight generator
            h_rd = wpipe.room and h_have
            wpipe.step(w_take, h_rd, True)
            if h_rd:
                h_i += 1
                if h_i == w_rows_per_block:
                    h_i = 0
                    h_blk += 1
                    if h_blk == nb:
                        h_done = True
        if trace is not None:
            trace["s_axis"].append(None if not i_take or s_i >= len(sec) else
                                   ("P", "W")[s_i] if s_i < 2 else f"A{s_i - 2}")
            trace["array"].append(s_blk if s_take else None)
        if last_row_cycle is not None and rows_seen == rows_total and t >= last_row_cycle:
            return last_row_cycle + 3 + e.post_pipe
        # activation generator (uses the register values of this cycle)
        new_beat = None
        if a_rd:
            i = g_i
            if OS:
                k = i % K
                new_beat = (k == K - 1, 0, g_blk)
            else:
                mb = blocks[g_blk]
                jj = i % (kc * mb)
                c, mm = divmod(jj, mb)
                new_beat = (c == kc - 1, mm == mb - 1, g_blk)
        apipe.step(s_take, a_rd, new_beat)
        if a_rd:
            g_i += 1
            if g_i == block_beats[g_blk]:
                g_i = 0
                g_blk += 1
                released += 1
                if g_blk == nb:
                    g_done = True
        # parser / unpacker (a block is readable by the generators one cycle after it counts as loaded)
        loaded_g = loaded
        if s_i < len(sec):
            ww, n = sec[s_i]
            if ww <= wax:
                if i_take:
                    have, idx = 1, 0
                elif p_take:
                    if o_end:
                        have = 0
                    else:
                        idx += 1
            else:
                if i_take:
                    if j == nbw - 1:
                        full, j = 1, 0
                    else:
                        j += 1
                        full = 0
                elif p_take:
                    full = 0
            if p_take:
                wi += 1
                if sec_last:
                    if s_i >= 2:
                        loaded += 1
                    s_i += 1
                    wi = 0
                    have = idx = full = j = 0
        t += 1
        if t > 50_000_000:
            raise RuntimeError("engine cycle model did not terminate")


def layer_utilization(e: EngineConfig, M: int, K: int, N: int, precision: int | None = None,
                      k: int | None = None, k_x: int | None = None) -> dict:
    """Cycles, useful MACs and array utilization ``M K N L / (R C cycles)`` of one job (tMAC: ``L = k k_x``
    per group of ``g``, so ``M ceil(K/g) N k k_x / (R C cycles)``, the term-pair utilization)."""
    cyc = job_cycles(e, M, K, N, precision, k=k, k_x=k_x)
    L = e.array.cycles_per_step(precision, k=k, k_x=k_x)
    if e.array.mac == "tmac":
        G = -(-K // e.array.g)
        return {"cycles": cyc, "macs": M * K * N, "term_pairs": M * G * N * L,
                "utilization": M * G * N * L / (e.rows * e.cols * cyc)}
    macs = M * K * N
    return {"cycles": cyc, "macs": macs, "utilization": macs * L / (e.rows * e.cols * cyc)}
