"""Column combining in hardware: the packed weight-stationary array (issue 14).

A packed array is the WS array of :mod:`macforge.rtl.ws_array` built from the MAC family of
:func:`packed_family`: every array row carries ``alpha`` activations per slot (the lines of one group,
:mod:`macforge.golden.colcomb`) and every PE stores, beside its weight, a select index choosing one of them.
Nothing else changes: the timing is exactly the plain WS array's (:mod:`macforge.golden.cycles`).
"""

from .pe import PackedBitSerialWsPE, PackedParallelWsPE, packed_family

__all__ = ["packed_family", "PackedParallelWsPE", "PackedBitSerialWsPE"]
