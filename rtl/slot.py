"""The *slot*: what travels through the array in one clock cycle.

Every MAC kind sees the same per-cycle protocol. A product ``a * w`` is delivered as ``L`` consecutive
slots (``L = 1`` for the parallel MAC, ``L = p`` for the bit-serial MAC at precision ``p``); a dot product
of length ``K`` is ``K * L`` slots. The control bits of a slot:

=========  ===================================================================================
``valid``  the slot carries data (bubbles travel with ``valid = 0`` and change nothing)
``first``  first slot of a reduction: the accumulator restarts from zero
``last``   last slot of a reduction: the result is complete after this slot
``bit0``   first slot of one product (bit position 0 of the activation)
``msb``    last slot of one product (the activation's sign bit, weight ``-2^(p-1)``)
``wsel``   weight-stationary only: which of the two weight buffers this slot multiplies with
``tlast``  weight-stationary only: last activation row of the current weight tile
=========  ===================================================================================

For the parallel MAC ``bit0 = msb = 1`` on every slot.
"""

from amaranth.lib import data

CtlLayout = data.StructLayout({
    "valid": 1,
    "first": 1,
    "last": 1,
    "bit0": 1,
    "msb": 1,
    "wsel": 1,
    "tlast": 1,
})
