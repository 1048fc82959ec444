"""Turning captured bytes into a validated BGR frame, refusing oversized images before decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BadInputError, EcgEdgeError
from ..imageio import decode_image
from .base import Frame

DEFAULT_MAX_PIXELS = 60_000_000


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding, or None if unknown."""
    from .. import imageio

    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return imageio._png_size(data[:32])
        if data[:3] == b"\xff\xd8\xff":
            return imageio._jpeg_size(data[:65536])
    except Exception:  # a damaged header: let the decoder report it
        return None
    return None


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
        size = header_size(data)
        if size and size[0] * size[1] > max_pixels:
            w, h = size
            raise BadInputError(
                "image_too_large",
                f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} MP)",
                f"use a photo or scan of at most {max_pixels / 1e6:.0f} MP",
            )
        image = decode_image(data, name)
        if image.shape[0] * image.shape[1] > max_pixels:
            h, w = image.shape[:2]
            raise BadInputError(
                "image_too_large",
                f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} MP)",
                f"use a photo or scan of at most {max_pixels / 1e6:.0f} MP",
            )
        return Frame(image=image, name=name, data=data, ext=ext, path=path, **stamp)
    except EcgEdgeError as exc:
        return Frame(image=None, name=name, data=data, ext=ext, path=path, error=exc, **stamp)
