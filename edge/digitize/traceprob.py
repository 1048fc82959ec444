"""Per-pixel 'this is ECG trace' probability, pluggable: a classical colour-agnostic estimate or a
learned int8 segmenter (edge.digitize.traceprob_tflite). A trace-probability function takes the
rectified page at WORK_PX_PER_MM (edge.digitize.page) as uint8 BGR HxWx3 and returns float32 HxW
in [0, 1]."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from .numeric import percentile
from .page import WORK_PX_PER_MM

if TYPE_CHECKING:
    from .maps import PageMaps

log = logging.getLogger(__name__)

TraceProbFn = Callable[[np.ndarray], np.ndarray]
MIN_INK_LEVEL = 0.04  # a page whose darkest trace/text level is below this shows no ink


def ink_darkness(rectified_bgr: np.ndarray, px_per_mm: float = WORK_PX_PER_MM) -> np.ndarray:
    """0..1 darkness relative to the local paper, taken from the BRIGHTEST channel: grid lines of
    any colour are bright in at least one channel, dark ink (black, blue, grey pen) is not.
    Lighting gradients and shadows are divided out by a local background estimate (computed at
    quarter resolution: it is smooth by construction)."""
    h, w = rectified_bgr.shape[:2]
    f = 4
    small = cv2.resize(
        rectified_bgr, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA
    )
    k = int(round(3 * px_per_mm / f)) | 1  # wider than any trace line
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    bg = cv2.GaussianBlur(bg, (0, 0), 2 * px_per_mm / f)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    np.maximum(bg, 8, out=bg)
    # max over channels of pixel / background, one channel at a time (a whole-page float copy of
    # every channel would triple the peak memory of a large photo).
    v = np.zeros((h, w), np.float32)
    for c in range(rectified_bgr.shape[2]):
        ratio = rectified_bgr[:, :, c].astype(np.float32)
        ratio /= bg[:, :, c].astype(np.float32)
        np.maximum(v, ratio, out=v)
    del bg, ratio
    np.subtract(1.0, v, out=v)  # in place: the same float32 values as 1.0 - v
    return np.clip(v, 0.0, 1.0, out=v)


def ink_without_grid(rectified_bgr: np.ndarray, px_per_mm: float = WORK_PX_PER_MM) -> np.ndarray:
    """ink_darkness with grid-line residue removed (suppress_grid_lines): what the classical map,
    the faint-pen check and the printed-text reader start from."""
    return suppress_grid_lines(ink_darkness(rectified_bgr, px_per_mm), px_per_mm)


def suppress_grid_lines(
    d: np.ndarray, px_per_mm: float = WORK_PX_PER_MM, tile_mm: float = 40.0, q: float = 25.0
) -> np.ndarray:
    """Remove what remains of straight horizontal/vertical grid lines (grey or black-and-white
    copies) by subtracting, tile by tile, a low percentile along each pixel row and column: grid
    lines fill their whole row/column, a trace only a small part of it."""
    h, w = d.shape
    t = max(16, int(tile_mm * px_per_mm))
    # Levels are kept as one vector per tile (a row level is constant across its tile's columns,
    # a column level down its tile's rows) and subtracted block by block: whole-page level maps
    # would cost three page-sized float64 arrays. The arithmetic is that of whole-page maps (the
    # tile level rounded to float32, then the float64 maximum with the whole-width level).
    whole_rows = percentile(d[:, ::4], q, axis=1)
    whole_cols = percentile(d[::4, :], q, axis=0)
    row_levels = [
        (x0, x1, np.maximum(percentile(d[:, x0:x1:3], q, axis=1).astype(d.dtype), whole_rows))
        for x0, x1 in _tiles(w, t)
    ]
    col_levels = [
        (y0, y1, np.maximum(percentile(d[y0:y1:3, :], q, axis=0).astype(d.dtype), whole_cols))
        for y0, y1 in _tiles(h, t)
    ]
    del whole_rows, whole_cols
    # Whole-width/height levels too: tiles that straddle a margin without grid see too little of it.
    out = d.copy()
    for y0, y1, cols in col_levels:
        for x0, x1, rows in row_levels:
            out[y0:y1, x0:x1] -= np.maximum(rows[y0:y1, None], cols[None, x0:x1])
    return np.clip(out, 0.0, 1.0, out=out)


def _tiles(n: int, t: int) -> list[tuple[int, int]]:
    """(start, end) of tiles of about `t` covering 0..n, the last one taking a short remainder."""
    out = []
    for a in range(0, n, t):
        b = min(n, a + t) if n - (a + t) > t // 2 else n
        out.append((a, b))
        if b == n:
            break
    return out


def ink_level(d: np.ndarray, middle_band: bool = False) -> float:
    """The darkest pixel of most columns is on a trace or on text: its median over the columns,
    of the whole page or of its middle band (20-85 % of the height), which leaves out the header
    and footer text; where the band's is much lower, the pen is fainter than the printed text."""
    h = d.shape[0]
    rows = d[int(0.2 * h) : int(0.85 * h)] if middle_band else d
    return float(np.median(rows.max(axis=0)))


def pen_fainter_than_text(rectified_bgr: np.ndarray) -> bool:
    """Traces drawn much fainter (a grey or worn pen, faded thermal paper) than the printed text."""
    from .maps import PageMaps

    return PageMaps(rectified_bgr).pen_fainter_than_text


def classical_trace_probability(
    rectified_bgr: np.ndarray, *, level_from_traces: bool = False
) -> np.ndarray:
    """Classical estimate: brightest-channel darkness, grid-line suppression, then a soft threshold
    between the paper/grid level and the ink level found on this page (with `level_from_traces`,
    the level of the middle band where the traces are: for a pen much fainter than the text)."""
    return classical_from_ink(ink_without_grid(rectified_bgr), level_from_traces=level_from_traces)


def classical_from_ink(d: np.ndarray, *, level_from_traces: bool = False) -> np.ndarray:
    """classical_trace_probability from the page's ink_without_grid map `d` (a new array)."""
    # Ink level: the darkest pixel of most columns is on a trace (or text). Paper/grid residue
    # level: a high percentile of all pixels (traces cover only a few percent of the page).
    level = ink_level(d, middle_band=level_from_traces)
    if level < MIN_INK_LEVEL:
        return np.zeros(d.shape, np.float32)
    residue = float(percentile(d, 90))
    lo = min(max(MIN_INK_LEVEL, 1.5 * residue), 0.45 * level)
    hi = lo + 0.45 * (level - lo)
    p = d - lo  # divided and clipped in place: one page-sized array, not four
    p /= max(hi - lo, 1e-3)
    return np.clip(p, 0.0, 1.0, out=p).astype(np.float32, copy=False)


def faint_pen_trace_probability(rectified_bgr: np.ndarray) -> np.ndarray:
    """The classical estimate scaled to the traces' own ink level (see pen_fainter_than_text)."""
    return classical_trace_probability(rectified_bgr, level_from_traces=True)


@lru_cache(maxsize=1)
def _learned() -> TraceProbFn:
    """The int8 segmenter as a trace-probability function, loaded (and sha256-checked) once per
    process; a failure is not cached, so installing the model later takes effect."""
    from ..models import load_model
    from .traceprob_tflite import make_tflite_trace_probability  # toolchain engineer's module

    return make_tflite_trace_probability(load_model("segmenter"))


def fused_trace_probability(
    rectified_bgr: np.ndarray, learned_map: np.ndarray | None = None, faint: bool = False
) -> np.ndarray:
    """Geometric mean of the classical estimate and the learned segmenter: a pixel is trace only
    where both agree. The segmenter vetoes what merely looks dark (handwriting, shadow edges,
    stains, grid residue); the classical estimate keeps the ink's own sharp profile, which the
    segmenter's smoother map lacks (on clean prints the segmenter alone reads worse).
    `learned_map`: the segmenter's map of this page when already computed (one per page);
    `faint`: the classical half with its ink level set by the traces (a pen fainter than the text)."""
    c = classical_trace_probability(rectified_bgr, level_from_traces=faint)
    return fuse(c, _learned()(rectified_bgr) if learned_map is None else learned_map)


def fuse(classical: np.ndarray, learned_map: np.ndarray) -> np.ndarray:
    """The geometric mean of a classical map (combined in place) and the segmenter's map."""
    classical *= learned_map
    return np.sqrt(classical, out=classical)


def learned_or_none() -> TraceProbFn | None:
    """The segmenter's trace-probability function when it is installed, loadable and recorded as
    helping (learned_preferred), else None: what "auto" may use besides the classical estimate."""
    if not learned_preferred():
        return None
    try:
        return _learned()
    except Exception as exc:  # no model installed, no runtime: the classical stage still works
        log.debug("learned trace model unavailable (%s); classical only", exc)
        return None


def learned_preferred() -> bool:
    """ "auto" takes the installed segmenter only when its manifest entry records that it digitizes
    at least as well as the classical stage (metrics.digitizer_snr_gain_db >= 0, measured with
    `ecg-convert evaluate-digitizer --trace-model learned` vs `classical`): a segmenter that is
    merely installed must not silently make every record worse."""
    try:
        from ..models import find_entry

        metrics = find_entry("segmenter").raw.get("metrics") or {}
    except Exception:
        return False
    gain = metrics.get("digitizer_snr_gain_db")
    try:
        return gain is not None and float(gain) >= 0.0
    except (TypeError, ValueError):
        return False


def get_trace_probability(kind: str | TraceProbFn | None = "auto") -> tuple[TraceProbFn, str]:
    """Return (function, name) of the trace stage of a page's readings. "auto" and "classical"
    read with the classical estimate (digitize() then switches "auto" to the fused map for a
    camera photo when learned_or_none() offers a segmenter); "learned" reads with the segmenter
    alone and "fused" with fused_trace_probability, both raising ModelError/ImportError if it is
    missing."""
    if callable(kind):
        return kind, getattr(kind, "__name__", "custom")
    kind = kind or "auto"
    if kind in ("auto", "classical"):
        return classical_trace_probability, "classical"
    if kind == "learned":
        return _learned(), "learned"
    if kind == "fused":
        _learned()
        return fused_trace_probability, "fused"
    raise ValueError(f"unknown trace model {kind!r}; choose auto, classical, learned or fused")


MapFn = Callable[["PageMaps"], np.ndarray]  # a trace map computed from a page's maps


@dataclass
class TraceStages:
    """The trace maps a page's readings may use: `main` (named `name`) for the first reading;
    `faint` for a pen much fainter than the printed text (None: that reading is not tried);
    `segmenter` the segmenter's map alone (None: not installed, or not a camera photo)."""

    main: MapFn
    name: str
    faint: MapFn | None = None
    segmenter: MapFn | None = None


def _classical(maps: PageMaps) -> np.ndarray:
    return classical_from_ink(maps.ink_without_grid)


def _classical_faint(maps: PageMaps) -> np.ndarray:
    return classical_from_ink(maps.ink_without_grid, level_from_traces=True)


def trace_stages(kind: str | TraceProbFn | None = "auto") -> TraceStages:
    """The trace stages `kind` names (see get_trace_probability), before the page is known: an
    unknown name, or a missing segmenter for "learned" and "fused", fails before any work."""
    if callable(kind):
        fn = kind
        return TraceStages(lambda maps: fn(maps.image), getattr(kind, "__name__", "custom"))
    kind = kind or "auto"
    if kind in ("auto", "classical"):
        return TraceStages(_classical, "classical", faint=_classical_faint)
    if kind == "learned":
        learned = _learned()
        return TraceStages(lambda maps: learned(maps.image), "learned")
    if kind == "fused":
        learned = _learned()
        return TraceStages(
            lambda maps: fuse(classical_from_ink(maps.ink_without_grid), learned(maps.image)),
            "fused",
        )
    raise ValueError(f"unknown trace model {kind!r}; choose auto, classical, learned or fused")


class SegmenterMap:
    """The segmenter's map of one page, computed on first use: every reading of a page shares
    it, and it is always computed on the unsharpened page it was trained on."""

    def __init__(self, learned: TraceProbFn, image: np.ndarray) -> None:
        self._learned = learned
        self._image = image

    @cached_property
    def map(self) -> np.ndarray:
        return np.asarray(self._learned(self._image), np.float32)


def camera_photo_stages(learned: TraceProbFn, image: np.ndarray) -> TraceStages:
    """ "auto" for a camera photo with a segmenter installed: the fused map (the segmenter vetoes
    dark marks that are not trace: handwriting, shadow edges), its faint-pen variant, and the
    segmenter's map alone (ink the classical estimate cannot see against the page)."""
    seg = SegmenterMap(learned, image)
    return TraceStages(
        lambda maps: fuse(classical_from_ink(maps.ink_without_grid), seg.map),
        "fused",
        faint=lambda maps: fuse(
            classical_from_ink(maps.ink_without_grid, level_from_traces=True), seg.map
        ),
        segmenter=lambda maps: seg.map.copy(),  # callers may modify the map they are given
    )
