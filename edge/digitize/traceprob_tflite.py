"""Learned trace probability: run the int8 segmenter (edge.models) over the rectified page in
overlapping fixed-size tiles, so memory stays bounded whatever the page size, and stitch the tile
centres back into one float32 HxW map in [0, 1]."""

from __future__ import annotations

from typing import Callable

import numpy as np

from edge.errors import BadInputError


def tile_starts(length: int, tile: int, margin: int) -> list[int]:
    """Start offsets of tiles of `tile` px covering `length` px, overlapping by 2*`margin`."""
    if length <= tile:
        return [0]
    step = max(1, tile - 2 * margin)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def make_tflite_trace_probability(
    model, *, margin: int | None = None, batch: int = 1, scale: float = 1.0 / 255.0
) -> Callable[[np.ndarray], np.ndarray]:
    """Return `fn(rectified_bgr uint8 HxWx3) -> float32 HxW in [0, 1]` backed by `model`
    (an `edge.models.TFLiteModel` with NHWC input (1, T, T, 3) fed BGR * `scale`). One tile per
    invocation by default: as fast as batches of 4 on 2 cores, and 20 MB less peak memory."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] != 3:
        from edge.errors import ModelError

        raise ModelError(
            "model_shape",
            f"segmenter input must be NHWC with 3 channels, got {list(shape)}",
            "install a segmenter converted with ecg-convert quantize",
        )
    th, tw = int(shape[1]), int(shape[2])
    m = margin if margin is not None else max(8, min(th, tw) // 16)
    if 2 * m >= min(th, tw):
        m = min(th, tw) // 4

    def trace_probability(rectified_bgr: np.ndarray) -> np.ndarray:
        img = np.asarray(rectified_bgr)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise BadInputError(
                "image_format",
                f"trace model needs a uint8 HxWx3 BGR image, got {img.dtype} {list(img.shape)}",
                "pass the rectified page",
            )
        h, w = img.shape[:2]
        ph, pw = max(h, th), max(w, tw)
        if (ph, pw) != (h, w):  # page smaller than a tile: pad with its own border
            img = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        out = np.zeros((ph, pw), np.float32)
        ys, xs = tile_starts(ph, th, m), tile_starts(pw, tw, m)
        jobs = [(y, x) for y in ys for x in xs]
        nb = max(1, min(batch, len(jobs)))
        for i in range(0, len(jobs), nb):
            chunk = jobs[i : i + nb]
            xb = np.zeros((nb, th, tw, 3), np.float32)  # fixed batch: no interpreter re-allocation
            for k, (y, x) in enumerate(chunk):
                xb[k] = img[y : y + th, x : x + tw]
            xb *= np.float32(scale)
            yb = model.run(xb).reshape(nb, th, tw)
            for (y, x), p in zip(chunk, yb):
                # keep each tile's centre; tiles at the page edge keep their outer border too
                y0 = 0 if y == 0 else m
                x0 = 0 if x == 0 else m
                y1 = th if y + th >= ph else th - m
                x1 = tw if x + tw >= pw else tw - m
                out[y + y0 : y + y1, x + x0 : x + x1] = p[y0:y1, x0:x1]
        np.clip(out, 0.0, 1.0, out=out)
        return out[:h, :w]

    trace_probability.__name__ = "learned"
    return trace_probability
