"""The digitizer pipeline: wires the stages (one module each) and chooses between readings.

    page geometry (page) -> sharpness -> trace map (traceprob, maps) -> rows ->
    grid stood upright about each row (lean) -> paths ->
    orientation -> row selection (rows) -> printed span (span) -> rulers -> scale ->
    printed text (textcues) -> gain and speed (calibration) -> time axis (timeaxis) ->
    samples and levels (sampling) -> leads (assemble) -> confidence -> overlay and report

A page may be read several ways (edge.digitize.readings); each reading runs the chain from the
trace map on."""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import BadInputError
from ..layouts import LEAD_NAMES, get_layout
from ..memory import trim_malloc
from . import textcues
from .assemble import Leads, assemble_leads
from .calibration import Calibration, calibrate
from .confidence import Confidence, confidence
from .extract import RowTrace
from .leads import layout_for_rows
from .lean import RowsUpright, rows_upright
from .maps import PageMaps
from .orientation import Orientation, orientation
from .overlay import draw_overlay
from .page import WORK_PX_PER_MM, RectifiedPage, rectify_page, rotate_half_turn
from .paths import RowPaths, follow_rows
from .pulses import is_standard_pulse
from .readings import Capture, Read, read_best
from .result import DigitizeResult
from .rows import Rows, SelectedRows, find_rows, select_rows
from .rulers import page_rulers
from .sampling import RowSamples, sample_rows
from .scale import page_scale
from .sharpness import check_sharpness, sharpness, unsharp, unsharp_amount
from .span import printed_span
from .textcues import PrintedScale
from .timeaxis import TimeAxis, time_axis
from .traceprob import MapFn, camera_photo_stages, learned_or_none, trace_stages

BLANK_STD = 2.0  # grey-level spread below which a frame is blank (one colour everywhere)
GAIN_RANGE = (1.0, 50.0)  # mm/mV a user may give
SPEED_RANGE = (5.0, 200.0)  # mm/s a user may give


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
    _check_arguments(image_bgr, layout, gain, speed)
    stages = trace_stages(trace_model if trace_model is not None else "auto")
    timings: dict[str, float] = {}
    warnings: list[str] = []
    t = time.perf_counter()
    check_not_blank(image_bgr)
    page = rectify_page(image_bgr)
    trim_malloc()
    timings["page"] = time.perf_counter() - t
    warnings += page.warnings
    sharp = sharpness(page.image)
    check_sharpness(sharp, page.grid, warnings)
    alpha = unsharp_amount(sharp, page.grid)
    # "auto" with a segmenter installed: a camera photo (the page found inside a wider frame, so
    # lit unevenly, shadowed, perhaps written on) is read with the fused map; a scan or a flat
    # print keeps the classical map, whose sharper ink profile reads it better.
    learned = learned_or_none() if trace_model in (None, "auto") and page.page_found else None
    if learned is not None:
        stages = camera_photo_stages(learned, page.image)
    sharpened = None
    if alpha > 0:
        sharpened = dataclasses.replace(page, image=unsharp(page.image, alpha))
    capture = Capture(page, sharpened, sharp, stages, warnings, timings)

    opts = ReadOptions(fs, layout, gain, speed)
    return read_best(capture, functools.partial(read_page, opts=opts))


def _on_page(traces: list[RowTrace], up: RowsUpright | None) -> list[RowTrace]:
    """The traces' polylines where they lie on the page as rectified (before the rows were stood
    upright), for the overlay drawn on it."""
    if up is None:
        return traces
    return [
        dataclasses.replace(tr, px=up.to_page(tr.px, tr.py))
        if tr.px is not None and tr.py is not None
        else tr
        for tr in traces
    ]


def _check_arguments(
    image_bgr: np.ndarray, layout: str | None, gain: float | None, speed: float | None
) -> None:
    """Refuse a malformed image or an implausible override before any work."""
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
    if gain is not None and not GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]:
        raise BadInputError("bad_gain", f"gain {gain} mm/mV is implausible", "use 5, 10 or 20")
    if speed is not None and not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise BadInputError("bad_speed", f"speed {speed} mm/s is implausible", "use 25 or 50")


@dataclass(frozen=True)
class ReadOptions:
    """What the user gave: output rate, and the layout, gain and speed that override the page's."""

    fs: float
    layout: str | None
    gain: float | None
    speed: float | None


@dataclass
class UprightRows:
    """The rows of a reading, found and followed on the page turned upright."""

    page: RectifiedPage
    maps: PageMaps
    prob: np.ndarray
    rows: Rows
    paths: RowPaths
    orientation: Orientation
    upright: RowsUpright | None = None  # how the trace maps were stood upright (lean), if at all


@dataclass
class ReadLeads:
    """What a reading's calibration and sampling stages made of its rows."""

    calib: Calibration
    axis: TimeAxis
    samples: RowSamples
    leads: Leads
    printed: PrintedScale


def read_page(
    capture: Capture,
    maps: PageMaps,
    page: RectifiedPage,
    trace: MapFn,
    trace_name: str,
    opts: ReadOptions,
) -> Read:
    """One reading of a rectified page: the stage chain from the trace map to the result."""
    warnings, timings = list(capture.warnings), dict(capture.timings)
    t = time.perf_counter()
    prob = np.asarray(trace(maps), dtype=np.float32)
    if capture.printed is not None:  # the printed text, the ink map's last reader, is read
        maps.release("ink_without_grid")
    timings["traceprob"] = time.perf_counter() - t
    found = upright_rows(maps, page, prob, timings, warnings)
    sel = page_rows(found, opts.layout, warnings)
    t = time.perf_counter()
    read = read_leads(capture, found, sel, opts, timings, warnings)
    timings["layout"] = time.perf_counter() - t
    conf = confidence(
        read.leads, found.page.grid.confidence, read.calib.gain_source, opts.fs, warnings
    )
    ranges = [(e if e is not None else (0, 0)) for e in sel.extents]
    overlay = functools.partial(
        draw_overlay,
        found.page.image,
        _on_page(sel.traces, found.upright),
        ranges,
        read.leads.labels,
    )
    res = _result(found, sel, read, conf, capture.sharpness, trace_name, opts.fs, warnings, timings)
    return Read(res, overlay)


def upright_rows(
    maps: PageMaps,
    page: RectifiedPage,
    prob: np.ndarray,
    timings: dict[str, float],
    warnings: list[str],
) -> UprightRows:
    """Rows found in the trace map and followed, after a half turn where the page lies upside
    down (the trace map is turned with it, not computed again)."""
    k = maps.px_per_mm
    t = time.perf_counter()
    rows = find_rows(prob, k)
    timings["rows"] = time.perf_counter() - t
    t = time.perf_counter()
    up = _stand_upright(maps, page, prob, rows)
    paths = follow_rows(maps, prob, rows)
    maps.resample_traces(None)  # drops ink darkness and the classical map: followed, their last use
    trim_malloc()
    orient = orientation(rows, paths, k)
    if orient.turn and len(rows.centres) >= 1:
        page = rotate_half_turn(page)
        maps = PageMaps(page.image)
        prob = np.ascontiguousarray(prob[::-1, ::-1])
        rows = find_rows(prob, k)
        up = _stand_upright(maps, page, prob, rows)
        paths = follow_rows(maps, prob, rows)
        maps.resample_traces(None)
        warnings.append("page was upside down; turned by 180 degrees")
    timings["extract"] = time.perf_counter() - t
    return UprightRows(page, maps, prob, rows, paths, orient, up)


def _stand_upright(
    maps: PageMaps, page: RectifiedPage, prob: np.ndarray, rows: Rows
) -> RowsUpright | None:
    """Resample the trace map (in place) and the maps the rows are followed on so the grid
    stands upright about each row (edge.digitize.lean); nothing without a grid or a lean."""
    if page.grid.source != "grid":
        return None
    up = rows_upright(page.image, prob, list(rows.centres), maps.px_per_mm)
    if up is not None:
        maps.resample_traces(lambda a: up.remap(a, out=a))
        up.remap(prob, out=prob)
    return up


def page_rows(found: UprightRows, layout: str | None, warnings: list[str]) -> SelectedRows:
    """The rows the layout is read from; refuses a page without rows or with a row count that
    matches no standard layout (unless the user gave one)."""
    _check_rows_found(found.rows, found.page)
    want = get_layout(layout).n_rows if layout else None
    sel = select_rows(
        found.rows,
        found.paths,
        n_rows_wanted=want,
        layout_name=layout,
        height_px=found.prob.shape[0],
        px_per_mm=found.maps.px_per_mm,
        warnings=warnings,
    )
    if want is None and not layout_for_rows(len(sel.centres)):
        raise BadInputError(
            "layout_unknown",
            f"found {len(sel.centres)} trace rows, which matches no standard layout",
            "give the layout with --layout (3x4, 3x4+1, 3x4+3, 6x2 or 12x1)",
        )
    return _standard_pulses_only(sel, found.maps.px_per_mm)


def _standard_pulses_only(sel: SelectedRows, px_per_mm: float) -> SelectedRows:
    """Where some rows show a standard calibration pulse, a mark of no standard shape found at
    another row's start (a page edge meeting a grid line, a letter) is not the printer's pulse:
    it would set that row's baseline and pull the strip's start and the page's gain."""
    std = [p is not None and is_standard_pulse(p, px_per_mm) for p in sel.pulses]
    if not any(std):
        return sel
    return dataclasses.replace(sel, pulses=[p if s else None for p, s in zip(sel.pulses, std)])


def read_leads(
    capture: Capture,
    found: UprightRows,
    sel: SelectedRows,
    opts: ReadOptions,
    timings: dict[str, float],
    warnings: list[str],
) -> ReadLeads:
    """Span, rulers, scale, printed text, gain and speed, time axis, samples and leads."""
    maps, prob, k = found.maps, found.prob, found.maps.px_per_mm
    has_grid = found.page.grid.source == "grid"
    span = printed_span(sel, k, warnings)
    rulers = page_rulers(maps, prob, sel, span, has_grid)
    kk = page_scale(found.page.grid, rulers.span_mm, rulers.used, span.found, k, warnings)
    need_text = opts.gain is None or opts.speed is None
    printed = _printed_scale(capture, maps, sel.centres, found.rows.pitch, need_text, timings)
    maps.release("ink_without_grid")  # the text is read: nothing later reads the ink map
    calib = calibrate(
        kk,
        gain=opts.gain,
        speed=opts.speed,
        found=span.found,
        traces_y=[sel.traces[i].y for i in span.good],
        printed=printed,
        warnings=warnings,
    )
    axis = time_axis(
        span,
        rulers,
        calib,
        sel.pulses,
        width_px=prob.shape[1],
        px_per_mm=k,
        fs=opts.fs,
        warnings=warnings,
    )
    samples = sample_rows(
        maps,
        prob,
        sel,
        span,
        axis,
        calib,
        sharpness=capture.sharpness,
        fs=opts.fs,
        has_grid=has_grid,
    )
    leads = assemble_leads(sel, samples, axis, layout=opts.layout, fs=opts.fs, warnings=warnings)
    return ReadLeads(calib, axis, samples, leads, printed)


def _check_rows_found(rows: Rows, page: RectifiedPage) -> None:
    """Refuse a page where no trace row was found: not an ECG without a grid either."""
    if rows.centres:
        return
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


def _printed_scale(
    capture: Capture,
    maps: PageMaps,
    centres: list[float],
    pitch: float,
    need: bool,
    timings: dict[str, float],
) -> PrintedScale:
    """Speed and gain printed on the page (edge.digitize.textcues), read once per capture by the
    first reading that gets this far; nothing when both are given or no word model is installed."""
    if capture.printed is None:
        t = time.perf_counter()
        classify = textcues.default_classifier() if need else None
        capture.printed = (
            textcues.read_printed_scale(
                maps.ink_without_grid, centres, float(pitch), maps.px_per_mm, classify
            )
            if classify is not None
            else PrintedScale()
        )
        timings["text"] = time.perf_counter() - t
    return capture.printed


def _report(
    found: UprightRows,
    sel: SelectedRows,
    read: ReadLeads,
    sharp: float,
    trace_name: str,
    est: float | None,
) -> dict:
    """Every stage's decisions, for the JSON report a person reads beside the record."""
    page, k = found.page, WORK_PX_PER_MM
    printed, calib, axis = read.printed, read.calib, read.axis
    return {
        "page": {
            "found_outline": page.page_found,
            "sharpness": round(sharp, 1),
            "quad": page.quad,
            "perspective": page.perspective,
            "rotated_deg": page.rotated_deg,
            "upright_deg": round(page.upright_deg, 3),
            "orientation": found.orientation.to_dict(),
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
            for c, b, p in zip(sel.centres, read.samples.baselines, sel.pulses)
        ],
        "gain_source": calib.gain_source,
        "speed_source": calib.speed_source,
        "layout_confidence": read.leads.layout_confidence,
        "printed_scale": {
            "speed_mm_s": printed.speed_mm_s,
            "gain_mm_mv": printed.gain_mm_mv,
            "words": printed.words,
        },
        "row_shifts_ms": [round(1000.0 * d, 1) for d in read.leads.row_shifts_s],
        "printed_seconds": round(axis.duration, 3),
        "trace_model": trace_name,
        "px_per_mm_used": round(calib.px_per_mm, 4),
        "time_axis_px": {"t0": round(float(axis.x_t0), 3), "per_s": round(float(axis.px_per_s), 4)},
        "estimated_snr_db": est,
    }


def _result(
    found: UprightRows,
    sel: SelectedRows,
    read: ReadLeads,
    conf: Confidence,
    sharp: float,
    trace_name: str,
    fs: float,
    warnings: list[str],
    timings: dict[str, float],
) -> DigitizeResult:
    """The reading as a DigitizeResult (its overlay is drawn once the reading is kept)."""
    page = found.page
    est = None if conf.estimated_snr_db is None else round(conf.estimated_snr_db, 1)
    return DigitizeResult(
        read.leads.signals.astype(np.float32),
        float(fs),
        list(LEAD_NAMES),
        read.leads.layout,
        {
            "x": round(page.source_px_per_mm[0], 3),
            "y": round(page.source_px_per_mm[1], 3),
            "work": WORK_PX_PER_MM,
        },
        read.calib.speed_mm_s,
        read.calib.gain_mm_mv,
        conf.per_lead,
        conf.overall,
        warnings,
        timings,
        page.image,
        None,
        _report(found, sel, read, sharp, trace_name, est),
        estimated_snr_db=est,
    )


def check_not_blank(img: np.ndarray) -> None:
    """Refuse blank or nearly uniform frames before any heavy work."""
    small = cv2.resize(
        img, (256, max(1, int(256 * img.shape[0] / img.shape[1]))), interpolation=cv2.INTER_AREA
    )
    g = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    if float(g.std()) < BLANK_STD:
        raise BadInputError(
            "blank_image",
            "the image is blank (nearly one colour everywhere)",
            "point the camera at the ECG printout and check the lens cover and lighting",
        )
