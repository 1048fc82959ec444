"""Turning captured bytes into a validated BGR frame, refusing oversized images before decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BadInputError, EcgEdgeError
from ..imageio import ImageHeader, check_image_bytes, decode_image
from .base import Frame

DEFAULT_MAX_PIXELS = 60_000_000


def check_header(data: bytes, name: str, max_pixels: int) -> ImageHeader:
    """The image's header checked before any pixel is decoded (edge.imageio: declared sizes and
    the device's pixel budget for every format), and the source's own pixel limit; raises
    BadInputError saying why a file cannot be used."""
    hdr = check_image_bytes(data, name)
    if hdr.pixels > max_pixels:
        w, h = hdr.width, hdr.height
        raise BadInputError(
            "image_too_large",
            f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} MP)",
            f"use a photo or scan of at most {max_pixels / 1e6:.0f} MP",
        )
    return hdr


def decode_frame(
    data: bytes,
    name: str,
    *,
    ext: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timestamp: float | None = None,
    path: Path | None = None,
) -> Frame:
    """A Frame from encoded bytes; on bad input the frame carries `error` instead of an image."""
    stamp: dict[str, Any] = {} if timestamp is None else {"timestamp": timestamp}
    try:
        check_header(data, name, max_pixels)
        image = decode_image(data, name)
        return Frame(image=image, name=name, data=data, ext=ext, path=path, **stamp)
    except EcgEdgeError as exc:
        return Frame(image=None, name=name, data=data, ext=ext, path=path, error=exc, **stamp)
