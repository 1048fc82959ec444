"""Render a 12-lead signal as a printed ECG page with exact ground truth (signals as printed,
trace mask, lead boxes and baselines), then optionally turn it into a scan or a phone photo.

Traces are drawn anti-aliased with 1/16-px fixed-point coordinates, so the centre of the ink at
column x is the printed signal value there, to well under a pixel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from edge.layouts import LEAD_NAMES, get_layout

from .geometry import PageGeometry, page_geometry
from .grid import render_grid
from .mask import ONE as _ONE
from .mask import SHIFT as _SHIFT
from .mask import draw_mask, fixed
from .style import PageStyle, random_style, validate_style
from .text import FONT_IDS, draw_header_footer, put_text

MODES = ("clean", "scan", "photo")


@dataclass
class RenderedPage:
    """A rendered page: `image` BGR uint8, `truth` (n, 12) mV NaN where not printed, `mask` uint8
    (255 on visible trace ink, calibration pulses included, in the coordinates of `image`; not
    labels, separators, grid or handwriting), `meta` JSON-serialisable description."""

    image: np.ndarray
    truth: np.ndarray
    mask: np.ndarray
    meta: dict


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of consecutive True values."""
    if not valid.any():
        return []
    d = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _trace_polylines(
    signals: np.ndarray, fs: float, geo: PageGeometry, style: PageStyle, truth: np.ndarray
) -> list[np.ndarray]:
    """Polylines (float px) of every printed segment; fills `truth` with the printed samples."""
    n = signals.shape[0]
    px_per_s = style.speed_mm_s * geo.px_per_mm
    px_per_mv = style.gain_mm_mv * geo.px_per_mm
    lines = []
    for seg in geo.segments:
        j = LEAD_NAMES.index(seg.lead)
        i0 = int(np.ceil(seg.t0_s * fs - 1e-9))
        i1 = min(n, int(np.ceil(seg.t1_s * fs - 1e-9)))
        if i1 <= i0:
            continue
        v = signals[i0:i1, j]
        valid = np.isfinite(v)
        truth[i0:i1, j] = np.where(valid, v, truth[i0:i1, j])
        t = np.arange(i0, i1) / fs
        x = seg.x0_px + (t - seg.t0_s) * px_per_s
        y = seg.baseline_y - np.where(valid, v, 0.0) * px_per_mv
        for a, b in _runs(valid):
            pts = np.stack([x[a:b], y[a:b]], 1)
            if len(pts) == 1:
                pts = np.vstack([pts, pts])
            lines.append(pts)
    return lines


def _calibration_polylines(geo: PageGeometry) -> list[np.ndarray]:
    out = []
    for c in geo.calibration:
        b, top = c["baseline_y"], c["top_y"]
        pts = np.array(
            [
                [c["x_start"], b],
                [c["x_rise"], b],
                [c["x_rise"], top],
                [c["x_fall"], top],
                [c["x_fall"], b],
                [c["x_end"], b],
            ],
            np.float64,
        )
        out.append(pts)
    return out


def _trace_thickness(style: PageStyle, k: float) -> int:
    # OpenCV's anti-aliased lines come out about one pixel wider than `thickness` (for thickness >= 2)
    return max(1, int(round(style.trace_width_mm * k - 1.0)))


def _fade(img: np.ndarray, amount: float, paper, rng: np.random.Generator) -> dict:
    """Blotchy fading towards the paper colour (old thermal paper)."""
    h, w = img.shape[:2]
    small = rng.random((6, 9)).astype(np.float32)
    f = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    f = np.clip(f, 0, 1) * np.float32(amount)
    paper_img = np.empty_like(img)
    paper_img[:] = paper
    img[:] = cv2.blendLinear(img, paper_img, 1 - f, f)
    return {"fade_amount": amount}


def render_flat(
    signals: np.ndarray, fs: float, layout: str, style: PageStyle
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, list[np.ndarray]]:
    """Render the flat (undistorted) page: (image, truth, mask, meta without distortion, trace
    polylines in flat px, calibration pulses included)."""
    lay = get_layout(layout)
    validate_style(style)
    sig = np.asarray(signals, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[1] != 12:
        raise ValueError(
            f"signals must be (n_samples, 12) in {'/'.join(LEAD_NAMES)} order, got {sig.shape}"
        )
    if sig.shape[0] == 0:
        raise ValueError("signals are empty (0 samples)")
    if not fs > 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    geo = page_geometry(lay, style)
    k = geo.px_per_mm
    colours = style.colours()
    img = render_grid(
        geo.width_px,
        geo.height_px,
        k,
        geo.grid_rect_px,
        colours,
        minor_w_mm=style.minor_width_mm,
        major_w_mm=style.major_width_mm,
        dotted=style.dotted_minor,
        dot_mm=style.dot_size_mm,
        draw_grid=style.grid != "none",
    )
    truth = np.full(sig.shape, np.nan)
    lines = _trace_polylines(sig, fs, geo, style, truth) + _calibration_polylines(geo)
    th = _trace_thickness(style, k)
    mask = draw_mask((geo.height_px, geo.width_px), lines, th)
    cv2.polylines(
        img, [fixed(ln) for ln in lines], False, colours["trace"], th, cv2.LINE_AA, _SHIFT
    )
    # separators between segments
    sep = []
    for seg in geo.segments:
        if seg.col == 0:
            continue
        x = seg.x0_px
        if style.separators == "tick":
            y0, y1 = seg.baseline_y - 2.5 * k, seg.baseline_y + 2.5 * k
        elif style.separators == "line":
            y0, y1 = seg.box[1] + 0.1 * geo.row_pitch_px, seg.box[3] - 0.1 * geo.row_pitch_px
        else:
            continue
        cv2.line(
            img,
            (int(round(x * _ONE)), int(round(y0 * _ONE))),
            (int(round(x * _ONE)), int(round(y1 * _ONE))),
            colours["trace"],
            max(1, th - 1),
            cv2.LINE_AA,
            _SHIFT,
        )
        sep.append({"x": float(x), "y0": float(y0), "y1": float(y1)})
    trng = np.random.default_rng(style.text_seed)
    labels = []
    if style.labels:
        lh = style.label_height_mm * k
        font = FONT_IDS[style.font]
        for seg in geo.segments:
            if style.label_position == "above":
                y = max(seg.box[1] + lh * 1.3, seg.baseline_y - 0.28 * geo.row_pitch_px)
            else:
                y = min(seg.box[3] - lh * 0.3, seg.baseline_y + 0.28 * geo.row_pitch_px + lh)
            x = seg.x0_px + 1.0 * k
            labels.append(
                {
                    "text": seg.lead,
                    "row": seg.row,
                    "col": seg.col,
                    "box": put_text(img, seg.lead, x, y, lh, style.text_bgr, font=font),
                }
            )
    texts = draw_header_footer(
        img,
        trng,
        k,
        geo.width_px,
        geo.block_rect_px,
        style.header_mm,
        style.footer_mm,
        style.speed_mm_s,
        style.gain_mm_mv,
        style.text_bgr,
        style.header,
        style.footer,
        font=FONT_IDS[style.font],
        interpretation=style.interpretation,
    )
    fade = _fade(img, style.faded, colours["paper"], trng) if style.faded > 0 else None
    leads: dict[str, list] = {}
    for seg in geo.segments:
        leads.setdefault(seg.lead, []).append(seg.to_dict())
    meta = {
        "fs": float(fs),
        "n_samples": int(sig.shape[0]),
        "lead_names": list(LEAD_NAMES),
        "px_per_mm": k,
        "dpi": style.dpi,
        "layout": lay.name,
        "speed_mm_s": style.speed_mm_s,
        "gain_mm_mv": style.gain_mm_mv,
        "page_mm": list(geo.page_mm),
        "page_px": [geo.width_px, geo.height_px],
        "grid_rect_px": [float(v) for v in geo.grid_rect_px],
        "block_rect_px": [float(v) for v in geo.block_rect_px],
        "printed_seconds": geo.printed_seconds,
        "row_pitch_px": geo.row_pitch_px,
        "trace_thickness_px": th,
        "leads": leads,
        "calibration": geo.calibration,
        "separators": sep,
        "labels": labels,
        "text": texts,
        "fade": fade,
        "style": style.to_dict(),
        "coordinates": "flat page pixels, pixel centres at integers; y = baseline_y - mV * gain_mm_mv * px_per_mm",
    }
    return img, truth, mask, meta, lines


DERIVED_DISTORTION_KEYS = ("mode", "homography", "image_size", "homography_exact")


def remake_page(signals: np.ndarray, fs: float, meta: dict) -> RenderedPage:
    """Re-render a page from its recorded `meta` alone (style and every distortion parameter),
    independent of how parameters are sampled from seeds."""
    dist = {
        k: v for k, v in (meta.get("distortion") or {}).items() if k not in DERIVED_DISTORTION_KEYS
    }
    size = tuple(meta["distortion"]["image_size"]) if meta.get("mode") == "photo" else None
    return render_page(
        signals,
        fs,
        layout=meta["layout"],
        mode=meta.get("mode", "clean"),
        seed=meta.get("seed", 0),
        style=PageStyle.from_dict(meta["style"]),
        photo_size=size,
        distortion=dist if meta.get("mode", "clean") != "clean" else None,
    )


def render_page(
    signals: np.ndarray,
    fs: float,
    *,
    layout: str = "3x4+1",
    mode: str = "clean",
    seed: int = 0,
    style: PageStyle | None = None,
    randomize: bool = False,
    photo_size: tuple[int, int] | None = None,
    distortion: dict | None = None,
    **style_overrides,
) -> RenderedPage:
    """Render `signals` ((n, 12) mV, LEAD_NAMES order, at `fs`) as a page.

    `mode` is clean, scan or photo. Style is the canonical look unless `randomize` (drawn from
    `seed`) or `style` is given; keyword arguments (dpi=, grid=, speed_mm_s=, ...) override fields.
    `photo_size` (w, h) sets the camera frame for photos (default 3264x2448, 8 MP); `distortion`
    overrides individual scan/photo parameters. Same arguments -> bit-identical page."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if style is None:
        style = (
            random_style(np.random.default_rng([seed, 0]))
            if randomize
            else PageStyle(text_seed=int(seed))
        )
    unknown = set(style_overrides) - {f.name for f in dataclasses.fields(PageStyle)}
    if unknown:
        raise TypeError(f"unknown style option(s): {', '.join(sorted(unknown))}")
    style = dataclasses.replace(style, **style_overrides)
    if randomize and mode == "photo" and "dpi" not in style_overrides:
        # a random printer resolution must not make the photo blurrier than its camera: render the
        # flat page at least as finely as the page can appear in the frame
        from .photo import DEFAULT_PHOTO_SIZE
        from .style import PAGE_SIZES_MM

        frame_w = (photo_size or DEFAULT_PHOTO_SIZE)[0]
        needed = 25.4 * 0.95 * frame_w / PAGE_SIZES_MM.get(style.page, (297.0, 210.0))[0]
        style = dataclasses.replace(style, dpi=float(max(style.dpi, min(300.0, round(needed)))))
    img, truth, mask, meta, lines = render_flat(signals, fs, layout, style)
    meta["seed"] = int(seed)
    meta["mode"] = mode
    meta["randomized_style"] = bool(randomize)
    h, w = img.shape[:2]
    dist: dict = {"mode": mode, "homography": np.eye(3).tolist(), "image_size": [w, h]}
    if mode != "clean":
        drng = np.random.default_rng([seed, 1])
        if mode == "scan":
            from .scan import scan_distort

            img, mask, dist = scan_distort(img, lines, drng, meta, overrides=distortion or {})
        else:
            from .photo import photo_distort

            img, mask, dist = photo_distort(
                img, lines, drng, meta, size=photo_size, overrides=distortion or {}
            )
    meta["distortion"] = dist
    meta["image_size"] = [int(img.shape[1]), int(img.shape[0])]
    return RenderedPage(img, truth, mask, meta)
