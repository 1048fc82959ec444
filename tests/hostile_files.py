"""Generators of odd and hostile input files, shared by the tests and tests/fuzz_inputs.py.

Each bomb is a few kB on disk and declares a decode of hundreds of MB to GB: the header says
so and nothing else in the file is needed to refuse it. Every builder returns bytes (or makes a
special file at a path) and never allocates what the file declares."""

from __future__ import annotations

import os
import socket
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

HUGE = 30_000  # 30000 x 30000 = 900 MP


def _png_chunk(ctype: bytes, data: bytes, length: int | None = None) -> bytes:
    n = len(data) if length is None else length
    return struct.pack(">I", n) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png(w: int = 400, h: int = 300, value: int = 200) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((h, w, 3), value, np.uint8))
    return buf.tobytes()


def png_huge_dims(w: int = HUGE, h: int = HUGE) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + _png_chunk(b"IEND", b"")
    )


def png_chunk_bomb() -> bytes:
    """A 1 kB PNG whose second chunk declares 2 GB (OpenCV 4.11 allocated it before reading)."""
    good = png()
    ihdr_end = 8 + 25
    body = b"\x00" * 1000
    return good[:ihdr_end] + struct.pack(">I", 0x7FFFFFF0) + b"iCCP" + body


def png_truncated() -> bytes:
    data = png(600, 400)
    return data[: len(data) // 2]


def png_apng_frame_outside() -> bytes:
    good = png(400, 300)
    fctl = struct.pack(">IIIIIHHBB", 0, 5000, 5000, 0, 0, 1, 1, 0, 0)
    return (
        good[:33]
        + _png_chunk(b"acTL", struct.pack(">II", 1, 0))
        + _png_chunk(b"fcTL", fctl)
        + good[33:]
    )


def jpeg(w: int = 600, h: int = 400, progressive: bool = False) -> bytes:
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    return buf.tobytes()


def _patch_sof(data: bytes, w: int, h: int) -> bytes:
    """Set the frame size of a real JPEG (its tables and data stay valid for the decoder)."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xC2:
            return data[: i + 5] + struct.pack(">HH", h, w) + data[i + 9 :]
        i += 2 + length
    raise ValueError("no SOF")


def jpeg_huge_dims(w: int = HUGE, h: int = HUGE) -> bytes:
    return _patch_sof(jpeg(), w, h)


def jpeg_size_past_64k(w: int = HUGE, h: int = HUGE) -> bytes:
    """The frame header behind 130 kB of APP segments, out of reach of a 64 KiB header probe."""
    data = _patch_sof(jpeg(), w, h)
    app = b"\xff\xe2" + struct.pack(">H", 65535) + b"\x00" * 65533
    return data[:2] + app + app + data[2:]


def jpeg_many_scans(n: int = 500) -> bytes:
    """A progressive-JPEG CPU bomb: hundreds of (empty) scans."""
    data = jpeg(progressive=True)
    sos = data.index(b"\xff\xda")
    seg_len = struct.unpack(">H", data[sos + 2 : sos + 4])[0]
    scan = data[sos : sos + 2 + seg_len] + b"\x00" * 8
    return data[:sos] + scan * n + b"\xff\xd9"


def jpeg_truncated() -> bytes:
    data = jpeg(800, 600)
    return data[: int(len(data) * 0.6)]


def jpeg_grey_lower_part(image: np.ndarray | None = None) -> bytes:
    """A JPEG cut after 60 % of its data with an end marker appended: it decodes, and libjpeg
    fills the lower part with grey."""
    if image is None:
        data = jpeg(800, 600)
    else:
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    return data[: int(len(data) * 0.6)] + b"\xff\xd9"


def jpeg_with_trailer(image: np.ndarray | None = None) -> bytes:
    """A complete JPEG followed by a motion photo's video (bytes after the end marker)."""
    data = jpeg() if image is None else cv2.imencode(".jpg", image)[1].tobytes()
    return data + b"\x00\x00\x00\x18ftypmp42" + os.urandom(20_000)


def tiff_huge_dims(w: int = HUGE, h: int = HUGE, big: bool = False) -> bytes:
    """A 900 MP uncompressed RGB TIFF header with one byte of pixel data."""
    tags = [
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 3),
        (278, 4, 1, h),
        (279, 4, 1, w * h * 3 & 0xFFFFFFFF),
    ]
    if big:
        out = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16)
        out += struct.pack("<Q", len(tags))
        for tag, typ, count, val in tags:
            out += struct.pack("<HHQQ", tag, typ, count, val)
        return out + struct.pack("<Q", 0) + b"\x00" * 16
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags))
    for tag, typ, count, val in tags:
        field = struct.pack("<H", val) + b"\x00\x00" if typ == 3 else struct.pack("<I", val)
        out += struct.pack("<HHI", tag, typ, count) + field
    return out + struct.pack("<I", 0) + b"\x00" * 16


def tiff_tile_bomb() -> bytes:
    """A 400x300 TIFF whose one tile is declared 60000x60000 (one tile buffer: 10 GB)."""
    data = bytearray(tiff_huge_dims(400, 300))
    n = struct.unpack("<H", data[8:10])[0]
    extra = struct.pack("<HHI", 322, 4, 1) + struct.pack("<I", 60_000)
    extra += struct.pack("<HHI", 323, 4, 1) + struct.pack("<I", 60_000)
    entries = bytes(data[10 : 10 + 12 * n]) + extra
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", n + 2) + entries + b"\x00" * 20


def webp(w: int = 400, h: int = 300, lossless: bool = False) -> bytes:
    rng = np.random.default_rng(2)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    q = 101 if lossless else 80
    return cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, q])[1].tobytes()


def webp_huge_dims() -> bytes:
    """A lossy WebP declaring 16383x16383 (268 MP), the largest VP8 frame."""
    data = bytearray(webp())
    assert data[12:16] == b"VP8 "
    data[26:30] = struct.pack("<HH", 16383, 16383)
    return bytes(data)


def webp_vp8x_huge() -> bytes:
    data = webp()
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (100_000 - 1).to_bytes(3, "little") + (100_000 - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + data[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_truncated() -> bytes:
    data = webp(600, 400)
    return data[: len(data) // 2]


def bmp_huge_dims(w: int = HUGE, h: int = HUGE) -> bytes:
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 54) + dib + b"\x00" * 16


def bmp(w: int = 400, h: int = 300) -> bytes:
    return cv2.imencode(".bmp", np.full((h, w, 3), 200, np.uint8))[1].tobytes()


def pnm_huge() -> bytes:
    """A format OpenCV would read (PPM) but the device does not take."""
    return b"P6\n30000 30000\n255\n" + b"\x00" * 64


def gif() -> bytes:
    return b"GIF89a" + struct.pack("<HH", 30000, 30000) + b"\x00" * 64


# ---- special files ------------------------------------------------------------------------


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path


def make_symlink(path: Path, target: str | Path) -> Path:
    os.symlink(target, path)
    return path


BOMBS = {
    "png_huge_dims.png": png_huge_dims,
    "png_chunk_bomb.png": png_chunk_bomb,
    "jpeg_huge_dims.jpg": jpeg_huge_dims,
    "jpeg_size_past_64k.jpg": jpeg_size_past_64k,
    "jpeg_many_scans.jpg": jpeg_many_scans,
    "tiff_huge_dims.tif": tiff_huge_dims,
    "bigtiff_huge_dims.tif": lambda: tiff_huge_dims(big=True),
    "tiff_tile_bomb.tif": tiff_tile_bomb,
    "webp_huge_dims.webp": webp_huge_dims,
    "webp_vp8x_huge.webp": webp_vp8x_huge,
    "bmp_huge_dims.bmp": bmp_huge_dims,
    "apng_frame_outside.png": png_apng_frame_outside,
}
