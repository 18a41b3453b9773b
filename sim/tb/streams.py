"""Cycle-level stream drivers for the array's Amaranth ``stream`` ports (``valid``/``ready``/``payload``).

Transfer rule (``amaranth.lib.stream``): a beat moves in a cycle where ``valid`` and ``ready`` are both
high; once ``valid`` is raised the payload stays put until the transfer. The drivers are stepped by one
clock loop (:class:`macforge.sim.tb.array_tb.ArrayBench`): at each falling edge every driver writes its pins, the
loop waits for ``ReadOnly`` and every driver observes whether its beat moved. Two triggers per cycle,
no per-driver coroutines: this keeps Python work per cycle small.

Random idle cycles: a source that has a beat ready stays silent for a cycle with probability ``idle``
(decided only while ``valid`` is low, so a raised ``valid`` is never withdrawn). Random backpressure: a
sink drops ``ready`` with probability ``bp`` in each cycle.
"""

from __future__ import annotations

import random

import numpy as np


def pack(values, width: int) -> int:
    """Pack signed ``values`` (element 0 in the least significant bits), ``width`` bits each.

    Vectorized (NumPy bit planes + ``packbits``, then one ``int.from_bytes``): no per-lane Python work,
    so a 128-lane row of a large array costs about what a 4-lane one does."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if v.size == 0:
        return 0
    if width > 62:
        return _pack_slow(v.tolist(), width)
    u = v & ((1 << width) - 1)
    bits = ((u[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8).reshape(-1)
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def _pack_slow(values, width: int) -> int:
    mask = (1 << width) - 1
    out = 0
    for i, v in enumerate(values):
        out |= (int(v) & mask) << (width * i)
    return out


def unpack(word: int, width: int, n: int) -> list[int]:
    """Inverse of :func:`pack`: ``n`` signed values of ``width`` bits (vectorized like :func:`pack`)."""
    if width > 62 or n == 0:
        mask, sign, out = (1 << width) - 1, 1 << (width - 1), []
        for i in range(n):
            v = (word >> (width * i)) & mask
            out.append(v - (1 << width) if v & sign else v)
        return out
    nb = (width * n + 7) // 8
    raw = np.frombuffer((word & ((1 << (width * n)) - 1)).to_bytes(nb, "little"), dtype=np.uint8)
    bits = np.unpackbits(raw, bitorder="little")[:width * n].reshape(n, width).astype(np.int64)
    vals = (bits << np.arange(width, dtype=np.int64)).sum(axis=1)
    vals = np.where(vals >= (1 << (width - 1)), vals - (1 << width), vals)
    return vals.tolist()


class StreamSource:
    """Drives ``<prefix>__valid`` / ``__payload`` from a list of pre-packed beats."""

    def __init__(self, dut, prefix: str, rng: random.Random, idle: float = 0.0):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.rng, self.idle = rng, idle
        self.beats: list[int] = []
        self.idx = 0
        self.showing = False
        self._pins = (None, None)
        self.first_cycle: int | None = None

    def load(self, beats: list[int]) -> None:
        self.beats, self.idx, self.showing = beats, 0, False

    @property
    def done(self) -> bool:
        return self.idx >= len(self.beats)

    def drive(self, cycle: int) -> None:
        if not self.showing and not self.done:
            self.showing = not (self.idle and self.rng.random() < self.idle)
        v = 1 if self.showing else 0
        p = self.beats[self.idx] if self.showing else self._pins[1]
        if (v, p) != self._pins:
            self.valid.value = v
            if p is not None and p != self._pins[1]:
                self.payload.value = p
            self._pins = (v, p)
        if self.showing and self.first_cycle is None:
            self.first_cycle = cycle

    def observe(self) -> bool:
        """After ReadOnly: did the shown beat move? Advances to the next beat if so."""
        if self.showing and int(self.ready.value):
            self.idx += 1
            self.showing = False
            return True
        return False

    def abort(self) -> None:
        """Forget remaining beats (reset in the middle of traffic)."""
        self.beats, self.idx, self.showing = [], 0, False


class StreamSink:
    """Drives ``<prefix>__ready`` (with random backpressure) and collects transferred payloads."""

    def __init__(self, dut, prefix: str, rng: random.Random, bp: float = 0.0):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.rng, self.bp = rng, bp
        self._r = None
        self.received: list[int] = []
        self.cycles: list[int] = []

    def drive(self, cycle: int) -> None:
        r = 0 if (self.bp and self.rng.random() < self.bp) else 1
        if r != self._r:
            self.ready.value = r
            self._r = r

    def observe(self, cycle: int) -> bool:
        if self._r and int(self.valid.value):
            self.received.append(int(self.payload.value))
            self.cycles.append(cycle)
            return True
        return False
