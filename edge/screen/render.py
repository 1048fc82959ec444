"""Drawing the device's screens as BGR images (800x480 by default, readable at arm's length on a
7-inch panel): preview with page outline and guidance, "processing", the result (12 leads
re-plotted on an ECG grid, heart rate, measurements, statements, class probabilities, per-lead
quality, record id, saved / not saved), messages, and a sync-status banner."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..layouts import LEAD_NAMES

FONT = cv2.FONT_HERSHEY_SIMPLEX
BOLD = cv2.FONT_HERSHEY_DUPLEX
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
GREEN, AMBER, RED = (60, 170, 40), (0, 160, 235), (40, 40, 210)
BG, PANEL, MUTED = (32, 30, 28), (52, 48, 45), (170, 170, 170)
PAPER, GRID_MINOR, GRID_MAJOR, TRACE = (
    (248, 248, 255),
    (215, 215, 245),
    (170, 170, 230),
    (20, 20, 20),
)

# the re-plot uses the standard 3x4 page plus a lead II rhythm strip
GRID_ROWS = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
RHYTHM_LEAD = "II"


@dataclass
class ResultView:
    """Everything the result screen shows; built by the daemon from the digitizer and
    interpretation results. Any field may be missing (shown as "-")."""

    record_id: str | None
    saved: bool
    signals: np.ndarray | None = None  # (n, 12) mV, NaN where not printed
    fs: float = 500.0
    lead_names: list[str] = field(default_factory=lambda: list(LEAD_NAMES))
    lead_quality: dict[str, float] = field(default_factory=dict)  # lead -> 0..1
    confidence: float | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)
    labels: list[str] | None = None  # classes above their thresholds (highlighted); None = p >= 0.5
    summary: str = ""
    refused: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # why the record was not saved

    @staticmethod
    def statement_texts(statements: Any) -> list[str]:
        out = []
        for s in statements or []:
            if isinstance(s, str):
                out.append(s)
            elif isinstance(s, dict):
                out.append(str(s.get("text") or s.get("statement") or s.get("label") or s))
            else:
                out.append(str(s))
        return out


def _text(
    img: np.ndarray,
    s: str,
    org: tuple[int, int],
    scale: float = 0.6,
    color=WHITE,
    thick: int = 1,
    font: int = FONT,
) -> int:
    """Draw text (anti-aliased); return its width in pixels."""
    cv2.putText(img, s, (int(org[0]), int(org[1])), font, scale, color, thick, cv2.LINE_AA)
    return cv2.getTextSize(s, font, scale, thick)[0][0]


def _fit(s: str, max_w: int, scale: float, thick: int = 1, font: int = FONT) -> str:
    """`s`, cut with "..." to fit `max_w` pixels."""

    def width(t: str) -> int:
        return cv2.getTextSize(t, font, scale, thick)[0][0]

    if width(s) <= max_w:
        return s
    while s and width(s + "...") > max_w:
        s = s[:-1]
    return s.rstrip() + "..."


def _wrap(s: str, max_w: int, scale: float, thick: int = 1) -> list[str]:
    char_w = cv2.getTextSize("n", FONT, scale, thick)[0][0] or 8
    return textwrap.wrap(s, max(8, max_w // char_w)) or [""]


def _ecg_grid(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, px_per_mm: float) -> None:
    img[y0:y1, x0:x1] = PAPER
    if px_per_mm >= 2.5:
        for x in np.arange(x0, x1, px_per_mm):
            cv2.line(img, (int(x), y0), (int(x), y1 - 1), GRID_MINOR, 1)
        for y in np.arange(y0, y1, px_per_mm):
            cv2.line(img, (x0, int(y)), (x1 - 1, int(y)), GRID_MINOR, 1)
    for x in np.arange(x0, x1, 5 * px_per_mm):
        cv2.line(img, (int(x), y0), (int(x), y1 - 1), GRID_MAJOR, 1)
    for y in np.arange(y0, y1, 5 * px_per_mm):
        cv2.line(img, (x0, int(y)), (x1 - 1, int(y)), GRID_MAJOR, 1)


def _trace(
    img: np.ndarray,
    sig: np.ndarray,
    x0: int,
    x1: int,
    y_base: int,
    px_per_mv: float,
    y_clip: tuple[int, int],
) -> None:
    n = len(sig)
    if n < 2:
        return
    xs = np.linspace(x0, x1, n)
    ok = np.isfinite(sig)
    ys = np.clip(y_base - np.nan_to_num(sig) * px_per_mv, *y_clip)
    # one polyline per run of present samples, thinned to ~2 points per pixel
    step = max(1, n // max(1, 2 * (x1 - x0)))
    idx = np.arange(0, n, step)
    runs, start = [], None
    for i in idx:
        if ok[i] and start is None:
            start = i
        elif not ok[i] and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, n))
    for a, b in runs:
        sel = idx[(idx >= a) & (idx < b)]
        if len(sel) >= 2:
            pts = np.stack([xs[sel], ys[sel]], axis=1).round().astype(np.int32)
            cv2.polylines(img, [pts], False, TRACE, 1, cv2.LINE_AA)


def _quality_color(q: float | None) -> tuple[int, int, int]:
    if q is None:
        return MUTED
    return GREEN if q >= 0.7 else AMBER if q >= 0.4 else RED


class Screens:
    """Draws the device's screens at `width` x `height`."""

    def __init__(self, width: int = 800, height: int = 480) -> None:
        self.w, self.h = width, height
        self.k = min(width / 800.0, height / 480.0)  # text scales with the panel

    def _blank(self) -> np.ndarray:
        return np.full((self.h, self.w, 3), BG, np.uint8)

    def _banner(self, img: np.ndarray, banner: tuple[str, str] | None) -> np.ndarray:
        """Draw the sync banner (state ok|error, message) across the bottom."""
        if banner:
            state, msg = banner
            bh = int(34 * self.k)
            color = GREEN if state == "ok" else RED if state == "error" else AMBER
            cv2.rectangle(img, (0, self.h - bh), (self.w, self.h), color, -1)
            label = {"ok": "SYNC OK", "error": "SYNC FAILED"}.get(state, "SYNC")
            s = 0.6 * self.k
            x = 10 + _text(img, label + ": ", (10, self.h - bh // 3), s, WHITE, 2)
            _text(img, _fit(msg, self.w - x - 10, s), (x, self.h - bh // 3), s, WHITE, 1)
        return img

    # -- preview -------------------------------------------------------------------------------
    def preview(
        self,
        frame: np.ndarray | None,
        outline: np.ndarray | None = None,
        message: str = "",
        ready: bool = False,
        progress: float = 0.0,
        banner: tuple[str, str] | None = None,
    ) -> np.ndarray:
        """Live camera view, page outline (green when ready), one big instruction."""
        img = self._blank()
        if frame is not None:
            fh, fw = frame.shape[:2]
            s = min(self.w / fw, self.h / fh)
            nw, nh = max(1, int(fw * s)), max(1, int(fh * s))
            ox, oy = (self.w - nw) // 2, (self.h - nh) // 2
            img[oy : oy + nh, ox : ox + nw] = cv2.resize(
                frame, (nw, nh), interpolation=cv2.INTER_AREA
            )
            if outline is not None:
                pts = (np.asarray(outline, np.float32) * s + (ox, oy)).round().astype(np.int32)
                cv2.polylines(
                    img,
                    [pts],
                    True,
                    GREEN if ready else AMBER,
                    max(2, int(4 * self.k)),
                    cv2.LINE_AA,
                )
        if message:
            sc = 1.0 * self.k
            tw, th = cv2.getTextSize(message, BOLD, sc, 2)[0]
            bw = tw + int(40 * self.k)
            y0 = int(14 * self.k)
            cv2.rectangle(
                img,
                ((self.w - bw) // 2, y0),
                ((self.w + bw) // 2, y0 + th + int(24 * self.k)),
                GREEN if ready else (0, 0, 0),
                -1,
            )
            _text(
                img, message, ((self.w - tw) // 2, y0 + th + int(12 * self.k)), sc, WHITE, 2, BOLD
            )
        if ready and progress > 0:
            cv2.rectangle(
                img,
                (0, self.h - int(8 * self.k)),
                (int(self.w * min(progress, 1.0)), self.h),
                GREEN,
                -1,
            )
        return self._banner(img, banner)

    # -- messages ------------------------------------------------------------------------------
    def message(
        self,
        title: str,
        detail: str = "",
        kind: str = "info",
        banner: tuple[str, str] | None = None,
        thumbnail: np.ndarray | None = None,
    ) -> np.ndarray:
        """A full-screen message: info (waiting, processing), guidance or error."""
        img = self._blank()
        color = {"info": WHITE, "guidance": AMBER, "error": RED, "ok": GREEN}.get(kind, WHITE)
        x = int(30 * self.k)
        if thumbnail is not None and (
            thumbnail.dtype != np.uint8 or thumbnail.ndim != 3 or thumbnail.shape[2] != 3
        ):
            thumbnail = None  # only a normal picture is shown
        if thumbnail is not None:
            th, tw = thumbnail.shape[:2]
            s = min(0.38 * self.w / tw, 0.6 * self.h / th)
            t = cv2.resize(
                thumbnail, (max(1, int(tw * s)), max(1, int(th * s))), interpolation=cv2.INTER_AREA
            )
            y = (self.h - t.shape[0]) // 2
            img[y : y + t.shape[0], self.w - t.shape[1] - x : self.w - x] = t
            text_w = self.w - t.shape[1] - 3 * x
        else:
            text_w = self.w - 2 * x
        sc = 1.1 * self.k
        lines = _wrap(title, text_w, sc, 2)
        y = int(self.h * 0.30)
        for line in lines[:3]:
            _text(img, line, (x, y), sc, color, 2, BOLD)
            y += int(48 * self.k)
        y += int(10 * self.k)
        for line in _wrap(detail, text_w, 0.7 * self.k)[:6]:
            _text(img, line, (x, y), 0.7 * self.k, WHITE, 1)
            y += int(32 * self.k)
        return self._banner(img, banner)

    def processing(
        self,
        thumbnail: np.ndarray | None = None,
        step: str = "Reading the ECG",
        banner: tuple[str, str] | None = None,
    ) -> np.ndarray:
        return self.message("Processing...", f"{step}. Please wait.", "info", banner, thumbnail)

    def idle(
        self, detail: str = "Waiting for a printout.", banner: tuple[str, str] | None = None
    ) -> np.ndarray:
        return self.message("Ready", detail, "info", banner)

    # -- result --------------------------------------------------------------------------------
    def result(self, v: ResultView, banner: tuple[str, str] | None = None) -> np.ndarray:
        img = self._blank()
        k = self.k
        top = int(44 * k)
        # header: saved state, record id
        state_col = GREEN if v.saved else RED
        label = "SAVED" if v.saved else "NOT SAVED"
        sc = 0.75 * k
        lw = cv2.getTextSize(label, BOLD, sc, 2)[0][0] + int(20 * k)
        cv2.rectangle(img, (0, 0), (lw, top), state_col, -1)
        _text(img, label, (int(10 * k), int(30 * k)), sc, WHITE, 2, BOLD)
        rid = v.record_id or "-"
        _text(
            img,
            _fit(f"Record {rid}", int(self.w * 0.55), 0.6 * k),
            (lw + int(12 * k), int(29 * k)),
            0.6 * k,
            WHITE,
        )
        if v.confidence is not None:
            s = f"reading confidence {v.confidence:.0%}"
            tw = cv2.getTextSize(s, FONT, 0.55 * k, 1)[0][0]
            _text(
                img,
                s,
                (self.w - tw - int(10 * k), int(29 * k)),
                0.55 * k,
                _quality_color(v.confidence),
            )

        panel_w = int(self.w * 0.31)
        plot = (
            int(6 * k),
            top + int(4 * k),
            self.w - panel_w - int(6 * k),
            self.h - int((40 if banner else 8) * k) - int(28 * k),
        )
        self._plot_leads(img, v, *plot)
        self._panel(img, v, self.w - panel_w, top, self.w, plot[3])
        # footer: summary / why not saved / warnings
        foot = v.error or v.summary or v.refused or ("; ".join(v.warnings) if v.warnings else "")
        if foot:
            col = RED if v.error else WHITE
            _text(
                img,
                _fit(foot, self.w - int(16 * k), 0.55 * k),
                (int(8 * k), plot[3] + int(21 * k)),
                0.55 * k,
                col,
            )
        return self._banner(img, banner)

    def _plot_leads(
        self, img: np.ndarray, v: ResultView, x0: int, y0: int, x1: int, y1: int
    ) -> None:
        n_rows = len(GRID_ROWS) + 1
        w = x1 - x0
        px_per_mm = w / 250.0  # 10 s at 25 mm/s across the plot
        row_h = (y1 - y0) / n_rows
        _ecg_grid(img, x0, y0, x1, y1, px_per_mm)
        px_per_mv = 10 * px_per_mm  # 10 mm/mV
        sig = v.signals
        names = [str(n) for n in v.lead_names]
        n = 0 if sig is None else sig.shape[0]
        seg = n // 4 if n else 0
        for r, row in enumerate([*GRID_ROWS, (RHYTHM_LEAD,)]):
            base = int(y0 + (r + 0.62) * row_h)
            clip = (int(y0 + r * row_h) + 1, int(y0 + (r + 1) * row_h) - 1)
            cols = len(row)
            for c, lead in enumerate(row):
                cx0 = x0 + int(c * w / cols)
                cx1 = x0 + int((c + 1) * w / cols)
                part = None
                if sig is not None and lead in names and n:
                    s = sig[:, names.index(lead)]
                    part = s if cols == 1 else s[c * seg : (c + 1) * seg]
                    _trace(img, part, cx0, cx1, base, px_per_mv, clip)
                if sig is not None and (part is None or not np.isfinite(part).any()):
                    _text(
                        img,
                        "not read",
                        (cx0 + int(40 * self.k), base),
                        0.45 * self.k,
                        (120, 120, 120),
                    )
                q = v.lead_quality.get(lead)
                ty = clip[0] + int(16 * self.k)
                cv2.circle(
                    img,
                    (cx0 + int(8 * self.k), ty - int(5 * self.k)),
                    max(3, int(5 * self.k)),
                    _quality_color(q),
                    -1,
                    cv2.LINE_AA,
                )
                _text(img, lead, (cx0 + int(16 * self.k), ty), 0.5 * self.k, (60, 20, 20), 1)
                if c:
                    cv2.line(
                        img, (cx0, base - int(6 * self.k)), (cx0, base + int(6 * self.k)), TRACE, 1
                    )

    def _panel(self, img: np.ndarray, v: ResultView, x0: int, y0: int, x1: int, y1: int) -> None:
        k = self.k
        cv2.rectangle(img, (x0, y0), (x1, y1), PANEL, -1)
        x = x0 + int(10 * k)
        wmax = x1 - x - int(6 * k)
        m = v.measurements or {}
        hr = m.get("heart_rate_bpm")
        y = y0 + int(46 * k)
        tw = _text(img, "-" if hr is None else f"{hr:.0f}", (x, y), 1.5 * k, WHITE, 3, BOLD)
        _text(img, "bpm", (x + tw + int(8 * k), y), 0.6 * k, MUTED)
        y += int(28 * k)

        def fmt(key: str, unit: str = " ms") -> str:
            val = m.get(key)
            return "-" if val is None else f"{val:.0f}{unit}"

        for a, b in (
            ("PR " + fmt("pr_ms"), "QRS " + fmt("qrs_ms")),
            ("QT " + fmt("qt_ms"), "QTc " + fmt("qtc_ms")),
            ("Axis " + fmt("axis_deg", " deg"), ""),
        ):
            _text(img, a, (x, y), 0.5 * k, WHITE)
            _text(img, b, (x + wmax // 2, y), 0.5 * k, WHITE)
            y += int(22 * k)
        y += int(6 * k)
        if v.refused:
            short = v.refused.split(";")[0].split(" (")[0]
            for line in _wrap(f"No classification: {short}", wmax, 0.5 * k)[:2]:
                _text(img, line, (x, y), 0.5 * k, AMBER)
                y += int(20 * k)
        for st in v.statements[:4]:
            for i, line in enumerate(_wrap(st, wmax - int(10 * k), 0.5 * k)[:3]):
                _text(img, ("- " if i == 0 else "  ") + line, (x, y), 0.5 * k, WHITE)
                y += int(20 * k)
            if y > y1 - int(110 * k):
                break
        # class probabilities, highest first, as bars
        probs = sorted(
            ((str(a), float(b)) for a, b in (v.probabilities or {}).items()), key=lambda t: -t[1]
        )[:4]
        if probs:
            y = max(y + int(6 * k), y1 - int(len(probs) * 24 * k) - int(4 * k))
            for name, p in probs:
                bar_w = int((wmax - int(70 * k)) * max(0.0, min(1.0, p)))
                bx = x + int(70 * k)
                positive = name in v.labels if v.labels is not None else p >= 0.5
                cv2.rectangle(
                    img,
                    (bx, y - int(13 * k)),
                    (bx + bar_w, y + int(3 * k)),
                    AMBER if positive else (110, 110, 110),
                    -1,
                )
                _text(img, _fit(name, int(66 * k), 0.45 * k), (x, y), 0.45 * k, WHITE)
                _text(img, f"{p:.0%}", (bx + 4, y), 0.45 * k, WHITE)
                y += int(24 * k)
