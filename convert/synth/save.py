"""Write a rendered page and its ground truth beside each other: page.png (or .jpg), page.hea/.dat
(signals as printed, mV), page.json (meta) and page.mask.png; every file written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2

from edge.atomic import write_file_atomic
from edge.layouts import LEAD_NAMES
from edge.wfdb_io import write_record

from .render import RenderedPage


def encode_image(image, suffix: str, jpeg_quality: int = 92) -> bytes:
    """Encode BGR/grey `image` as PNG or JPEG bytes by file suffix."""
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    elif suffix == ".png":
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        raise ValueError(f"unsupported image type {suffix!r}; use .png or .jpg")
    if not ok:
        raise ValueError(f"could not encode image as {suffix}")
    return buf.tobytes()


def save_page(
    page: RenderedPage, out: str | os.PathLike, jpeg_quality: int = 92
) -> dict[str, Path]:
    """Write `out` (.png/.jpg) and its ground truth files with the same stem; return their paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    paths = {
        "image": out,
        "mask": stem.with_suffix(".mask.png"),
        "meta": stem.with_suffix(".json"),
        "header": stem.with_suffix(".hea"),
        "signal": stem.with_suffix(".dat"),
    }
    write_record(
        stem,
        page.truth,
        page.meta["fs"],
        LEAD_NAMES,
        comments=[
            f"rendered page {out.name}: layout {page.meta['layout']}, mode {page.meta['mode']}, "
            f"seed {page.meta['seed']}",
            "NaN = not printed",
        ],
    )
    write_file_atomic(paths["mask"], encode_image(page.mask, ".png"))
    meta = dict(
        page.meta, image_file=out.name, mask_file=paths["mask"].name, truth_record=stem.name
    )
    write_file_atomic(paths["meta"], (json.dumps(meta, indent=1) + "\n").encode())
    write_file_atomic(
        out, encode_image(page.image, out.suffix, jpeg_quality)
    )  # image last: it marks a complete page
    return paths
