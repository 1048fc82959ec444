"""Where everything sits on a flat page: grid block, rows, lead segments, calibration pulses.

All positions are in flat-page pixels with pixel centres at integer coordinates (OpenCV's drawing
convention), so a sample drawn at (x, y) has its trace centre exactly at column x, row y.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.layouts import Layout

from .style import PAGE_SIZES_MM, PageStyle

CAL_ZONE_MM = 10.0  # left of the traces: room for the calibration pulse
GRID_RIGHT_MM = 5.0  # grid beyond the last sample


@dataclass
class Segment:
    """One printed lead segment: lead `lead` shown from t0_s to t1_s in row `row`, column `col`."""

    lead: str
    row: int
    col: int
    t0_s: float
    t1_s: float
    x0_px: float
    box: tuple[float, float, float, float]
    baseline_y: float

    def to_dict(self) -> dict:
        return {
            "row": self.row,
            "col": self.col,
            "box": [float(v) for v in self.box],
            "baseline_y": float(self.baseline_y),
            "t0_s": float(self.t0_s),
            "t1_s": float(self.t1_s),
            "x0_px": float(self.x0_px),
        }


@dataclass
class PageGeometry:
    """Pixel geometry of one page for a layout and style."""

    width_px: int
    height_px: int
    px_per_mm: float
    page_mm: tuple[float, float]
    grid_rect_px: tuple[float, float, float, float]  # x0, y0, x1, y1 of the gridded area
    block_rect_px: tuple[
        float, float, float, float
    ]  # x0, y0, x1, y1 of the printed block (pulses + traces)
    trace_x0_px: float
    printed_seconds: float
    row_pitch_px: float
    baselines_px: list[float]
    segments: list[Segment]
    calibration: list[dict]

    def to_px(self, mm: float) -> float:
        return mm * self.px_per_mm


def page_geometry(layout: Layout, style: PageStyle) -> PageGeometry:
    """Lay out `layout` on the page described by `style` (rows share the grid height evenly)."""
    pw_mm, ph_mm = PAGE_SIZES_MM[style.page]
    k = style.px_per_mm
    width_px, height_px = int(round(pw_mm * k)), int(round(ph_mm * k))
    grid_w_mm = CAL_ZONE_MM + style.trace_width_total_mm + GRID_RIGHT_MM
    gx0_mm = (pw_mm - grid_w_mm) / 2 + style.grid_margin_x_mm
    gx0_mm = (
        min(max(gx0_mm, 2.0), pw_mm - grid_w_mm - 2.0)
        if pw_mm > grid_w_mm + 4
        else max((pw_mm - grid_w_mm) / 2, 0)
    )
    avail_h = ph_mm - style.header_mm - style.footer_mm
    grid_h_mm = max(5.0, 5.0 * int(avail_h // 5.0))
    gy0_mm = style.header_mm + (avail_h - grid_h_mm) / 2
    grid_rect = block = (gx0_mm * k, gy0_mm * k, (gx0_mm + grid_w_mm) * k, (gy0_mm + grid_h_mm) * k)
    if (
        style.grid_extent == "page"
    ):  # pre-printed grid paper: the grid covers the sheet, not aligned to traces
        ox, oy = (v % 5.0 for v in style.grid_offset_mm)
        grid_rect = ((4.0 + ox) * k, (4.0 + oy) * k, (pw_mm - 4.0) * k, (ph_mm - 4.0) * k)
    trace_x0 = (gx0_mm + CAL_ZONE_MM) * k
    gy0_px = gy0_mm * k
    seconds = style.trace_width_total_mm / style.speed_mm_s
    rows = layout.all_rows()
    pitch_mm = grid_h_mm / len(rows)
    pitch = pitch_mm * k
    baselines = [(gy0_mm + pitch_mm * (r + style.baseline_frac)) * k for r in range(len(rows))]
    px_per_s = style.speed_mm_s * k
    segments: list[Segment] = []
    for r, leads in enumerate(rows):
        n = len(leads)
        for c, lead in enumerate(leads):
            t0, t1 = seconds * c / n, seconds * (c + 1) / n
            x0 = trace_x0 + t0 * px_per_s
            box = (x0, gy0_px + r * pitch, trace_x0 + t1 * px_per_s, gy0_px + (r + 1) * pitch)
            segments.append(Segment(lead, r, c, t0, t1, x0, box, baselines[r]))
    cal = []
    if style.calibration:
        plateau_mm = min(0.2 * style.speed_mm_s, 6.0)
        lead_in = (CAL_ZONE_MM - plateau_mm) / 2
        for r, y in enumerate(baselines):
            xa = (gx0_mm + lead_in * 0.5) * k
            xr = (gx0_mm + lead_in) * k
            xf = xr + plateau_mm * k
            cal.append(
                {
                    "row": r,
                    "x_start": float(xa),
                    "x_rise": float(xr),
                    "x_fall": float(xf),
                    "x_end": float(trace_x0 - 0.5 * k),
                    "baseline_y": float(y),
                    "top_y": float(y - style.gain_mm_mv * k),
                    "mv": 1.0,
                }
            )
    return PageGeometry(
        width_px,
        height_px,
        k,
        (pw_mm, ph_mm),
        grid_rect,
        block,
        trace_x0,
        seconds,
        pitch,
        baselines,
        segments,
        cal,
    )
