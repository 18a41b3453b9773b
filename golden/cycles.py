"""Exact cycle model of the systolic arrays.

Counting convention: cycle 0 is the cycle in which the array accepts the first beat of the job (every
input stream valid from cycle 0 on, the output always ready); the job takes ``N`` cycles when its final
output beat is transferred in cycle ``N - 1``. ``L`` is the number of cycles per product: 1 for the
parallel MAC, ``p`` for the bit-serial MAC at precision ``p``.

Output stationary (:func:`os_job_cycles`), tiles with reduction lengths ``K_0, K_1, ...``::

    E_0 = K_0 * L                              (cycle of tile 0's final slot; slots start in cycle 1)
    E_t = E_(t-1) + max(K_t * L, R)            (drain spacing: one result row per cycle)
    row r of tile t leaves in cycle E_t + R + C + 1 + P + r
    N   = E_last + 2R + C + 1 + P

so one tile alone has latency ``K L + 2R + C + 1 + P`` and back-to-back tiles cost ``max(K L, R)`` each.
``P`` is :attr:`ArrayConfig.pipe_latency` (with the pipelining option: 3 for WS arrays of every MAC family,
4 for the plain parallel WS array, 2 for the parallel OS array, 1 for the bit-serial OS array; else 0): it
adds latency, never throughput.

Weight stationary (:func:`ws_job_cycles`), weight tiles ``n`` streaming ``M_n`` activation rows each,
double-buffered weights (buffer ``n mod 2``), ``B = L + R + C - 2`` the release time of a buffer::

    S_n = max(W_(n-1) + 1, T_(n-2) + 1 + B)    (first weight beat of tile n; W_(-1) + 1 = 0, T_(<0) = -inf)
    W_n = S_n + R - 1                          (R weight rows, one per cycle)
    A_n = max(W_n + 1, T_(n-1) + L)            (first activation beat of tile n)
    T_n = A_n + (M_n - 1) * L                  (its tlast beat)
    an output row leaves L + R + C + 2 + P cycles after its beat is accepted
    N   = T_last + L + R + C + 3 + P

In steady state a tile costs ``max(M L, R, ...)``: weight loading hides behind compute whenever
``M L >= L + 2R + C - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ArrayConfig


def os_output_latency(cfg: ArrayConfig) -> int:
    """Cycles from the final slot of a tile to its first output row: ``R + C + 1 + P``."""
    return cfg.rows + cfg.cols + 1 + cfg.pipe_latency


def os_job_cycles(cfg: ArrayConfig, ks: list[int], L: int = 1) -> int:
    """Total cycles of an OS job whose tiles have reduction lengths ``ks`` (see module docstring)."""
    if not ks:
        return 0
    R, C = cfg.rows, cfg.cols
    e = ks[0] * L
    for k in ks[1:]:
        e += max(k * L, R)
    return e + 2 * R + C + 1 + cfg.pipe_latency


def ws_job_cycles(cfg: ArrayConfig, ms: list[int], L: int = 1) -> int:
    """Total cycles of a WS job whose weight tiles stream ``ms`` activation rows each."""
    if not ms:
        return 0
    R, C = cfg.rows, cfg.cols
    B = L + R + C - 2
    W_prev = -1
    T = []
    for n, m in enumerate(ms):
        s = W_prev + 1
        if n >= 2:
            s = max(s, T[n - 2] + 1 + B)
        w_n = s + R - 1
        a_n = w_n + 1 if n == 0 else max(w_n + 1, T[n - 1] + L)
        T.append(a_n + (m - 1) * L)
        W_prev = w_n
    return T[-1] + L + R + C + 3 + cfg.pipe_latency


@dataclass(frozen=True)
class GemmCycles:
    """Cycle-model figures for one GEMM on one configuration."""

    cycles: int
    macs: int            # useful multiply-accumulates M*N*K
    tiles: int
    utilization: float   # macs / (R * C * cycles)
    steady_cycles_per_tile: int   # marginal cycles of one more back-to-back tile


def job_cycles(cfg: ArrayConfig, tiles: list[int], L: int = 1) -> int:
    """Dispatch on the dataflow: ``tiles`` are the K's (OS) or M's (WS) of :class:`macforge.golden.gemm.Schedule`."""
    return os_job_cycles(cfg, tiles, L) if cfg.dataflow == "os" else ws_job_cycles(cfg, tiles, L)


def gemm_cycles(cfg: ArrayConfig, M: int, K: int, N: int, precision: int | None = None) -> GemmCycles:
    """Model figures of ``(M x K) @ (K x N)`` as back-to-back tiles (the :func:`macforge.golden.gemm.schedule`
    order) without building the operands."""
    return steps_cycles(cfg, M, K, N, cfg.cycles_per_step(precision), M * N * K)


def steps_cycles(cfg: ArrayConfig, M: int, S: int, N: int, L: int, macs: int) -> GemmCycles:
    """:class:`GemmCycles` of an ``M x N`` output reduced over ``S`` MAC steps of ``L`` cycles each,
    as back-to-back tiles in the schedule order (OS: ``ceil(M/R) ceil(N/C)`` tiles of ``S`` steps; WS:
    per block of ``max_m`` rows, ``ceil(N/C) ceil(S/R)`` weight tiles). ``S = K`` for the parallel and
    bit-serial MACs, the number of term groups for the tMAC; ``macs`` is the layer's useful MACs."""
    R, C = cfg.rows, cfg.cols
    mt, nt, kc = -(-M // R), -(-N // C), -(-S // R)
    if cfg.dataflow == "os":
        tiles = [S] * (mt * nt)
    else:
        tiles = []
        for m0 in range(0, M, cfg.max_m):
            tiles += [min(cfg.max_m, M - m0)] * (nt * kc)
    cyc = job_cycles(cfg, tiles, L)
    # marginal cost of the final tile = steady-state cycles per tile of this job
    steady = cyc - job_cycles(cfg, tiles[:-1], L) if len(tiles) > 1 else cyc
    return GemmCycles(cyc, macs, len(tiles), macs / (R * C * cyc), steady)
