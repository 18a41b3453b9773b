"""Learning-rate schedules: ``lr(t)`` as a function of the iteration ``t = 0, 1, ...``.

* constant:           ``eta_t = eta``
* multistage:         ``eta_t = eta * gamma^(number of milestones <= t)`` (the lecture: x0.1 every T epochs)
* cosine with warm restarts (SGDR, Loshchilov & Hutter):
  ``eta_t = eta_min + (eta_max - eta_min) (1 + cos(pi T_cur / T_i)) / 2``, where ``T_cur`` counts iterations
  since the last restart and the i-th period is ``T_i = T_0 * T_mult^i``.
* cyclical (triangular, Smith): ``eta_t`` ramps linearly ``base -> max -> base`` with half-period
  ``step_size``.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "multistage", "cosine", "cyclical")


def _pos(name, v):
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")


class Constant:
    def __init__(self, lr: float):
        _pos("lr", lr)
        self.lr = lr

    def __call__(self, t: int) -> float:
        return self.lr


class Multistage:
    def __init__(self, lr: float, milestones: list[int], gamma: float = 0.1):
        _pos("lr", lr)
        if sorted(milestones) != list(milestones) or any(m < 0 for m in milestones):
            raise ValueError(f"milestones must be ascending non-negative iterations, got {milestones}")
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.lr, self.milestones, self.gamma = lr, list(milestones), gamma

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** sum(1 for m in self.milestones if t >= m)


class CosineWarmRestarts:
    def __init__(self, lr_max: float, t0: int, t_mult: int = 1, lr_min: float = 0.0):
        _pos("lr_max", lr_max)
        if t0 < 1 or t_mult < 1:
            raise ValueError(f"T_0 and T_mult must be >= 1, got T_0={t0}, T_mult={t_mult}")
        if not 0 <= lr_min <= lr_max:
            raise ValueError(f"need 0 <= lr_min <= lr_max, got lr_min={lr_min}, lr_max={lr_max}")
        self.lr_max, self.t0, self.t_mult, self.lr_min = lr_max, t0, t_mult, lr_min

    def __call__(self, t: int) -> float:
        t_i, t_cur = self.t0, t
        while t_cur >= t_i:
            t_cur -= t_i
            t_i *= self.t_mult
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (1.0 + math.cos(math.pi * t_cur / t_i))


class Cyclical:
    def __init__(self, base_lr: float, max_lr: float, step_size: int):
        _pos("base_lr", base_lr)
        if max_lr < base_lr or step_size < 1:
            raise ValueError(f"need max_lr >= base_lr and step_size >= 1, got {max_lr}, {step_size}")
        self.base, self.max, self.step = base_lr, max_lr, step_size

    def __call__(self, t: int) -> float:
        cycle_pos = abs((t / self.step) % 2.0 - 1.0)  # 1 at the ends of a cycle, 0 in its middle
        return self.base + (self.max - self.base) * (1.0 - cycle_pos)


def make_schedule(name: str, lr: float, total_iters: int, iters_per_epoch: int) -> object:
    """Schedule ``name`` with sensible defaults for a run of ``total_iters`` iterations."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    if name == "constant":
        return Constant(lr)
    if name == "multistage":
        return Multistage(lr, [int(total_iters * 0.5), int(total_iters * 0.75)], 0.1)
    if name == "cosine":
        # two periods T_0 and 2 T_0 covering the run: one warm restart, ending near lr_min
        return CosineWarmRestarts(lr, t0=max(1, math.ceil(total_iters / 3)), t_mult=2, lr_min=lr * 0.01)
    return Cyclical(lr * 0.1, lr, step_size=max(1, 2 * iters_per_epoch))
