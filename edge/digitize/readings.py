"""Readings: one captured page read several ways, the reading the leads agree with most kept.

Where a reading fails the leads' own laws (Einthoven, Goldberger: true for any ECG, printer or
camera), the page is read again another way. Sharpening restores the peaks of a soft print but
can also join grid residue, text or a neighbouring trace to a faint trace: read it unsharpened.
A pen much fainter than the printed text falls under an ink threshold set by the text: read it
with the threshold set by the traces. Last, on a camera photo, the segmenter's map alone: ink the
classical estimate cannot see against the page (a mid-blue pen on a grey grid) leaves no row or
only one, and the fused map inherits that."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import BadInputError
from ..interpret.consistency import MIN_READING_SNR_DB
from ..memory import trim_malloc
from .maps import PageMaps
from .page import RectifiedPage
from .result import DigitizeResult
from .textcues import PrintedScale
from .traceprob import MapFn, TraceStages

SEGMENTER_ALONE_MIN_DB = 1.0  # the segmenter-alone reading (the last resort) must agree this well


@dataclass(frozen=True)
class Reading:
    """One way to read a page: which page (sharpened or as rectified), which trace map, and the
    least agreement (estimated SNR, dB) with which it may replace an earlier reading."""

    name: str
    sharpened: bool
    trace: str  # "main" | "faint" | "segmenter": a field of traceprob.TraceStages
    min_agreement_db: float = float("-inf")
    only_faint_pen: bool = False  # tried only when the pen is much fainter than the text


REREADS = (
    Reading("unsharpened", sharpened=False, trace="main"),
    Reading("faint pen", sharpened=True, trace="faint", only_faint_pen=True),
    Reading(
        "segmenter alone",
        sharpened=False,
        trace="segmenter",
        min_agreement_db=SEGMENTER_ALONE_MIN_DB,
    ),
)


@dataclass
class Capture:
    """One captured page and what its readings share: the page as rectified and sharpened, its
    sharpness, the trace stages, the page-level warnings and timings, and the printed speed and
    gain (read once, by the first reading that needs them). Dropped when digitize() returns."""

    page: RectifiedPage
    sharpened: RectifiedPage | None  # None: a crisp page is not sharpened
    sharpness: float
    stages: TraceStages
    warnings: list[str]
    timings: dict[str, float]
    printed: PrintedScale | None = None  # read once, by the first reading that needs it

    def page_for(self, reading: Reading) -> RectifiedPage:
        if reading.sharpened and self.sharpened is not None:
            return self.sharpened
        return self.page

    def applies(self, reading: Reading) -> bool:
        """Whether `reading` is a distinct way to read this page."""
        if reading.name == "unsharpened":
            return self.sharpened is not None
        return getattr(self.stages, reading.trace) is not None


@dataclass
class Read:
    """One reading's result, its overlay not drawn yet: only the reading kept is drawn, so a
    page-sized overlay is not alive beside every reread."""

    result: DigitizeResult
    draw_overlay: Callable[[], np.ndarray]

    def finished(self) -> DigitizeResult:
        """The result with its overlay drawn."""
        t = time.perf_counter()
        self.result.overlay = self.draw_overlay()
        timings = self.result.timings
        timings["overlay"] = time.perf_counter() - t
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        return self.result


ReadFn = Callable[[Capture, PageMaps, RectifiedPage, MapFn, str], Read]


def agreement(res: DigitizeResult) -> float:
    """The reading's estimated SNR from the limb-lead laws; -inf where it cannot be estimated."""
    v = res.estimated_snr_db
    return float(v) if v is not None else float("-inf")


def _run(capture: Capture, reading: Reading, read: ReadFn) -> Read | None:
    """`reading` of the capture; None where it does not apply to this page's pen."""
    trim_malloc()
    page = capture.page_for(reading)
    maps = PageMaps(page.image)
    if reading.only_faint_pen and not maps.pen_fainter_than_text:
        return None
    trace: MapFn = getattr(capture.stages, reading.trace)
    name = "learned" if reading.trace == "segmenter" else capture.stages.name
    return read(capture, maps, page, trace, name)


def read_best(capture: Capture, read: ReadFn) -> DigitizeResult:
    """The first reading, replaced by a reread only while the leads disagree with it and only
    by one they agree with more (and at least as well as that reread requires)."""
    first = Reading("sharpened" if capture.sharpened is not None else "first", True, "main")
    res: Read | None = None
    first_error: BadInputError | None = None
    try:
        res = _run(capture, first, read)
    except BadInputError as exc:
        first_error = exc
    tried: dict[str, float | str | None] = {}
    if res is not None:
        tried[first.name] = res.result.estimated_snr_db
    elif first_error is not None:
        tried[first.name] = first_error.code
    kept = first.name
    t = time.perf_counter()
    for reading in REREADS:
        if not capture.applies(reading):
            continue
        if res is not None and agreement(res.result) >= MIN_READING_SNR_DB:
            break
        try:
            alt = _run(capture, reading, read)
        except BadInputError as exc:
            tried[reading.name] = exc.code
            continue
        if alt is None:
            continue
        tried[reading.name] = alt.result.estimated_snr_db
        if agreement(alt.result) < reading.min_agreement_db:
            continue
        if res is None or agreement(alt.result) > agreement(res.result):
            res, kept = alt, reading.name
        del alt
    if res is None:
        assert first_error is not None
        raise first_error
    if len(tried) > 1:
        res.result.details["reread"] = {"kept": kept, "estimated_snr_db": tried}
        res.result.timings["reread"] = time.perf_counter() - t
    return res.finished()
