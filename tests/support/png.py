"""Read the pixels of a PNG with the standard library only (zlib, struct): enough for the
screenshots a headless browser takes (8 bits a channel, RGB or RGBA, not interlaced)."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type: RGB, RGBA


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(kind, row, previous, bpp):
    if kind == 0:
        return row
    out = bytearray(row)
    if kind == 2:
        return bytearray((r + p) & 0xFF for r, p in zip(row, previous, strict=True))
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        if kind == 1:
            out[i] = (out[i] + left) & 0xFF
        elif kind == 3:
            out[i] = (out[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            upleft = previous[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + _paeth(left, previous[i], upleft)) & 0xFF
        else:
            raise ValueError(f"PNG row filter {kind} does not exist")
    return out


def pixels(data):
    """(width, height, rows): rows is a list of bytes of RGB triples, alpha dropped."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    offset, header, idat = len(SIGNATURE), None, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _compression, _filtering, interlace = header
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"PNG of depth {depth}, colour type {colour}, interlace {interlace}")
    bpp = CHANNELS[colour]
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], previous, bpp)
        previous = row
        rows.append(bytes(row) if bpp == 3 else bytes(b for i, b in enumerate(row) if i % 4 != 3))
    return width, height, rows


def colours(data):
    """{(r, g, b): count} of a PNG's pixels."""
    _width, _height, rows = pixels(data)
    counts = {}
    for row in rows:
        for i in range(0, len(row), 3):
            key = row[i : i + 3]
            counts[key] = counts.get(key, 0) + 1
    return {tuple(key): n for key, n in counts.items()}
