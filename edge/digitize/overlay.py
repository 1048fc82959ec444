"""Overlay: the extracted traces drawn over a faded copy of the rectified page, with lead names,
kept with every record so that a person can check what was read."""

from __future__ import annotations

import cv2
import numpy as np

from .extract import RowTrace

_COLOURS = [(0, 160, 0), (200, 0, 200), (0, 140, 255), (255, 120, 0), (0, 0, 230), (160, 100, 0)]


def draw_overlay(
    rectified: np.ndarray,
    traces: list[RowTrace],
    x_ranges: list[tuple[int, int]],
    labels: list[tuple[float, float, str]],
) -> np.ndarray:
    """Extracted traces drawn over a faded copy of the rectified page, with lead names."""
    ov = cv2.addWeighted(rectified, 0.55, np.full_like(rectified, 255), 0.45, 0)
    for r, (tr, (a, b)) in enumerate(zip(traces, x_ranges)):
        col = _COLOURS[r % len(_COLOURS)]
        # The polyline the samples are read from (strokes, apexes), not the column centres:
        # the person checking the overlay must see the QRS heights that went into the record.
        if tr.px is not None and tr.py is not None:
            xs, ys = tr.px, tr.py
        else:
            xs, ys = np.arange(len(tr.y), dtype=np.float64), tr.y
        inside = (xs >= a - 0.5) & (xs <= b + 0.5)
        xs, ys = xs[inside], ys[inside]
        ok = np.isfinite(ys)
        # Runs of finite points, split at NaN gaps; coordinates in 1/4 px (shift=2).
        cut = np.flatnonzero(np.diff(ok.astype(np.int8)) != 0) + 1
        for seg_x, seg_y, seg_ok in zip(np.split(xs, cut), np.split(ys, cut), np.split(ok, cut)):
            if len(seg_x) > 1 and seg_ok[0]:
                pts = np.round(np.stack([seg_x, seg_y], axis=1) * 4).astype(np.int32)
                cv2.polylines(ov, [pts], False, col, 1, cv2.LINE_AA, 2)
    for x, y, name in labels:
        cv2.putText(
            ov,
            name,
            (int(x) + 3, int(y) - 6),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (200, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return ov
