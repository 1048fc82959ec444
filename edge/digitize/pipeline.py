"""The digitizer pipeline: page -> grid -> trace probability -> rows/layout -> DP extraction ->
calibrated 12-lead signals, with the decisions, confidences and timings of every stage."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Callable

import cv2
import numpy as np

from ..errors import BadInputError
from ..interpret.consistency import MIN_READING_SNR_DB, estimated_snr_db, relation_residuals
from ..layouts import LAYOUTS, LEAD_NAMES, get_layout
from . import textcues
from .dewarp import RowRuler, row_levels, row_rulers, slipped_rulers
from .extract import RowTrace, dp_paths, polyline_to_samples, refine_path, smooth_samples
from .grid import grid_darkness
from .layout import (
    STANDARD_GAINS,
    Pulse,
    choose_layout,
    find_pulse,
    find_rows,
    guess_speed,
    layout_for_rows,
    name_rhythm_leads,
    snap,
    top_row_missing,
)
from .page import WORK_PX_PER_MM, RectifiedPage, rectify_page, rotate_half_turn
from .result import DigitizeResult
from .textcues import PrintedScale
from .traceprob import (
    faint_pen_trace_probability,
    forget_page_maps,
    fused_trace_probability,
    get_trace_probability,
    ink_darkness,
    ink_without_grid,
    learned_or_none,
    pen_fainter_than_text,
)

DEFAULT_GAIN = 10.0
SHARP_CRISP = 220.0  # a crisp print (sharpness, bicubic warp): no sharpening
SHARP_SOFT = 150.0  # softer than this (scans, photos): the full unsharp mask
SHARP_BLURRED = 80.0  # a blurred photo (defocus, motion, JPEG): the most trace smoothing
SMOOTH_CRISP_PX = 0.3  # Gaussian sigma (rectified px along the time axis) on a crisp print
SMOOTH_BLURRED_PX = 0.6  # ... and on a blurred photo
SEGMENT_GAP_PX = 1.0  # left out each side of a segment boundary (the connector's column)
UNSHARP_MAX = 1.0
DEFAULT_SPEED = 25.0
UPSIDE_DOWN_INK = (
    0.4  # ink-below-baseline score that turns a page without pulses (upright pages reach ~0.35)
)
SEGMENTER_ALONE_MIN_DB = (
    1.0  # the segmenter-alone reading (the last resort) must agree at least this well
)
OUTPUT_SECONDS = 10.0
STRIP_MM = 250.0  # a standard printed strip: 10 s at 25 mm/s (5 s at 50 mm/s)
STRIP_TOL = 0.04  # a span within this fraction of STRIP_MM is a standard strip
_COLOURS = [(0, 160, 0), (200, 0, 200), (0, 140, 255), (255, 120, 0), (0, 0, 230), (160, 100, 0)]


def _extent(tr: RowTrace, px_per_mm: float) -> tuple[int, int] | None:
    """First and last column of a row's trace: the longest inked stretch (gaps up to 3 mm
    bridged), grown across gaps of up to 12 mm to neighbouring stretches that are themselves
    trace-long (>= 8 mm): glare and fading break a trace, specks beside it are short."""
    idx = np.flatnonzero(np.isfinite(tr.y) & (tr.ink >= 0.3))
    if len(idx) == 0:
        return None
    gap = int(3 * px_per_mm)
    br = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate([[idx[0]], idx[br + 1]])
    ends = np.concatenate([idx[br], [idx[-1]]])
    k = int(np.argmax(ends - starts))
    lo = hi = k
    big_gap, piece = 12 * px_per_mm, 8 * px_per_mm
    while (
        lo > 0 and starts[lo] - ends[lo - 1] <= big_gap and ends[lo - 1] - starts[lo - 1] >= piece
    ):
        lo -= 1
    while (
        hi < len(starts) - 1
        and starts[hi + 1] - ends[hi] <= big_gap
        and ends[hi + 1] - starts[hi + 1] >= piece
    ):
        hi += 1
    return int(starts[lo]), int(ends[hi])


def _overlay(
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


def _resolve_trace_fn(trace_model) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    return get_trace_probability(trace_model if trace_model is not None else "auto")


def digitize(
    image_bgr: np.ndarray,
    *,
    fs: float = 500,
    layout: str | None = None,
    gain: float | None = None,
    speed: float | None = None,
    trace_model=None,
) -> DigitizeResult:
    """Photo or scan (BGR uint8) of an ECG printout -> calibrated 12-lead signals (mV at `fs`, 10 s).

    `layout`, `gain` (mm/mV), `speed` (mm/s) override what is read from the page; `trace_model`
    is "auto" (classical, or fused with the installed segmenter for camera photos) | "classical" |
    "learned" | "fused" or a trace-probability function. Raises BadInputError when the image
    holds no readable ECG."""
    try:
        return _digitize(
            image_bgr, fs=fs, layout=layout, gain=gain, speed=speed, trace_model=trace_model
        )
    finally:
        forget_page_maps()


def _digitize(
    image_bgr: np.ndarray,
    *,
    fs: float,
    layout: str | None,
    gain: float | None,
    speed: float | None,
    trace_model,
) -> DigitizeResult:
    """digitize() without the clean-up of the page maps."""
    timings: dict[str, float] = {}
    warnings: list[str] = []
    if (
        image_bgr is None
        or image_bgr.ndim != 3
        or image_bgr.shape[2] != 3
        or image_bgr.dtype != np.uint8
    ):
        raise BadInputError(
            "bad_image",
            "image must be an 8-bit BGR array (H x W x 3)",
            "load files with edge.imageio.load_image",
        )
    if layout is not None:
        get_layout(layout)  # ValueError for unknown names, before any work
    if gain is not None and not 1 <= gain <= 50:
        raise BadInputError("bad_gain", f"gain {gain} mm/mV is implausible", "use 5, 10 or 20")
    if speed is not None and not 5 <= speed <= 200:
        raise BadInputError("bad_speed", f"speed {speed} mm/s is implausible", "use 25 or 50")
    trace_fn, trace_name = _resolve_trace_fn(trace_model)

    t = time.perf_counter()
    _check_not_blank(image_bgr)
    page = rectify_page(image_bgr)
    timings["page"] = time.perf_counter() - t
    warnings += page.warnings
    sharp = sharpness(page.image)
    if sharp < 10.0 and page.grid.source == "grid":
        raise BadInputError(
            "too_blurry",
            f"the image is too blurred to follow the traces (sharpness {sharp:.0f})",
            "hold the camera still, tap to focus on the paper and take the photo again",
        )
    if sharp < 13.0:
        warnings.append(
            f"the image is soft (sharpness {sharp:.0f}): peaks may be lower than printed"
        )
    alpha = _unsharp_amount(page, sharp)
    # "auto" with a segmenter installed: a camera photo (the page found inside a wider frame, so
    # lit unevenly, shadowed, perhaps written on) is read with the fused map, whose segmenter
    # vetoes dark marks that are not trace; a scan or a flat print keeps the classical map,
    # whose sharper ink profile reads it better (fold 9: photos +1.5 dB; fused on every page,
    # scans -0.6 and clean -0.7). Not each other's rereads: the leads' agreement picked the
    # worse of the two maps as often as the better.
    faint_fn = faint_pen_trace_probability if trace_name == "classical" else None
    seg_fn = None
    learned = learned_or_none() if trace_model in (None, "auto") and page.page_found else None
    if learned is not None:
        (trace_fn, faint_fn, seg_fn), trace_name = _fused_for(page, learned), "fused"
    read = functools.partial(
        _read_page,
        sharp=sharp,
        fs=fs,
        layout=layout,
        gain=gain,
        speed=speed,
        trace_fn=trace_fn,
        trace_name=trace_name,
        text_cache={},
    )
    first_error: BadInputError | None = None
    first_page = _sharpened(page, alpha)
    try:
        res = read(first_page, warnings=list(warnings), timings=dict(timings))
    except BadInputError as exc:
        res, first_error = None, exc
    # Where the reading fails the leads' own laws (Einthoven, Goldberger: true for any ECG,
    # printer or camera), read the page again another way and keep whichever reading the leads
    # agree with more. Sharpening restores the peaks of a soft print but can also join grid
    # residue, text or a neighbouring trace to a faint trace: read it unsharpened. A pen much
    # fainter than the printed text falls under an ink threshold set by the text: read it with
    # the threshold set by the traces.
    others = []
    if alpha > 0:
        others.append(
            (
                "unsharpened",
                lambda: read(page, warnings=list(warnings), timings=dict(timings)),
                -np.inf,
            )
        )
    if faint_fn is not None:
        others.append(
            (
                "faint pen",
                lambda: (
                    read(
                        first_page,
                        warnings=list(warnings),
                        timings=dict(timings),
                        trace_fn=faint_fn,
                    )
                    if pen_fainter_than_text(first_page.image)
                    else None
                ),
                -np.inf,
            )
        )
    if seg_fn is not None:
        # Last, the segmenter's map alone: ink the classical estimate cannot see against the
        # page (a mid-blue pen on a grey grid: its brightest channel is nearly as light as the
        # paper's) leaves no row or only one, and the fused map inherits that.
        # It must show the leads' laws at least roughly, not merely yield rows.
        others.append(
            (
                "segmenter alone",
                lambda: read(
                    page,
                    warnings=list(warnings),
                    timings=dict(timings),
                    trace_fn=seg_fn,
                    trace_name="learned",
                ),
                SEGMENTER_ALONE_MIN_DB,
            )
        )
    first = "sharpened" if alpha > 0 else "first"
    tried: dict[str, float | str | None] = {
        first: first_error.code if res is None else res.details.get("estimated_snr_db")
    }
    kept = first
    t = time.perf_counter()
    for name, again, min_db in others:  # min_db: the least agreement that may replace a reading
        if res is not None and _agreement(res) >= MIN_READING_SNR_DB:
            break
        try:
            alt = again()
        except BadInputError as exc:
            tried[name] = exc.code
            continue
        if alt is None:
            continue
        tried[name] = alt.details.get("estimated_snr_db")
        if _agreement(alt) < min_db:
            continue
        if res is None or _agreement(alt) > _agreement(res):
            res, kept = alt, name
    if len(tried) > 1 and res is not None:
        res.details["reread"] = {"kept": kept, "estimated_snr_db": tried}
        res.timings["reread"] = time.perf_counter() - t
        res.timings["total"] = sum(v for k2, v in res.timings.items() if k2 != "total")
    if res is None:
        assert first_error is not None
        raise first_error
    return res


def _fused_for(page: RectifiedPage, learned) -> tuple[Callable[[np.ndarray], np.ndarray], ...]:
    """The fused trace maps for every reading of `page` (sharpened or not), plain and for a pen
    fainter than the text (see pen_fainter_than_text), and the segmenter's map alone: the
    segmenter runs once, on the unsharpened page it was trained on; only the classical half
    follows the reading."""
    seg: list[np.ndarray] = []

    def seg_map() -> np.ndarray:
        if not seg:
            seg.append(np.asarray(learned(page.image), np.float32))
        return seg[0]

    def fused(img: np.ndarray) -> np.ndarray:
        return fused_trace_probability(img, learned_map=seg_map())

    def fused_faint_pen(img: np.ndarray) -> np.ndarray:
        return fused_trace_probability(img, learned_map=seg_map(), faint=True)

    def segmenter_alone(img: np.ndarray) -> np.ndarray:
        return seg_map().copy()  # callers may modify the map they are given

    return fused, fused_faint_pen, segmenter_alone


def _unsharp_amount(page: RectifiedPage, sharp: float) -> float:
    """How much to sharpen a soft page (0 for a crisp one, and never without a grid: no noise into "ink")."""
    if page.grid.source != "grid":
        return 0.0
    return (
        float(np.clip((SHARP_CRISP - sharp) / (SHARP_CRISP - SHARP_SOFT), 0.0, 1.0)) * UNSHARP_MAX
    )


def _sharpened(page: RectifiedPage, alpha: float) -> RectifiedPage:
    return dataclasses.replace(page, image=unsharp(page.image, alpha)) if alpha > 0 else page


def _agreement(res: DigitizeResult) -> float:
    """The reading's estimated SNR from the limb-lead laws; -inf where it cannot be estimated."""
    v = res.details.get("estimated_snr_db")
    return float(v) if v is not None else float("-inf")


def _printed_scale(
    page: RectifiedPage, centres: list[float], pitch: float, k: float
) -> PrintedScale:
    """Speed and gain printed on the page (edge.digitize.textcues); nothing when the word model
    is not installed."""
    classify = textcues.default_classifier()
    if classify is None:
        return PrintedScale()
    return textcues.read_printed_scale(ink_without_grid(page.image), centres, pitch, k, classify)


def _read_page(
    page: RectifiedPage,
    *,
    sharp: float,
    fs: float,
    layout: str | None,
    gain: float | None,
    speed: float | None,
    trace_fn,
    trace_name: str,
    warnings: list[str],
    timings: dict[str, float],
    text_cache: dict,
) -> DigitizeResult:
    """Rows, traces, layout and calibration of a rectified page -> the digitizer's result.
    `text_cache` carries the printed speed and gain between readings of one image."""
    k = WORK_PX_PER_MM

    t = time.perf_counter()
    prob = np.asarray(trace_fn(page.image), dtype=np.float32)
    timings["traceprob"] = time.perf_counter() - t

    t = time.perf_counter()
    rows = find_rows(prob, k)
    timings["rows"] = time.perf_counter() - t
    traces, extents, pulses, flipped_pulses, dark, t_ext = _trace_rows(page, prob, rows, k)
    # Upside down? Calibration pulses sit at the left and point up; on a turned page they sit at
    # the right and point down. A row's end can pass for one pulse by chance, so a lone turned
    # pulse counts only with a standard shape (1 mV at 5/10/20 mm/mV, 0.2 s wide). Without
    # pulses: ECG deflections point up more often than down, a weak cue that must be clear.
    n_left = sum(p is not None for p in pulses)
    n_flip = len(flipped_pulses)
    if n_left or n_flip:
        turn = n_left < n_flip and (
            n_flip >= 2 or any(_standard_pulse(p, k) for p in flipped_pulses)
        )
    else:
        turn = rows.upside_down_score > UPSIDE_DOWN_INK
    orientation = {
        "pulses_left": n_left,
        "pulses_flipped": n_flip,
        "ink_score": round(float(rows.upside_down_score), 3),
    }
    if turn and len(rows.centres) >= 1:
        page = rotate_half_turn(page)
        prob = np.ascontiguousarray(prob[::-1, ::-1])
        rows = find_rows(prob, k)
        traces, extents, pulses, _, dark, t2 = _trace_rows(page, prob, rows, k)
        t_ext += t2
        warnings.append("page was upside down; turned by 180 degrees")
    timings["extract"] = t_ext
    if not rows.centres:
        if page.grid.source != "grid":
            raise BadInputError(
                "not_an_ecg",
                "no ECG grid and no ECG traces found in the image",
                "photograph an ECG printout, flat, filling most of the frame, in focus",
            )
        raise BadInputError(
            "no_traces",
            "the ECG grid is visible but no traces could be followed",
            "check the photo is sharp and evenly lit, without glare on the traces",
        )
    centres = list(rows.centres)
    want = get_layout(layout).n_rows if layout else None
    if want is not None and len(centres) != want:
        warnings.append(f"layout {layout} expects {want} rows but {len(centres)} were found")
        if len(centres) > want:  # keep the rows with the most regular spacing from the bottom up
            centres = centres[-want:]
    elif want is None and len(centres) in (5, 7):
        # An odd row count next to a standard one: a stray line (a note, a stain edge) taken for
        # a row shows up as a break in the otherwise even spacing; leave it out.
        centres = _drop_stray_row(centres)
        if len(centres) != len(rows.centres):
            warnings.append("a stray line between the rows was ignored")
    if want is None and len(centres) > 7 and len(centres) not in (11, 12, 13):
        # Too many "rows" for a 3- to 6-row page and too few for 12x1: text lines or grid
        # lines joined the traces. The evenly spaced subset of 6, 4 or 3 rows holding the most
        # trace is the page's.
        lengths = {c: (e[1] - e[0]) if e is not None else 0 for c, e in zip(rows.centres, extents)}
        sub = _regular_subset(centres, lengths, k)
        if sub:
            warnings.append(f"{len(centres) - len(sub)} lines that are not trace rows were ignored")
            centres = sub
    if want is None and not layout_for_rows(len(centres)):
        raise BadInputError(
            "layout_unknown",
            f"found {len(centres)} trace rows, which matches no standard layout",
            "give the layout with --layout (3x4, 3x4+1, 3x4+3, 6x2 or 12x1)",
        )

    t = time.perf_counter()
    pitch = rows.pitch if len(centres) > 1 else 0.3 * prob.shape[0]
    if len(centres) != len(rows.centres):
        keep = [rows.centres.index(c) for c in centres]
        traces, extents, pulses = (
            [traces[i] for i in keep],
            [extents[i] for i in keep],
            [pulses[i] for i in keep],
        )
    good = [i for i, e in enumerate(extents) if e is not None and (e[1] - e[0]) > 20 * k]
    if not good:
        raise BadInputError(
            "no_traces",
            "no continuous ECG trace found",
            "photograph the printout flat and in focus",
        )
    found = [p for p in pulses if p is not None]
    x_end = _common_end([extents[i][1] for i in good], k)
    starts = [p.x_fall + 1 for p in found] if found else [extents[i][0] for i in good]
    x_first = float(np.median(starts))
    if not found:
        x_first, x_end = _without_flat_lead(traces, extents, good, x_first, x_end, k, warnings)
    # Weak grid (faded thermal paper, glare, no grid): the standard printed strip is 250 mm long
    # (10 s at 25 mm/s, 5 s at 50 mm/s); when the rows span close to that, let it set the scale.
    kk = k
    span_mm = (x_end - x_first) / k
    # Rulers: millimetres along each row read from the grid beside it (curl, lens distortion).
    gdark = grid_darkness(page.image).astype(np.float64) if page.grid.source == "grid" else None
    rulers = (
        row_rulers(page.image, prob, centres, pitch, k, extents, dark=gdark)
        if gdark is not None
        else [None] * len(centres)
    )
    cols = np.arange(
        prob.shape[1], dtype=np.float64
    )  # rectified columns: where rulers and levels are read
    ia, ib = int(round(x_first)), int(round(x_end))
    ruled = [i for i in good if rulers[i] is not None]
    if ruled:
        # Rows printed together span the same millimetres: a ruler that disagrees slipped.
        spans = {i: float(rulers[i].mm[ib] - rulers[i].mm[ia]) for i in ruled}
        mid = float(np.median(list(spans.values())))
        ruled = [i for i in ruled if abs(spans[i] - mid) <= 0.03 * abs(mid)]
        slipped = slipped_rulers(rulers, ruled, ia, ib, k)
        ruled = [i for i in ruled if i not in slipped]
        rulers = [r if i in ruled else None for i, r in enumerate(rulers)]
    use_rulers = len(ruled) * 2 >= len(good) and len(ruled) > 0
    if use_rulers:
        span_mm = float(np.median([spans[i] for i in ruled]))
        rulers = _borrow_rulers(rulers, centres, ruled)
    off_standard = abs(span_mm / STRIP_MM - 1.0) > STRIP_TOL
    if not use_rulers and (page.grid.confidence < 0.5 or off_standard) and 215.0 < span_mm < 285.0:
        kk = k * span_mm / STRIP_MM
        why = (
            "grid too faint to measure"
            if page.grid.confidence < 0.5
            else "grid scale disagrees with the trace length"
        )
        warnings.append(f"{why}: scale set from the {span_mm:.0f} mm trace span (250 mm assumed)")
    elif page.grid.confidence < 0.5 and _octave_off(
        span_mm, [(p.x_fall - p.x_rise + 1) / k for p in found]
    ):
        # A faint grid whose 1 mm lines vanished can be read at twice or half its period; the
        # trace span and the 0.2 s calibration pulse then both come out an octave off.
        kk = k * span_mm / STRIP_MM
        warnings.append(
            f"grid too faint to measure: its period was read an octave off; scale set from the "
            f"{span_mm:.0f} mm trace span (250 mm assumed)"
        )
    elif page.grid.confidence < 0.5 and not use_rulers and found:
        f = _scale_from_pulse_and_span(span_mm, [p.height_px / k for p in found])
        if f is not None:
            kk = k * f
            warnings.append(
                f"grid too faint to measure: scale set from the calibration pulse and the "
                f"{span_mm:.0f} mm trace span, which agree"
            )
    # What the page prints as its speed and gain (read once per image, whatever the reading).
    if "printed" not in text_cache:
        t = time.perf_counter()
        text_cache["printed"] = (
            _printed_scale(page, centres, float(rows.pitch), k)
            if gain is None or speed is None
            else PrintedScale()
        )
        timings["text"] = time.perf_counter() - t
    printed: PrintedScale = text_cache["printed"]
    # Gain: calibration pulses are 1 mV high; without a pulse, the gain printed on the page.
    if gain is None:
        if found:
            g_meas = float(np.median([p.height_px for p in found])) / kk
            g = snap(g_meas, STANDARD_GAINS, 0.25)
            if g is None:
                if printed.gain_mm_mv is not None:
                    gain_used, gain_src = printed.gain_mm_mv, "printed text"
                else:
                    gain_used, gain_src = DEFAULT_GAIN, "default"
                warnings.append(
                    f"calibration pulse of {g_meas:.1f} mm matches no standard gain; "
                    f"{'read ' if gain_src != 'default' else 'assumed '}{gain_used:g} mm/mV"
                )
            else:
                if abs(g - g_meas) / g > 0.08:
                    warnings.append(
                        f"calibration pulse measured {g_meas:.1f} mm; read as {g:g} mm/mV"
                    )
                gain_used, gain_src = g, "calibration pulse"
        elif printed.gain_mm_mv is not None:
            gain_used, gain_src = printed.gain_mm_mv, "printed text"
            warnings.append(
                f"no calibration pulse found: gain {gain_used:g} mm/mV read from the printed text "
                "(override with --gain)"
            )
        else:
            gain_used, gain_src = DEFAULT_GAIN, "default"
            warnings.append("no calibration pulse found: assumed 10 mm/mV (override with --gain)")
    else:
        gain_used, gain_src = float(gain), "override"
    if speed is not None:
        speed_used, speed_src = float(speed), "override"
    elif printed.speed_mm_s is not None:
        # The device prints the speed it ran at: nothing drawn on the page says it better.
        speed_used, speed_src = printed.speed_mm_s, "printed text"
        if speed_used != DEFAULT_SPEED:
            warnings.append(
                f"paper speed read as {speed_used:g} mm/s ({speed_src}); override with --speed if wrong"
            )
    else:
        widths = [(p.x_fall - p.x_rise + 1) / kk for p in found]
        speed_used, speed_src = guess_speed([traces[i].y for i in good], kk, widths)
        if speed_used != DEFAULT_SPEED:
            warnings.append(
                f"paper speed read as {speed_used:g} mm/s ({speed_src}); override with --speed if wrong"
            )
    # Time axis: rows end together; the printed span is a whole number of half seconds.
    px_per_s = speed_used * kk
    d_raw = (x_end - x_first) / px_per_s if not use_rulers else span_mm * (k / kk) / speed_used
    d_snap = round(d_raw * 2) / 2
    snapped = bool(found and d_snap > 0 and abs(d_raw - d_snap) < 0.25)
    if snapped:
        duration = d_snap
        x_t0 = x_end - (duration - 1.0 / fs) * px_per_s
        if use_rulers:
            # The rulers, not the page scale, say how many px the printed seconds take (a
            # stretched or foreshortened page); where they agree within a pixel, keep the scale.
            back = (duration - 1.0 / fs) * speed_used * (kk / k)
            x_ruled = float(
                np.median(
                    [
                        np.interp(np.interp(x_end, cols, rulers[i].mm) - back, rulers[i].mm, cols)
                        for i in ruled
                    ]
                )
            )
            if abs(x_ruled - x_t0) > 1.0:
                x_t0 = x_ruled
    else:
        duration = d_raw
        x_t0 = x_first
    duration = min(duration, OUTPUT_SECONDS)
    if d_raw > OUTPUT_SECONDS * 1.1:
        warnings.append(
            f"printed span is {d_raw:.1f} s at {speed_used:g} mm/s; only the first 10 s are kept"
        )
    n_out = int(round(OUTPUT_SECONDS * fs))
    tt = np.arange(int(round(duration * fs))) / fs
    xs = x_t0 + tt * px_per_s
    # Every row starts at the same moment, right after its calibration pulse: where a row's
    # pulse ends off the rows' median (perspective, curl), its time origin moves with it.
    row_shift = [
        float(np.clip(p.x_fall + 1 - x_first, -3 * k, 3 * k)) if p is not None else 0.0
        for p in pulses
    ]
    row_xs = []
    for i in range(len(traces)):
        ru = rulers[i] if use_rulers else None
        if ru is None:
            row_xs.append(xs + row_shift[i])
            continue
        mm = ru.mm * (k / kk)
        m0 = np.interp(x_t0 + row_shift[i], cols, mm)
        row_xs.append(np.interp(m0 + tt * speed_used, mm, cols, left=np.nan, right=np.nan))
    row_sigs: list[np.ndarray] = []
    row_raw: list[np.ndarray] = []  # before the low-pass: segments are smoothed on their own
    baselines: list[float] = []
    sigma = trace_smoothing_px(sharp) * fs / px_per_s  # the traces' low-pass, in samples
    mv_per_px = 1.0 / (gain_used * kk)
    # Levels: where the paper tilts or bends, the grid lines (and the baseline) move with it.
    levels = (
        row_levels(page.image, prob, centres, pitch, k, extents, dark=gdark)
        if gdark is not None
        else [None] * len(centres)
    )
    for i, (tr, pl) in enumerate(zip(traces, pulses)):
        rx = row_xs[i]
        yv = polyline_to_samples(tr.px, tr.py, np.nan_to_num(rx, nan=-1e9))
        yv = np.where(np.isfinite(rx), yv, np.nan)
        if levels[i] is not None:
            lv = levels[i]
            ref = np.interp(0.5 * (pl.x_rise + pl.x_fall), cols, lv) if pl is not None else 0.0
            yv = yv - (np.interp(np.nan_to_num(rx), cols, lv) - ref)
        if extents[i] is not None:
            a, b = extents[i]
            if i in good:
                # Printed rows span the common time range: glare or fading that broke this row's
                # ink does not shorten it (where no ink is followed the samples stay NaN).
                a, b = min(a, x_first), max(b, x_end)
            yv = np.where((rx >= a - 1) & (rx <= b + 1), yv, np.nan)
        if pl is not None:
            base = pl.foot_y
        else:
            base = float(np.nanmedian(yv)) if np.isfinite(yv).any() else centres[i]
        baselines.append(base)
        row_raw.append((base - yv) * mv_per_px)
        yv = smooth_samples(yv, sigma)
        row_sigs.append((base - yv) * mv_per_px)
    # Layout and lead names.
    if layout:
        lay_name, lay_conf = layout, 1.0
    else:
        lay_name, lay_conf = choose_layout(len(centres), row_sigs)
    skip = 0  # rows of the layout missing above the first row found
    if not layout and lay_name == "3x4" and top_row_missing(row_sigs, fs):
        lay_name, lay_conf, skip = "3x4+1", 0.6, 1
        warnings.append(
            "the top row (I, aVR, V1, V4) was not found: glare washed it out or it is outside "
            "the photo, so those leads are missing; retake the photo with the whole page in view "
            "and no glare"
        )
    lay = LAYOUTS[lay_name]
    missing = [np.full(len(row_sigs[0]), np.nan)] * skip
    rhythm = name_rhythm_leads(lay, missing + row_sigs, fs) if lay.rhythm else []
    seg_gap = max(1, int(np.ceil(SEGMENT_GAP_PX * fs / px_per_s)))
    all_rows = [*lay.rows, *((r,) for r in rhythm)][skip:]
    out = np.full((n_out, 12), np.nan, np.float64)
    count = np.zeros((n_out, 12), np.int32)
    expected = np.zeros((n_out, 12), bool)
    acc = np.zeros((n_out, 12), np.float64)
    strip = np.full((n_out, 12), np.nan, np.float64)
    n_dur = len(tt)
    labels = []
    lead_ink: dict[str, list[float]] = {n: [] for n in LEAD_NAMES}
    for r, leads in enumerate(all_rows):
        if r >= len(row_sigs):
            break
        sig = row_sigs[r]
        nc = len(leads)
        for c, name in enumerate(leads):
            i0, i1 = int(np.ceil(c * n_dur / nc)), int(np.ceil((c + 1) * n_dur / nc))
            seg = (
                _segment_samples(row_raw[r][i0:i1], c > 0, c < nc - 1, seg_gap, sigma)
                if nc > 1
                else sig[i0:i1]
            )
            j = LEAD_NAMES.index(name)
            ok = np.isfinite(seg)
            acc[i0:i1, j] += np.where(ok, seg, 0.0)
            expected[i0:i1, j] = True
            count[i0:i1, j] += ok
            if nc == 1:
                strip[i0:i1, j] = np.where(ok, seg, strip[i0:i1, j])
            rx = np.nan_to_num(row_xs[r] if r < len(row_xs) else xs, nan=0.0)
            xa, xb = int(rx[i0]) if i0 < n_dur else 0, int(rx[min(i1, n_dur) - 1]) if i1 > i0 else 0
            ink = traces[r].ink[max(0, xa) : max(0, xb) + 1]
            lead_ink[name].append(float(np.mean(ink >= 0.5)) if len(ink) else 0.0)
            labels.append((rx[i0] if i0 < n_dur else x_t0, centres[r] - 0.35 * pitch, name))
    has = count > 0
    out[has] = acc[has] / count[has]
    # A lead printed twice (its 2.5 s segment and the 10 s rhythm strip) is read from the strip
    # where it has ink: on a photographed page the two rows' time axes differ by a few ms, and
    # averaging two slightly shifted copies blurs every QRS.
    s_ok = np.isfinite(strip)
    out[s_ok] = strip[s_ok]
    timings["layout"] = time.perf_counter() - t

    lead_conf = {}
    for j, name in enumerate(LEAD_NAMES):
        e = expected[:, j]
        cov = float(np.isfinite(out[e, j]).mean()) if e.any() else 0.0
        ink = float(np.mean(lead_ink[name])) if lead_ink[name] else 0.0
        lead_conf[name] = round(min(1.0, cov) * ink * (0.6 + 0.4 * page.grid.confidence), 3)
    conf = float(np.mean(list(lead_conf.values()))) * (0.7 + 0.3 * lay_conf)
    if gain_src == "default":
        conf *= 0.8
    if conf < 0.4:
        warnings.append("low confidence: check the overlay before using this record")
    # Truth-free check that holds for any printer or camera: leads printed side by side must obey
    # Einthoven's and Goldberger's laws (edge.interpret.consistency).
    est_snr = estimated_snr_db(relation_residuals(out, float(fs)))
    if est_snr is not None and est_snr < MIN_READING_SNR_DB:
        warnings.append(
            f"the limb leads disagree (estimated reading SNR {est_snr:.1f} dB): the traces were "
            "probably misread; check the overlay or retake the photo"
        )

    t = time.perf_counter()
    ranges = [(e if e is not None else (0, 0)) for e in extents]
    overlay = _overlay(page.image, traces, ranges, labels)
    timings["overlay"] = time.perf_counter() - t
    timings["total"] = sum(timings.values())
    details = {
        "page": {
            "found_outline": page.page_found,
            "sharpness": round(sharp, 1),
            "quad": page.quad,
            "perspective": page.perspective,
            "rotated_deg": page.rotated_deg,
            "orientation": orientation,
            "grid": page.grid.to_dict(),
            "work_px_per_mm": k,
            "rectified_size": [int(page.image.shape[1]), int(page.image.shape[0])],
        },
        "rows": [
            {
                "y": round(c, 2),
                "baseline_y": round(b, 2),
                "pulse": None
                if p is None
                else {
                    "x_rise": p.x_rise,
                    "x_fall": p.x_fall,
                    "height_mm": round(p.height_px / k, 3),
                },
            }
            for c, b, p in zip(centres, baselines, pulses)
        ],
        "gain_source": gain_src,
        "speed_source": speed_src,
        "layout_confidence": lay_conf,
        "printed_scale": {
            "speed_mm_s": printed.speed_mm_s,
            "gain_mm_mv": printed.gain_mm_mv,
            "words": printed.words,
        },
        "printed_seconds": round(duration, 3),
        "trace_model": trace_name,
        "px_per_mm_used": round(kk, 4),
        "time_axis_px": {"t0": round(float(x_t0), 3), "per_s": round(float(px_per_s), 4)},
        "estimated_snr_db": None if est_snr is None else round(est_snr, 1),
    }
    return DigitizeResult(
        out.astype(np.float32),
        float(fs),
        list(LEAD_NAMES),
        lay_name,
        {
            "x": round(page.source_px_per_mm[0], 3),
            "y": round(page.source_px_per_mm[1], 3),
            "work": k,
        },
        speed_used,
        float(gain_used),
        lead_conf,
        conf,
        warnings,
        timings,
        page.image,
        overlay,
        details,
    )


def _regular(c: list[float]) -> bool:
    d = np.diff(c)
    return len(d) > 0 and bool(np.all(np.abs(d / np.median(d) - 1.0) < 0.12))


def _drop_stray_row(centres: list[float]) -> list[float]:
    """Without one row, are the others evenly spaced (and with it not)? Then it is a stray."""
    if _regular(centres):
        return centres
    fits = [centres[:i] + centres[i + 1 :] for i in range(len(centres))]
    fits = [f for f in fits if _regular(f)]
    return fits[0] if len(fits) == 1 else centres


def _regular_subset(centres: list[float], lengths: dict, k: float) -> list[float] | None:
    """The evenly spaced subset of 6, 4 or 3 rows (at least 15 mm apart) whose traces are
    longest in total, or None."""
    from itertools import combinations

    for n in (6, 4, 3):
        best, best_len = None, 0.0
        for sub in combinations(sorted(centres), n):
            if min(np.diff(sub)) < 15 * k or not _regular(list(sub)):
                continue
            total = sum(lengths.get(c, 0) for c in sub)
            if total > best_len:
                best, best_len = list(sub), total
        # Every row of a printed page carries a long trace.
        if best is not None and min(lengths.get(c, 0) for c in best) > 80 * k:
            return best
    return None


def _common_end(ends: list[int], k: float) -> float:
    """Where the rows end: printed rows end together, while glare, fading or a shadow can cut a
    row's trace short. The latest end that another row shares (within 3 mm) wins; without any
    agreement, the median."""
    e = sorted(float(v) for v in ends)
    for v in reversed(e):
        near = [u for u in e if abs(u - v) <= 3 * k]
        if len(near) >= 2:
            return float(np.median(near))
    return float(np.median(e))


def _standard_pulse(p: Pulse, k: float) -> bool:
    """A calibration pulse of standard shape: 1 mV at 5, 10 or 20 mm/mV (within 15%), 0.2 s
    at 25 or 50 mm/s (3.5-12 mm wide)."""
    return (
        snap(p.height_px / k, STANDARD_GAINS, 0.15) is not None
        and 3.5 <= (p.x_fall - p.x_rise + 1) / k <= 12.0
    )


def _without_flat_lead(
    traces, extents, good, x_first: float, x_end: float, k: float, warnings: list[str]
) -> tuple[float, float]:
    """A row whose baseline sits on a dark grid line (a black-and-white grid) or that starts with
    a baseline drawn where a pulse would be is followed along that ruler-straight line beyond
    its trace; the strip then reads longer than printed and every lead shifts. Where the rows
    run over the standard 250 mm strip and cutting their perfectly flat lead-in and lead-out
    (at least 4 mm, within 0.75 px) brings them to it, the cut span is used. Only for rows
    without pulses: a pulse fixes the start (cutting the lead-out alone lost 0.4 dB on one
    fold-9 photo and gained nothing)."""
    span = (x_end - x_first) / k
    if abs(span / STRIP_MM - 1.0) <= STRIP_TOL:
        return x_first, x_end
    heads, tails = [], []
    n0 = int(4 * k)
    for i in good:
        a, b = extents[i]
        y = traces[i].y[a : b + 1]
        if len(y) < 4 * n0:
            return x_first, x_end
        with np.errstate(invalid="ignore"):  # gaps (NaN) in a flat line do not end it
            off_h = np.abs(y - np.nanmedian(y[:n0])) > 0.75
            off_t = np.abs(y - np.nanmedian(y[-n0:])) > 0.75
        h = int(np.argmax(off_h)) if off_h.any() else 0
        t = int(np.argmax(off_t[::-1])) if off_t.any() else 0
        heads.append(a + (h if h >= n0 else 0))
        tails.append(b - (t if t >= n0 else 0))
    x0, x1 = float(np.median(heads)), _common_end(tails, k)
    cut = (x1 - x0) / k
    if abs(cut / STRIP_MM - 1.0) > STRIP_TOL:
        return x_first, x_end
    warnings.append(
        f"a ruler-straight line before or after the traces (a grid line, a baseline without "
        f"pulse) was left out of the {span:.0f} mm rows (read as {cut:.0f} mm)"
    )
    return x0, x1


def _borrow_rulers(
    rulers: list[RowRuler | None], centres: list[float], ruled: list[int]
) -> list[RowRuler | None]:
    """A row whose own grid band is unreadable (glare, header text over the top row) takes the
    ruler interpolated between the nearest ruled rows above and below (the nearest one's at the
    page's edge): paper stretches smoothly, so its neighbours' millimetres are far closer than
    the page scale, and a row read on another time axis than its neighbours drifts against
    them."""
    out = list(rulers)
    ys = np.array([centres[i] for i in ruled])
    order = np.argsort(ys)
    ys, idx = ys[order], [ruled[j] for j in order]
    for i, r in enumerate(rulers):
        if r is not None:
            continue
        c = centres[i]
        j = int(np.searchsorted(ys, c))  # ruled rows above: idx[:j]; below: idx[j:]
        if j == 0 or j == len(ys):
            src = rulers[idx[0 if j == 0 else -1]]
            out[i] = RowRuler(src.mm, src.period_mm, 0.0)
            continue
        lo, hi = rulers[idx[j - 1]], rulers[idx[j]]
        t = float((c - ys[j - 1]) / max(ys[j] - ys[j - 1], 1e-6))
        out[i] = RowRuler((1 - t) * lo.mm + t * hi.mm, lo.period_mm, 0.0)
    return out


def _scale_from_pulse_and_span(span_mm: float, pulse_heights_mm: list[float]) -> float | None:
    """Scale correction (rectified mm per true mm) when a faint grid was read at a wrong period
    that is not an octave off: the trace span (250 mm for a standard 10 s strip) and the 1 mV
    calibration pulse (5, 10 or 20 mm) are two independent rulers. Only where both say the same
    factor, within 4%, is it trusted, and then the pulse's: its height is read between two flat
    levels, while where a trace starts and ends depends on the printer; None otherwise."""
    f_span = span_mm / STRIP_MM
    if not (0.6 <= f_span <= 1.6) or abs(f_span - 1.0) < STRIP_TOL or not pulse_heights_mm:
        return None
    h = float(np.median(pulse_heights_mm))
    for g in STANDARD_GAINS:
        f_pulse = h / g
        if abs(f_pulse / f_span - 1.0) <= STRIP_TOL:
            return f_pulse
    return None


def _octave_off(span_mm: float, pulse_widths_mm: list[float]) -> bool:
    """Whether the trace span reads as about half or twice the standard 250 mm, with calibration
    pulses (when found) whose width also becomes a standard 5 or 10 mm at that scale."""
    for f in (2.0, 0.5):
        if abs(span_mm * f / STRIP_MM - 1.0) > 0.1:
            continue
        if not pulse_widths_mm:
            return True
        w = float(np.median(pulse_widths_mm)) * f
        return 3.8 <= w <= 12.0
    return False


def _trace_rows(page: RectifiedPage, prob: np.ndarray, rows, k: float):
    """DP paths and sub-pixel traces for the rows found, their inked extents, the calibration
    pulse at each row start, and how many rows show a pulse at their END when the page is turned
    (evidence for an upside-down page)."""
    t = time.perf_counter()
    if not rows.centres:
        return [], [], [], [], None, 0.0
    pitch = rows.pitch if len(rows.centres) > 1 else 0.3 * prob.shape[0]
    half = float(np.clip(0.8 * pitch, 4 * k, 40 * k))
    paths = dp_paths(prob, list(rows.centres), half)
    dark = ink_darkness(page.image)
    traces = [refine_path(prob, p, dark=dark) for p in paths]
    extents = [_extent(tr, k) for tr in traces]
    pulses = [find_pulse(tr.y, e[0], k) if e else None for tr, e in zip(traces, extents)]
    flipped = []
    w = prob.shape[1]
    for tr, e in zip(traces, extents):
        if e is None:
            continue
        yr = -tr.y[::-1]  # the row as it would read after a half turn
        p = find_pulse(yr, w - 1 - e[1], k)
        if p is not None:
            flipped.append(p)
    return traces, extents, pulses, flipped, dark, time.perf_counter() - t


def unsharp(img_bgr: np.ndarray, amount: float, sigma_px: float = 1.0) -> np.ndarray:
    """Unsharp mask: restores some of the edge contrast that scanner or camera blur took from thin
    strokes, so stroke centres and spike tips are read more exactly."""
    f = img_bgr.astype(np.float32)
    out = f + amount * (f - cv2.GaussianBlur(f, (0, 0), sigma_px))
    return np.clip(out, 0, 255).astype(np.uint8)


def _segment_samples(
    raw: np.ndarray, cut_start: bool, cut_end: bool, gap: int, sigma: float
) -> np.ndarray:
    """One lead's segment of a row, low-passed on its own. Where one lead's segment gives way to
    the next, the printer draws a vertical connector (and often a separator tick), not either
    lead's signal: the `gap` samples each side of an inner boundary are left out (NaN: the page
    does not show them), and smoothing across the boundary would mix the two leads."""
    seg = raw.copy()
    if cut_start:
        seg[:gap] = np.nan
    if cut_end:
        seg[len(seg) - gap :] = np.nan
    return smooth_samples(seg, sigma)


def trace_smoothing_px(sharp: float) -> float:
    """Low-pass for the sampled traces, in rectified pixels: sub-pixel stroke and centre points
    jitter by a fraction of a pixel, more the softer the image, and that jitter (not the ECG)
    is what remains above the page's resolution. Fold-9 pages: +0.6 dB clean, +1 dB scans
    and photos; twice as much smoothing blunts QRS peaks on crisp prints."""
    return float(
        np.interp(sharp, [SHARP_BLURRED, SHARP_CRISP], [SMOOTH_BLURRED_PX, SMOOTH_CRISP_PX])
    )


def sharpness(page_bgr: np.ndarray) -> float:
    """Edge sharpness of the rectified page: 99.5th percentile of |Laplacian| of the grey image
    (a crisp print scores > 50, a 0.75 mm blur about 9). Not contrast-normalised on purpose: a
    blurred photo also loses contrast, and that is what makes it unreadable."""
    g = cv2.cvtColor(page_bgr, cv2.COLOR_BGR2GRAY)
    lap = np.abs(cv2.Laplacian(g, cv2.CV_16S))
    return float(np.percentile(lap[::2, ::2], 99.5))


def _check_not_blank(img: np.ndarray) -> None:
    """Refuse blank or nearly uniform frames before any heavy work."""
    small = cv2.resize(
        img, (256, max(1, int(256 * img.shape[0] / img.shape[1]))), interpolation=cv2.INTER_AREA
    )
    g = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    if float(g.std()) < 2.0:
        raise BadInputError(
            "blank_image",
            "the image is blank (nearly one colour everywhere)",
            "point the camera at the ECG printout and check the lens cover and lighting",
        )
