"""Page style: every visual choice of a printout (paper, grid, trace, text, geometry) as one dataclass.

`PageStyle()` is the canonical look (A4, red grid, 25 mm/s, 10 mm/mV, 200 DPI); `random_style(rng)`
draws the variety real clinics print, so training pages cover more than one synthetic look.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

PAGE_SIZES_MM: dict[str, tuple[float, float]] = {"a4": (297.0, 210.0), "letter": (279.4, 215.9)}
SPEEDS_MM_S = (25.0, 50.0)
GAINS_MM_MV = (5.0, 10.0, 20.0)

# Grid palettes, BGR: paper, minor line, major line, default trace colour.
GRID_STYLES: dict[str, dict[str, tuple[int, int, int]]] = {
    "red": {"paper": (252, 252, 255), "minor": (190, 190, 250), "major": (110, 110, 235)},
    "pink": {"paper": (246, 240, 253), "minor": (215, 195, 247), "major": (170, 140, 235)},
    "orange": {"paper": (245, 251, 255), "minor": (170, 215, 252), "major": (90, 160, 245)},
    "green": {"paper": (246, 252, 246), "minor": (185, 230, 185), "major": (110, 190, 110)},
    "blue": {"paper": (255, 251, 246), "minor": (240, 210, 180), "major": (210, 150, 100)},
    "grey": {"paper": (250, 250, 250), "minor": (205, 205, 205), "major": (150, 150, 150)},
    "bw": {"paper": (255, 255, 255), "minor": (185, 185, 185), "major": (60, 60, 60)},
    "thermal": {"paper": (222, 236, 240), "minor": (200, 205, 222), "major": (170, 172, 205)},
    "none": {"paper": (255, 255, 255), "minor": (255, 255, 255), "major": (255, 255, 255)},
}

FONTS = ("simplex", "duplex", "plain", "complex", "triplex")

TRACE_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (25, 25, 25),
    "navy": (90, 30, 20),
    "darkblue": (120, 50, 20),
    "darkgreen": (40, 80, 20),
    "grey": (70, 70, 70),
    "brown": (40, 60, 90),
}


@dataclass
class PageStyle:
    """All rendering choices for one flat page. Lengths in mm unless named otherwise."""

    page: str = "a4"
    dpi: float = 200.0
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    grid: str = "red"
    dotted_minor: bool = False
    minor_width_mm: float = 0.1
    major_width_mm: float = 0.25
    dot_size_mm: float = 0.3
    paper_bgr: tuple[int, int, int] | None = None  # None: the grid style's palette
    minor_bgr: tuple[int, int, int] | None = None
    major_bgr: tuple[int, int, int] | None = None
    faded: float = 0.0  # 0..1 blotchy fading (thermal paper)
    trace_colour: str = "black"
    trace_bgr: tuple[int, int, int] | None = None
    trace_width_mm: float = 0.3
    text_bgr: tuple[int, int, int] = (30, 30, 30)
    labels: bool = True
    label_height_mm: float = 2.6
    separators: str = "tick"  # tick | line | none
    calibration: bool = True
    header: bool = True
    footer: bool = True
    trace_width_total_mm: float = 250.0  # printed time axis length (10 s at 25 mm/s)
    grid_margin_x_mm: float = 0.0  # shift of the grid block from centred
    header_mm: float = 26.0
    footer_mm: float = 12.0
    baseline_frac: float = 0.55  # baseline position inside a row (0 top, 1 bottom)
    text_seed: int = 0  # patient fields and notes
    font: str = "simplex"  # simplex | duplex | plain | complex | triplex
    label_position: str = "above"  # above | below the baseline at the segment start
    grid_extent: str = "block"  # block: around the traces; page: pre-printed sheet
    grid_offset_mm: tuple[float, float] = (0.0, 0.0)  # page grid: its origin vs the page margin
    interpretation: bool = False  # machine statements in the header

    def colours(self) -> dict[str, tuple[int, int, int]]:
        pal = GRID_STYLES[self.grid]
        return {
            "paper": tuple(self.paper_bgr or pal["paper"]),
            "minor": tuple(self.minor_bgr or pal["minor"]),
            "major": tuple(self.major_bgr or pal["major"]),
            "trace": tuple(self.trace_bgr or TRACE_COLOURS[self.trace_colour]),
        }

    @property
    def px_per_mm(self) -> float:
        return self.dpi / 25.4

    @classmethod
    def from_dict(cls, d: dict) -> "PageStyle":
        """Inverse of `to_dict` (meta["style"] of a rendered page)."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def validate_style(style: PageStyle) -> None:
    """Raise ValueError naming the first unsupported choice (unknown page, grid, speed...)."""
    if style.page not in PAGE_SIZES_MM:
        raise ValueError(
            f"unknown page size {style.page!r}; choose one of {', '.join(PAGE_SIZES_MM)}"
        )
    if style.grid not in GRID_STYLES:
        raise ValueError(
            f"unknown grid style {style.grid!r}; choose one of {', '.join(GRID_STYLES)}"
        )
    if style.trace_bgr is None and style.trace_colour not in TRACE_COLOURS:
        raise ValueError(
            f"unknown trace colour {style.trace_colour!r}; choose one of {', '.join(TRACE_COLOURS)}"
        )
    if not 50 <= style.dpi <= 600:
        raise ValueError(f"dpi {style.dpi} out of range 50-600")
    if not 5 <= style.speed_mm_s <= 100:
        raise ValueError(f"paper speed {style.speed_mm_s} mm/s out of range 5-100")
    if not 1 <= style.gain_mm_mv <= 40:
        raise ValueError(f"gain {style.gain_mm_mv} mm/mV out of range 1-40")
    if style.font not in FONTS:
        raise ValueError(f"unknown font {style.font!r}; choose one of {', '.join(FONTS)}")
    if style.label_position not in ("above", "below"):
        raise ValueError(f"unknown label position {style.label_position!r}; choose above or below")
    if style.grid_extent not in ("block", "page"):
        raise ValueError(f"unknown grid extent {style.grid_extent!r}; choose block or page")
    if style.separators not in ("tick", "line", "none"):
        raise ValueError(f"unknown separator style {style.separators!r}; choose tick, line or none")


def _jitter(rng: np.random.Generator, bgr, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in bgr)


def random_style(rng: np.random.Generator, **fixed) -> PageStyle:
    """Draw a plausible printout style from `rng`; keyword arguments pin individual fields."""
    grid = str(
        rng.choice(
            ["red", "red", "red", "pink", "orange", "green", "blue", "grey", "bw", "thermal"]
        )
    )
    pal = GRID_STYLES[grid]
    speed = float(rng.choice(SPEEDS_MM_S, p=[0.85, 0.15]))
    gain = float(rng.choice(GAINS_MM_MV, p=[0.15, 0.75, 0.10]))
    trace_colour = str(rng.choice(list(TRACE_COLOURS), p=[0.6, 0.1, 0.1, 0.05, 0.1, 0.05]))
    s = PageStyle(
        page=str(rng.choice(["a4", "letter"])),
        dpi=float(rng.choice([100, 150, 200, 200, 250, 300])),
        speed_mm_s=speed,
        gain_mm_mv=gain,
        grid=grid,
        dotted_minor=bool(rng.random() < 0.2),
        minor_width_mm=float(rng.uniform(0.05, 0.15)),
        major_width_mm=float(rng.uniform(0.15, 0.35)),
        dot_size_mm=float(rng.uniform(0.2, 0.4)),
        paper_bgr=_jitter(rng, pal["paper"], 4),
        minor_bgr=_jitter(rng, pal["minor"], 12),
        major_bgr=_jitter(rng, pal["major"], 15),
        faded=float(rng.uniform(0.3, 0.8))
        if grid == "thermal"
        else (float(rng.uniform(0, 0.3)) if rng.random() < 0.1 else 0.0),
        trace_colour=trace_colour,
        trace_width_mm=float(rng.uniform(0.15, 0.5)),
        labels=bool(rng.random() < 0.95),
        label_height_mm=float(rng.uniform(2.0, 3.5)),
        separators=str(rng.choice(["tick", "tick", "line", "none"])),
        calibration=bool(rng.random() < 0.9),
        header=bool(rng.random() < 0.9),
        footer=bool(rng.random() < 0.9),
        grid_margin_x_mm=float(rng.uniform(-3, 3)),
        header_mm=float(rng.uniform(18, 32)),
        footer_mm=float(rng.uniform(8, 14)),
        baseline_frac=float(rng.uniform(0.45, 0.65)),
        text_seed=int(rng.integers(0, 2**31 - 1)),
        font=str(rng.choice(list(FONTS), p=[0.5, 0.2, 0.1, 0.1, 0.1])),
        label_position="below" if rng.random() < 0.15 else "above",
        grid_extent="page" if rng.random() < 0.25 else "block",
        grid_offset_mm=(float(rng.uniform(0, 5)), float(rng.uniform(0, 5))),
        interpretation=bool(rng.random() < 0.6),
    )
    if grid == "thermal":
        s.trace_colour, s.trace_bgr = "grey", _jitter(rng, (60, 70, 90), 15)
    return dataclasses.replace(s, **fixed)
