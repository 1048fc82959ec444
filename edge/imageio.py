"""Loading photos and scans safely: every limit is checked from the file's own header before a
pixel is allocated, and the result is always an 8-bit BGR image.

A hostile or broken file must cost little: a PNG declaring a 2 GB chunk, a 900 MP TIFF, a JPEG
whose size field sits past its first 64 KiB, a 16383x16383 WebP, a symlink to /dev/zero or a FIFO
named `.jpg` are all refused here, from the header alone, in milliseconds and a few kB of memory.
Only JPEG, PNG, TIFF, WebP and BMP are accepted (what cameras and scanners write); the header of
each is parsed here (`check_image_file`, `check_image_bytes`) and OpenCV decodes only what
passed, with OpenCV's own pixel limit set as a second line of defence."""

from __future__ import annotations

import os
import re
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge import MAX_IMAGE_PIXELS as MAX_PIXELS  # OpenCV's own limit is set in edge/__init__

from .errors import BadInputError  # noqa: E402
from .nativelog import collect_native_stderr  # noqa: E402

MAX_FILE_BYTES = 200 * 1024 * 1024  # bigger than any camera JPEG or 600 dpi A4 scan
# Decoded size at the pixel budget in 8-bit RGBA: a 16-bit or many-channel image decodes to
# several bytes a pixel, so it gets a proportionally smaller pixel budget.
MAX_DECODED_BYTES = 4 * MAX_PIXELS
MAX_SIDE_PX = 65_535  # the largest side JPEG can hold; a longer side is no photo or scan
MIN_SIDE_PX = 200  # below this no ECG detail survives
MAX_PNG_CHUNKS = 200_000  # a 200 MB PNG in libpng's 8 kB IDAT chunks has ~25,000
MAX_JPEG_SCANS = 100  # progressive JPEGs have ~10; each scan re-walks the whole image (CPU bomb)
MAX_TIFF_TAGS = 1_000  # real IFDs hold a few dozen tags
# A JPEG whose data stops early still decodes when an end marker follows: libjpeg fills the
# missing blocks with exactly mid-grey. This many bottom rows of exact (128,128,128) across
# the whole width (two rows of 8x8 blocks) is that fill, not a photo.
GREY_FILL_MIN_ROWS = 16

FORMATS = ("jpeg", "png", "tiff", "webp", "bmp")
_FORMAT_NAMES = "JPEG, PNG, TIFF, WebP or BMP"
_HEADER_PROBE = 64  # bytes that identify the format
_READ_CHUNK = 1 << 20  # bytes read at a time while walking a JPEG's entropy-coded data


@dataclass(frozen=True)
class ImageHeader:
    """What the file's header declares, checked against every limit before any decoding.

    `image_bytes` is where the image itself ends (after a JPEG's end marker, a PNG's IEND or
    the WebP RIFF): bytes after it (a motion photo's video, a vendor trailer) are ignored."""

    kind: str  # one of FORMATS
    width: int
    height: int
    channels: int
    bytes_per_sample: int
    file_bytes: int
    image_bytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.channels * self.bytes_per_sample


Reader = Callable[[int, int], bytes]  # (offset, n) -> up to n bytes at offset


def _damaged(name: str, kind: str, what: str) -> BadInputError:
    return BadInputError(
        "unreadable_image",
        f"{name} is a damaged {kind.upper()} file ({what})",
        "copy or take the photo again",
    )


def _truncated_error(name: str, kind: str) -> BadInputError:
    return BadInputError(
        "truncated_file",
        f"{name} is truncated (the {kind.upper()} data ends early)",
        "copy or take the photo again",
    )


def _unpack(fmt: str, read: Reader, off: int, name: str, kind: str) -> tuple:
    n = struct.calcsize(fmt)
    b = read(off, n)
    if len(b) < n:
        raise _truncated_error(name, kind)
    return struct.unpack(fmt, b)


# ---- format sniffing and header parsers -------------------------------------------------------


def sniff_kind(head: bytes) -> str:
    """The image format from the first bytes: one of FORMATS, or "other"."""
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return "other"


_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> channels OpenCV decodes


def _png_header(read: Reader, size: int, name: str) -> ImageHeader:
    """Walk every chunk: each declared length must fit in the file (a 2 GB length in a 1 kB
    file is what made OpenCV allocate 2 GB), IHDR first and sane, IEND present."""
    pos, n_chunks, ihdr = 8, 0, None
    while True:
        length, ctype = _unpack(">I4s", read, pos, name, "png")
        n_chunks += 1
        if length > 0x7FFFFFFF or not ctype.isalpha():
            raise _damaged(name, "png", "bad chunk header")
        if n_chunks > MAX_PNG_CHUNKS:
            raise _damaged(name, "png", f"more than {MAX_PNG_CHUNKS} chunks")
        end = pos + 12 + length
        if end > size:
            raise _truncated_error(name, "png")
        if ihdr is None:
            if ctype != b"IHDR" or length != 13:
                raise _damaged(name, "png", "no IHDR chunk first")
            w, h, depth, colour = _unpack(">IIBB", read, pos + 8, name, "png")
            if w == 0 or h == 0 or depth not in (1, 2, 4, 8, 16) or colour not in _PNG_CHANNELS:
                raise _damaged(name, "png", "bad IHDR")
            _check_budget(name, w, h)
            ihdr = (w, h, depth, colour)
        elif ctype == b"fcTL" and length >= 20:  # an APNG frame must lie inside the canvas
            fw, fh, fx, fy = _unpack(">IIII", read, pos + 12, name, "png")
            if fw == 0 or fh == 0 or fx + fw > ihdr[0] or fy + fh > ihdr[1]:
                raise _damaged(name, "png", "animation frame outside the image")
        elif ctype == b"IEND":
            w, h, depth, colour = ihdr
            return ImageHeader(
                "png", w, h, _PNG_CHANNELS[colour], 2 if depth == 16 else 1, size, end
            )
        pos = end


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # C4 DHT, C8 JPG, CC DAC
# In entropy-coded data, 0xFF is followed by 00 (a stuffed byte), D0-D7 (restart) or FF (fill);
# anything else is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg_header(read: Reader, size: int, name: str, frame_only: bool = False) -> ImageHeader:
    """Walk every marker segment of the first image, skipping entropy-coded data, to its end
    marker: the frame size is found wherever it sits (not only in the first 64 KiB), a file
    that stops before the end marker is truncated, bytes after it are ignored."""
    pos, frame, n_scans = 2, None, 0
    while True:
        pos, marker = _next_jpeg_marker(read, pos, name)
        if marker == 0xD9:  # end of image
            if frame is None or n_scans == 0:
                raise _damaged(name, "jpeg", "no image data")
            w, h, comps, precision = frame
            return ImageHeader(
                "jpeg", w, h, 3 if comps >= 3 else 1, 2 if precision > 8 else 1, size, pos + 2
            )
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = _unpack(">H", read, pos + 2, name, "jpeg")
        if length < 2:
            raise _damaged(name, "jpeg", "bad segment length")
        seg_end = pos + 2 + length
        if seg_end > size:
            raise _truncated_error(name, "jpeg")
        if marker in _SOF_MARKERS:
            if frame is not None:
                raise _damaged(name, "jpeg", "two frame headers")
            frame = _jpeg_frame(read, pos, name)
            w, h, comps, _precision = frame
            _check_budget(name, w, h)
            if frame_only:
                return ImageHeader("jpeg", w, h, 3 if comps >= 3 else 1, 1, size, 0)
        pos = seg_end
        if marker == 0xDA:  # start of scan: skip its entropy-coded data to the next marker
            if frame is None:
                raise _damaged(name, "jpeg", "image data before the frame header")
            n_scans += 1
            if n_scans > MAX_JPEG_SCANS:
                raise _damaged(name, "jpeg", f"more than {MAX_JPEG_SCANS} scans")
            pos = _skip_entropy_coded(read, pos, name)


def _next_jpeg_marker(read: Reader, pos: int, name: str) -> tuple[int, int]:
    """(offset, code) of the marker at `pos`, after any fill bytes."""
    while True:
        b = read(pos, 2)
        if len(b) < 2:
            raise _truncated_error(name, "jpeg")
        if b[0] != 0xFF:
            raise _damaged(name, "jpeg", f"no marker at byte {pos}")
        if b[1] == 0xD8:
            raise _damaged(name, "jpeg", "a second start marker inside the image")
        if b[1] != 0xFF:
            return pos, b[1]
        pos += 1  # a fill byte


def _jpeg_frame(read: Reader, pos: int, name: str) -> tuple[int, int, int, int]:
    """(width, height, components, precision) from the SOFn segment at `pos`."""
    precision, h, w, comps = _unpack(">BHHB", read, pos + 4, name, "jpeg")
    if h == 0:
        raise BadInputError(
            "unsupported_image",
            f"{name} is a JPEG whose height is given only after its data (DNL)",
            "save it again as an ordinary JPEG or PNG",
        )
    if w == 0 or comps == 0:
        raise _damaged(name, "jpeg", "bad frame header")
    return w, h, comps, precision


def _skip_entropy_coded(read: Reader, pos: int, name: str) -> int:
    """Offset of the first marker at or after `pos` in a scan's entropy-coded data."""
    while True:
        chunk = read(pos, _READ_CHUNK)
        if len(chunk) < 2:
            raise _truncated_error(name, "jpeg")
        m = _NEXT_MARKER.search(chunk)
        if m is not None:
            return pos + m.start()
        pos += len(chunk) - 1  # a marker may straddle two chunks


# ImageWidth, ImageLength, BitsPerSample, SamplesPerPixel, RowsPerStrip, TileWidth, TileLength
_TIFF_SIZE_TAGS = frozenset((256, 257, 258, 277, 278, 322, 323))
_TIFF_INT_TYPES = {1: "B", 3: "H", 4: "I", 16: "Q"}  # BYTE, SHORT, LONG, LONG8 (BigTIFF)


def _tiff_header(read: Reader, size: int, name: str) -> ImageHeader:
    """The first IFD (the page OpenCV decodes): size, samples, bits and tile or strip size."""
    order = "<" if read(0, 2) == b"II" else ">"
    (version,) = _unpack(order + "H", read, 2, name, "tiff")
    big = version == 43
    if big:
        off_size, _zero, ifd = _unpack(order + "HHQ", read, 4, name, "tiff")
        if off_size != 8:
            raise _damaged(name, "tiff", "bad BigTIFF header")
        count_fmt, entry_size, value_at = order + "Q", 20, 12
    else:
        (ifd,) = _unpack(order + "I", read, 4, name, "tiff")
        count_fmt, entry_size, value_at = order + "H", 12, 8
    if ifd < 8 or ifd >= size:
        raise _damaged(name, "tiff", "no image directory")
    (n_tags,) = _unpack(count_fmt, read, ifd, name, "tiff")
    if n_tags == 0 or n_tags > MAX_TIFF_TAGS:
        raise _damaged(name, "tiff", f"{n_tags} tags in the image directory")
    first = ifd + struct.calcsize(count_fmt)
    field = 8 if big else 4  # bytes of an entry's value field; longer values sit elsewhere
    tags: dict[int, int] = {}
    for i in range(n_tags):
        e = first + i * entry_size
        tag, typ = _unpack(order + "HH", read, e, name, "tiff")
        if tag not in _TIFF_SIZE_TAGS or typ not in _TIFF_INT_TYPES:
            continue
        fmt = _TIFF_INT_TYPES[typ]
        (count,) = _unpack(order + ("Q" if big else "I"), read, e + 4, name, "tiff")
        at = e + value_at
        if count * struct.calcsize(fmt) > field:  # the values sit at the offset given here
            (at,) = _unpack(order + ("Q" if big else "I"), read, at, name, "tiff")
        (tags[tag],) = _unpack(order + fmt, read, at, name, "tiff")
    w, h = tags.get(256, 0), tags.get(257, 0)  # ImageWidth, ImageLength
    if w == 0 or h == 0:
        raise _damaged(name, "tiff", "no image size")
    _check_budget(name, w, h)
    bits = tags.get(258, 1)  # BitsPerSample (first sample's)
    spp = tags.get(277, 1)  # SamplesPerPixel
    if bits not in (1, 2, 4, 8, 16, 32, 64) or not 1 <= spp <= 4:
        raise BadInputError(
            "unsupported_image",
            f"{name} is a TIFF with {spp} samples of {bits} bits per pixel",
            "save the scan as 8-bit grey or colour (JPEG, PNG or TIFF)",
        )
    if 322 in tags or 323 in tags:  # tiled: OpenCV allocates one tile at a time
        block = tags.get(322, 0) * tags.get(323, 0)
        if block == 0:
            raise _damaged(name, "tiff", "bad tile size")
    else:  # stripped: one strip at a time, RowsPerStrip clamped to the height
        block = w * min(h, tags.get(278, h) or h)
    if block * spp * max(1, bits // 8) > MAX_DECODED_BYTES:
        raise BadInputError(
            "image_too_large",
            f"{name} is a TIFF whose tiles or strips are too large to decode here "
            f"({block / 1e6:.0f} MP each)",
            "save the scan again as an ordinary JPEG, PNG or TIFF",
        )
    return ImageHeader("tiff", w, h, spp, max(1, bits // 8), size, size)


def _webp_header(read: Reader, size: int, name: str) -> ImageHeader:
    """RIFF size within the file; canvas size from the VP8X, VP8 or VP8L chunk."""
    (riff_size,) = _unpack("<I", read, 4, name, "webp")
    if 8 + riff_size > size:
        raise _truncated_error(name, "webp")
    end = min(size, 8 + riff_size + (riff_size & 1))  # with its pad byte, when there is one
    fourcc, clen = _unpack("<4sI", read, 12, name, "webp")
    if 20 + clen > size:
        raise _truncated_error(name, "webp")
    d = read(20, 30)
    if fourcc == b"VP8X" and len(d) >= 10:
        w = 1 + int.from_bytes(d[4:7], "little")
        h = 1 + int.from_bytes(d[7:10], "little")
        _check_budget(name, w, h)
        return ImageHeader("webp", w, h, 4, 1, size, end)
    if fourcc == b"VP8 " and len(d) >= 10 and d[3:6] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", d[6:10])
        w, h = w & 0x3FFF, h & 0x3FFF
    elif fourcc == b"VP8L" and len(d) >= 5 and d[0] == 0x2F:
        bits = int.from_bytes(d[1:5], "little")
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        raise _damaged(name, "webp", "no VP8, VP8L or VP8X chunk")
    if w == 0 or h == 0:
        raise _damaged(name, "webp", "bad image size")
    _check_budget(name, w, h)
    return ImageHeader("webp", w, h, 4 if fourcc == b"VP8L" else 3, 1, size, end)


def _bmp_header(read: Reader, size: int, name: str) -> ImageHeader:
    """BITMAPINFOHEADER (or the old core header): size, bit depth, and, uncompressed, that the
    pixel rows it declares are in the file."""
    (pix_off,) = _unpack("<I", read, 10, name, "bmp")
    (dib,) = _unpack("<I", read, 14, name, "bmp")
    if dib == 12:
        w, h, _planes, bpp = _unpack("<HHHH", read, 18, name, "bmp")
        compression = 0
    elif 16 <= dib <= 124:
        w, h, _planes, bpp, compression = _unpack("<iiHHI", read, 18, name, "bmp")
    else:
        raise _damaged(name, "bmp", "unknown header")
    h = abs(h)
    if w <= 0 or h == 0 or bpp not in (1, 4, 8, 16, 24, 32):
        raise _damaged(name, "bmp", "bad image size or depth")
    _check_budget(name, w, h)
    if pix_off >= size:
        raise _truncated_error(name, "bmp")
    if compression in (0, 3, 6):
        stride = ((w * bpp + 31) // 32) * 4
        if pix_off + stride * h > size:
            raise _truncated_error(name, "bmp")
    return ImageHeader("bmp", w, h, 4 if bpp == 32 else 3, 1, size, size)


_PARSERS = {
    "png": _png_header,
    "jpeg": _jpeg_header,
    "tiff": _tiff_header,
    "webp": _webp_header,
    "bmp": _bmp_header,
}


def _too_large(name: str, w: int, h: int, what: str = "") -> BadInputError:
    extra = f" of {what}" if what else ""
    return BadInputError(
        "image_too_large",
        f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} MP){extra}, "
        f"more than this device reads ({MAX_PIXELS // 1_000_000} MP)",
        "use a 300 dpi scan or a normal camera photo",
    )


def _check_budget(name: str, w: int, h: int) -> None:
    """Refuse a declared size over MAX_SIDE_PX or MAX_PIXELS (before anything else is read)."""
    if w > MAX_SIDE_PX or h > MAX_SIDE_PX or w * h > MAX_PIXELS:
        raise _too_large(name, w, h)


def read_header(read: Reader, size: int, name: str = "image") -> ImageHeader:
    """Parse and check the header of an image of `size` bytes read through `read(offset, n)`.

    Raises BadInputError (empty, too big a file, unknown format, damaged or truncated header,
    too many pixels or decoded bytes, too small) without decoding anything."""
    if size == 0:
        raise BadInputError(
            "empty_file",
            f"{name} is empty (0 bytes)",
            "copy the photo again; the transfer did not finish",
        )
    if size > MAX_FILE_BYTES:
        raise BadInputError(
            "file_too_large",
            f"{name} is {size / 1e6:.0f} MB, larger than {MAX_FILE_BYTES // 1_000_000} MB",
            "save the scan at 300 dpi or as JPEG",
        )
    kind = sniff_kind(read(0, _HEADER_PROBE))
    if kind == "other":
        raise BadInputError(
            "unreadable_image",
            f"{name} is not an image file this device reads ({_FORMAT_NAMES})",
            f"give a {_FORMAT_NAMES} photo or scan of the ECG printout",
        )
    try:
        hdr = _PARSERS[kind](read, size, name)
    except (struct.error, IndexError, ValueError):
        raise _damaged(name, kind, "unreadable header") from None
    w, h = hdr.width, hdr.height
    _check_budget(name, w, h)
    if hdr.decoded_bytes > MAX_DECODED_BYTES:
        raise _too_large(name, w, h, f"{hdr.channels}x{8 * hdr.bytes_per_sample}-bit samples")
    if min(w, h) < MIN_SIDE_PX:
        raise BadInputError(
            "image_too_small",
            f"{name} is only {w}x{h} pixels",
            "photograph the whole printout at the camera's full resolution",
        )
    return hdr


def check_image_bytes(data: bytes | bytearray | memoryview, name: str = "image") -> ImageHeader:
    """check_image_file for bytes already in memory (a camera frame, an upload)."""
    mv = memoryview(data)
    return read_header(lambda off, n: bytes(mv[off : off + n]), len(mv), name)


# ---- files ------------------------------------------------------------------------------------


def _open_regular(path: str | os.PathLike) -> tuple[int, os.stat_result, str]:
    """Open `path` for reading only if it is (or links to) a regular file: a device, a FIFO or
    a socket is refused from its stat, before open() (a FIFO's open would block, /dev/zero
    never ends), and the opened file is checked again (it may have been swapped meanwhile)."""
    p = Path(path)
    name = p.name or str(p)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise BadInputError(
                "file_missing", f"{p} is a link to a file that does not exist", "copy the file"
            ) from None
        raise BadInputError(
            "file_missing", f"{p} does not exist", "check the file name and path"
        ) from None
    except PermissionError:
        raise BadInputError(
            "permission_denied", f"cannot read {p}: permission denied", "check the file permissions"
        ) from None
    except OSError as exc:
        raise BadInputError(
            "read_error", f"cannot read {p}: {exc.strerror or exc}", "check the file name and path"
        ) from None
    _require_regular(st, p)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
    except PermissionError:
        raise BadInputError(
            "permission_denied", f"cannot read {p}: permission denied", "check the file permissions"
        ) from None
    except OSError as exc:
        raise BadInputError(
            "read_error",
            f"cannot read {p}: {exc.strerror or exc}",
            "check the storage medium and copy the file again",
        ) from None
    try:
        st = os.fstat(fd)
        _require_regular(st, p)
    except BaseException:
        os.close(fd)
        raise
    return fd, st, name


def _require_regular(st: os.stat_result, p: Path) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise BadInputError(
            "not_a_file", f"{p} is a directory", "give the image files, e.g. dir/*.jpg"
        )
    if not stat.S_ISREG(mode):
        what = (
            "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        link = " (through a link)" if p.is_symlink() else ""
        raise BadInputError(
            "not_a_file",
            f"{p} is {what}{link}, not an image file",
            "give a photo or scan saved as a file",
        )


def _fd_reader(fd: int, name: str) -> Reader:
    def read(off: int, n: int) -> bytes:
        try:
            return os.pread(fd, n, off)
        except OSError as exc:
            raise BadInputError(
                "read_error",
                f"cannot read {name}: {exc.strerror or exc}",
                "check the storage medium and copy the file again",
            ) from None

    return read


def check_image_file(path: str | os.PathLike) -> ImageHeader:
    """Check an image file without decoding it: a regular file (no directory, device, FIFO or
    socket, followed through links), at most MAX_FILE_BYTES, a JPEG, PNG, TIFF, WebP or BMP whose
    header is intact, complete and within MAX_PIXELS / MAX_DECODED_BYTES, and at least
    MIN_SIDE_PX a side. Reads only headers (kB), never blocks; raises BadInputError (its `code`
    and message say why) for a file that must not be decoded."""
    fd, st, name = _open_regular(path)
    try:
        return read_header(_fd_reader(fd, name), st.st_size, name)
    finally:
        os.close(fd)


# ---- decoding ---------------------------------------------------------------------------------


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Any decoded image (gray, BGRA, 16-bit, float) -> contiguous uint8 BGR."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        f = img.astype(np.float32)
        hi = float(np.nanmax(f)) if f.size else 1.0
        f = f * (255.0 / hi) if hi > 1.5 else f * 255.0
        img = np.clip(f, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img)


def grey_fill_rows(img: np.ndarray) -> int:
    """How many bottom rows are libjpeg's fill for missing data: exactly mid-grey (128) in every
    channel across the whole width. Read a row at a time from the bottom: a whole-image
    comparison would allocate as much again as the decoded photo."""
    flat = img.reshape(img.shape[0], -1)
    n = 0
    while n < flat.shape[0] and np.all(flat[flat.shape[0] - 1 - n] == 128):
        n += 1
    return n


# What the decoders print about a file (collected by edge.nativelog, not shown to the user).
_DECODER_PREFIXES = ("Corrupt JPEG data", "Premature end of JPEG", "libpng ", "Invalid SOS", "TIFF")
_JPEG_DATA_MISSING = ("premature end of data segment", "Premature end of JPEG file")


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image bytes (JPEG/PNG/TIFF/WebP/BMP) to BGR uint8, checking the header first."""
    hdr = check_image_bytes(data, name)
    buf = np.frombuffer(data, dtype=np.uint8, count=hdr.image_bytes)
    try:
        with collect_native_stderr(_DECODER_PREFIXES) as messages:
            img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
            if img is None:
                img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:  # OpenCV's own limits (OPENCV_IO_MAX_IMAGE_PIXELS): the second line
        raise _damaged(name, hdr.kind, "OpenCV refused to decode it") from None
    if img is None or img.size == 0:
        raise _damaged(name, hdr.kind, "it cannot be decoded")
    h, w = img.shape[:2]
    if h * w > MAX_PIXELS:  # the header lied (cannot happen past the checks; kept as a guard)
        raise _too_large(name, w, h)
    if min(h, w) < MIN_SIDE_PX:
        raise BadInputError(
            "image_too_small",
            f"{name} is only {w}x{h} pixels",
            "photograph the whole printout at the camera's full resolution",
        )
    if hdr.kind == "jpeg" and (
        any(m in line for line in messages for m in _JPEG_DATA_MISSING)
        or grey_fill_rows(img) >= GREY_FILL_MIN_ROWS
    ):
        raise BadInputError(
            "truncated_file",
            f"{name} is truncated (part of the JPEG image data is missing)",
            "copy or take the photo again",
        )
    return to_bgr8(img)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read and validate an image file -> BGR uint8; BadInputError naming the problem otherwise.

    The header is checked (check_image_file's rules) on the opened file before it is read whole
    or decoded."""
    fd, st, name = _open_regular(path)
    try:
        read = _fd_reader(fd, name)
        hdr = read_header(read, st.st_size, name)
        parts, got = [], 0
        while got < hdr.file_bytes:  # a read may return less than asked (signals, some mounts)
            part = read(got, hdr.file_bytes - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        data = b"".join(parts) if len(parts) != 1 else parts[0]
    finally:
        os.close(fd)
    if len(data) != hdr.file_bytes:
        raise BadInputError(
            "read_error",
            f"{name} changed while it was read",
            "wait until the copy has finished and try again",
        )
    return decode_image(data, name)
