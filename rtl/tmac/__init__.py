"""The tMAC family (term-quantized MAC): layouts, activation term encoder, front end, PEs.

Math and bit layouts: :mod:`macforge.golden.tmac`. Pieces:

* :mod:`.layouts` -- activation term, weight term slot and row-symbol layouts;
* :mod:`.encoder` -- the activation term encoder (binary / HESE, top-``k_x``, most significant first);
* :mod:`.frontend` -- holds a beat of ``R x g`` activations (and, OS, ``C x k_max`` weight slots) for
  ``L = k * k_x`` cycles and emits one term pair index per cycle;
* :mod:`.pe` -- OS and WS PEs (binary accumulator with a one-hot shifter), the WS column unit, and the
  exponent-histogram OS PE with its edge converter (kept for the area comparison).
"""
