import numpy as np

from macforge.golden.mlp import IntLayer, IntMLP
from macforge.golden.requant import quantize_multipliers


def random_int_mlp(rng, sizes=(12, 8, 5), a_bits=8, w_bits=8, tq=None) -> IntMLP:
    layers = []
    q = (1 << (w_bits - 1)) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        final = i == len(sizes) - 2
        w = rng.integers(-q, q + 1, (a, b))
        bias = rng.integers(-2000, 2000, b)
        s_w = rng.uniform(0.001, 0.01, b) if not final else np.full(b, 0.005)
        m0 = shift = None
        s_out = None
        if not final:
            s_out = 0.05
            m0, shift = quantize_multipliers(0.02 * s_w / s_out)
        layers.append(IntLayer(w, bias, m0, shift, not final, w_bits, a_bits, 0.02, s_w, s_out))
    return IntMLP(layers, a_bits=a_bits, w_bits=w_bits, tq=tq)
