"""Loading photos and scans safely: refuse empty, truncated, undecodable and oversized files with a
clear BadInputError before any pixel work, and always return an 8-bit BGR image."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from .errors import BadInputError

MAX_FILE_BYTES = 200 * 1024 * 1024  # bigger than any camera JPEG or 600 dpi A4 scan
MAX_PIXELS = 120_000_000  # ~120 MP: above this a decode could exhaust a small box
MIN_SIDE_PX = 200  # below this no ECG detail survives


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return w, h
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width, height from the first SOF marker of a JPEG (without decoding it)."""
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + seg_len
    return None


def _kind(head: bytes) -> str:
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return "other"


def _truncated(kind: str, data: bytes) -> bool:
    tail = data[-64:].rstrip(b"\x00\r\n ")
    if kind == "jpeg":
        return not tail.endswith(b"\xff\xd9")
    if kind == "png":
        return b"IEND" not in data[-32:]
    return False


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


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image bytes (JPEG/PNG/TIFF/BMP/WebP) to BGR uint8, validating them first."""
    if len(data) == 0:
        raise BadInputError(
            "empty_file",
            f"{name} is empty (0 bytes)",
            "copy the photo again; the transfer did not finish",
        )
    if len(data) > MAX_FILE_BYTES:
        raise BadInputError(
            "file_too_large",
            f"{name} is {len(data) / 1e6:.0f} MB, larger than {MAX_FILE_BYTES // 1_000_000} MB",
            "save the scan at 300 dpi or as JPEG",
        )
    kind = _kind(data[:32])
    size = (
        _png_size(data[:32])
        if kind == "png"
        else _jpeg_size(data[:65536])
        if kind == "jpeg"
        else None
    )
    if size is not None:
        w, h = size
        if w * h > MAX_PIXELS:
            raise BadInputError(
                "image_too_large",
                f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} MP), "
                f"more than {MAX_PIXELS // 1_000_000} MP",
                "use a 300 dpi scan or a normal camera photo",
            )
    if kind in ("jpeg", "png") and _truncated(kind, data):
        raise BadInputError(
            "truncated_file",
            f"{name} is truncated (the {kind.upper()} data ends early)",
            "copy or take the photo again",
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if img is None:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        what = "not an image file" if kind == "other" else f"a damaged {kind.upper()} file"
        raise BadInputError(
            "unreadable_image",
            f"{name} is {what}",
            "give a JPEG, PNG or TIFF photo or scan of the ECG printout",
        )
    h, w = img.shape[:2]
    if h * w > MAX_PIXELS:
        raise BadInputError(
            "image_too_large",
            f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} MP)",
            "use a 300 dpi scan or a normal camera photo",
        )
    if min(h, w) < MIN_SIDE_PX:
        raise BadInputError(
            "image_too_small",
            f"{name} is only {w}x{h} pixels",
            "photograph the whole printout at the camera's full resolution",
        )
    return to_bgr8(img)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read and validate an image file -> BGR uint8; BadInputError naming the problem otherwise."""
    p = Path(path)
    if not p.exists():
        raise BadInputError("file_missing", f"{p} does not exist", "check the file name and path")
    if p.is_dir():
        raise BadInputError(
            "not_a_file", f"{p} is a directory", "give the image files, e.g. dir/*.jpg"
        )
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInputError(
                "file_too_large",
                f"{p.name} is {size / 1e6:.0f} MB, larger than {MAX_FILE_BYTES // 1_000_000} MB",
                "save the scan at 300 dpi or as JPEG",
            )
        data = p.read_bytes()
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
    return decode_image(data, p.name)
