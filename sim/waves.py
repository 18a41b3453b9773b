"""Read the signal names of a waveform file (FST or VCD) without a waveform library.

``python -m macforge.sim.waves FILE [PATTERN]`` lists them. Used by the tests of ``macforge sim --waves`` and
``MACFORGE_WAVES=1`` (see :mod:`macforge.sim.runner`). FST: the hierarchy block (gzip, type 4, or LZ4,
types 6/7) is decoded; its scope and variable entries hold the names.
"""

from __future__ import annotations

import re
import struct
import sys
import zlib
from pathlib import Path


def lz4_block_decompress(src: bytes, size: int) -> bytes:
    """Decompress one raw LZ4 block (the format of the LZ4 reference, without frame)."""
    out = bytearray()
    i, n = 0, len(src)
    while i < n:
        tok = src[i]
        i += 1
        lit = tok >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i:i + lit]
        i += lit
        if i >= n or len(out) >= size:
            break
        off = src[i] | (src[i + 1] << 8)
        i += 2
        ml = tok & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        start = len(out) - off
        for k in range(ml):
            out.append(out[start + k])
    return bytes(out)


def _fst_hierarchy(data: bytes) -> bytes:
    i = 0
    while i + 9 <= len(data):
        t = data[i]
        ln = struct.unpack(">Q", data[i + 1:i + 9])[0]
        body = data[i + 9:i + 1 + ln]
        if t == 4:     # gzip
            return zlib.decompress(body[8:], 16 + zlib.MAX_WBITS)
        if t == 6:     # LZ4
            return lz4_block_decompress(body[8:], struct.unpack(">Q", body[:8])[0])
        if t == 7:     # LZ4 twice
            unc, cmp1 = struct.unpack(">QQ", body[:16])
            mid = lz4_block_decompress(body[16:], cmp1)
            return lz4_block_decompress(mid, unc)
        i += 1 + ln
    raise ValueError("no hierarchy block in the FST file")


def signal_names(path) -> list[str]:
    """Every variable name in the file (FST or VCD), without scopes."""
    p = Path(path)
    data = p.read_bytes()
    if p.suffix == ".vcd" or data[:1] == b"$":
        return re.findall(r"\$var\s+\S+\s+\d+\s+\S+\s+(\S+)", data.decode(errors="replace"))
    h = _fst_hierarchy(data)
    # a variable entry: tag byte (0..29 var types), direction byte, NUL-terminated name, varints; scope
    # entries (254) hold scope names. Taking the printable NUL-terminated strings is enough for a list.
    names = re.findall(rb"([A-Za-z_][\w$.\[\]:<> ]*)\x00", h)
    return [n.decode().split(" ")[0] for n in names]


if __name__ == "__main__":
    names = signal_names(sys.argv[1])
    pat = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    for n in names:
        if pat is None or pat.search(n):
            print(n)
