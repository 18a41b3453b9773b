"""Random packed (column-combining) engine jobs for :mod:`macforge.sim.tb.engine_tb`.

A packed job of the job file carries ``M``, ``K`` (lines of the dense ``W``), ``N`` and the packing:
``alpha`` (lines per group, at most the build's; default the build's), ``gamma`` (default 0.5) and
``density`` (fraction of nonzero weights before packing, default ``1 / alpha``). ``W`` gets empty lines and
the extreme weights; the packed layer's engine ``K`` is its group count ``G``.
"""

from __future__ import annotations

import numpy as np

from macforge.golden import colcomb as cc
from macforge.golden.engine_config import EngineConfig


def random_packed_layer(ecfg: EngineConfig, job: dict, rng: np.random.Generator) -> cc.PackedLayer:
    a = ecfg.array
    M, K, N = job["M"], job["K"], job["N"]
    alpha = job.get("alpha", a.alpha)
    dens = job.get("density", 1.0 / alpha)
    alo, ahi = -(1 << (a.a_width - 1)), (1 << (a.a_width - 1)) - 1
    wlo, whi = -(1 << (a.w_width - 1)), (1 << (a.w_width - 1)) - 1
    x = rng.integers(alo, ahi + 1, size=(M, K))
    w = rng.integers(wlo, whi + 1, size=(K, N))
    w[rng.random((K, N)) >= dens] = 0
    if K > 2:
        w[rng.integers(0, K)] = 0                       # an empty line
    w.flat[rng.integers(0, w.size)] = wlo
    x.flat[0] = alo
    x[:, rng.integers(0, K)] = alo                      # min * min products on some lines
    pm = cc.pack(w, alpha, job.get("gamma", 0.5))
    bias = rng.integers(-(1 << 20), 1 << 20, size=N)
    requant = job.get("requant", True)
    m0 = rng.integers(1 << 29, 1 << 31, size=N) if requant else None
    shift = rng.integers(24, 40, size=N) if requant else None
    return cc.PackedLayer(x, pm, bias, m0, shift, relu=job.get("relu", False), requant=requant,
                          precision=job.get("precision"))
