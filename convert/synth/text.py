"""Printed text on a page (header with patient fields, speed/gain footer, lead labels) and
handwritten notes over it, as real printouts carry. Fake names and numbers only, seeded."""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_IDS = {
    "simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "duplex": cv2.FONT_HERSHEY_DUPLEX,
    "plain": cv2.FONT_HERSHEY_PLAIN,
    "complex": cv2.FONT_HERSHEY_COMPLEX,
    "triplex": cv2.FONT_HERSHEY_TRIPLEX,
}
HAND_FONTS = (cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
_CAP_PX_PER_SCALE = 22.0  # Hershey simplex capital height at fontScale 1

_SURNAMES = (
    "MENSAH",
    "OKAFOR",
    "BANDA",
    "NGUYEN",
    "SILVA",
    "KHAN",
    "MWANGI",
    "PEREZ",
    "HASSAN",
    "SOW",
    "DIALLO",
    "ROSSI",
    "KOWALSKI",
    "MUNOZ",
    "TEMBO",
    "ABEBE",
    "OSEI",
    "PHIRI",
    "RAHMAN",
    "LOPEZ",
)
_GIVEN = (
    "AMA",
    "JOHN",
    "FATIMA",
    "GRACE",
    "PETER",
    "AISHA",
    "JOSEPH",
    "MARIA",
    "ISAAC",
    "ESTHER",
    "KOFI",
    "LINDA",
)
_NOTES = (
    "repeat ECG",
    "?AF",
    "pt asymptomatic",
    "chest pain 2h",
    "compare old",
    "seen",
    "Dr review",
    "ok",
    "LBBB?",
    "K+ 5.9",
    "post-op day 1",
    "cx pain",
    "NSR",
    "urgent",
    "call cardiology",
    "bed 4",
    "fasting",
    "10:45",
    "rpt in 1h",
    "!!",
)
_STATEMENTS = (
    "Sinus rhythm",
    "Sinus tachycardia",
    "Sinus bradycardia",
    "Atrial fibrillation",
    "Normal ECG",
    "Left axis deviation",
    "Nonspecific T wave abnormality",
    "Possible anterior infarct - age undetermined",
    "Borderline ECG",
    "Abnormal ECG",
    "Right bundle branch block",
    "Left ventricular hypertrophy",
    "Premature ventricular complexes",
    "ST elevation, consider acute injury",
)
_DEVICES = (
    "CardioScan 1200",
    "ECG-100",
    "Cardiofax S",
    "MAC 1600",
    "PageWriter TC",
    "CardioLine 12",
)


def cap_scale(height_px: float, font: int = FONT) -> float:
    """fontScale giving capitals `height_px` tall in `font`."""
    cap = cv2.getTextSize("H", font, 1.0, 1)[0][1] or _CAP_PX_PER_SCALE
    return max(0.2, height_px / cap)


def put_text(
    img: np.ndarray,
    text: str,
    x: float,
    y: float,
    height_px: float,
    colour,
    *,
    font=FONT,
    thickness: int | None = None,
) -> list[float]:
    """Draw `text` with its baseline at (x, y); return its box [x0, y0, x1, y1] in px."""
    scale = cap_scale(height_px, font)
    th = thickness or max(1, int(round(height_px / 12)))
    (w, h), base = cv2.getTextSize(text, font, scale, th)
    cv2.putText(img, text, (int(round(x)), int(round(y))), font, scale, colour, th, cv2.LINE_AA)
    return [round(x, 1), round(y - h, 1), round(x + w, 1), round(y + base, 1)]


def header_lines(
    rng: np.random.Generator, speed: float, gain: float
) -> tuple[list[str], list[str], str]:
    """Patient/measurement lines (left, right) and the footer line, seeded."""
    name = f"Name: {rng.choice(_SURNAMES)}, {rng.choice(_GIVEN)}"
    pid = f"ID: {rng.integers(100000, 999999)}"
    year = int(rng.integers(1935, 2010))
    dob = f"DOB: {year}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}   Sex: {rng.choice(['F', 'M'])}"
    date = (
        f"{2026 - int(rng.integers(0, 4))}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d} "
        f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}"
    )
    hr = int(rng.integers(48, 120))
    left = [
        name,
        f"{pid}   {dob}",
        f"Recorded: {date}   Ward: {rng.choice(['OPD', 'A&E', 'MED 2', 'CCU', 'ANC'])}",
    ]
    right = [
        f"Vent. rate {hr} bpm   PR {rng.integers(120, 210)} ms   QRS {rng.integers(70, 130)} ms",
        f"QT/QTc {rng.integers(320, 440)}/{rng.integers(380, 480)} ms   "
        f"P-R-T axes {rng.integers(-30, 90)} {rng.integers(-30, 100)} {rng.integers(-30, 90)}",
    ]
    footer = (
        f"{speed:g} mm/s   {gain:g} mm/mV   0.05-150 Hz   {rng.choice(['50', '60'])} Hz   "
        f"{rng.choice(_DEVICES)}   Page 1 of 1"
    )
    return left, right, footer


def draw_header_footer(
    img: np.ndarray,
    rng: np.random.Generator,
    px_per_mm: float,
    page_w_px: int,
    grid_rect,
    header_mm: float,
    footer_mm: float,
    speed: float,
    gain: float,
    colour,
    header: bool,
    footer: bool,
    font: int = FONT,
    interpretation: bool = False,
) -> list[dict]:
    """Draw header and footer text (plus machine statements when `interpretation`); return
    [{'text', 'box'}] for everything drawn."""
    left, right, foot = header_lines(rng, speed, gain)
    if interpretation:
        right = right + [
            str(v) for v in rng.choice(_STATEMENTS, size=int(rng.integers(1, 3)), replace=False)
        ]
        if rng.random() < 0.5:
            right[-1] += "   ** Unconfirmed **"
    out = []
    h = min(3.0, header_mm / 8) * px_per_mm
    x_left = grid_rect[0]
    if header:
        n_lines = max(len(left), len(right))
        h = min(h, header_mm / (2.0 * n_lines + 1) * px_per_mm)
        y = max(h * 1.4, (header_mm * px_per_mm - 1.8 * h * n_lines) / 2 + h)
        for i, line in enumerate(left):
            out.append(
                {
                    "text": line,
                    "box": put_text(img, line, x_left, y + i * 1.8 * h, h, colour, font=font),
                }
            )
        x_right = grid_rect[0] + 0.52 * (grid_rect[2] - grid_rect[0])
        for i, line in enumerate(right):
            out.append(
                {
                    "text": line,
                    "box": put_text(
                        img, line, x_right, y + i * 1.8 * h, h * 0.9, colour, font=font
                    ),
                }
            )
    if footer:
        yf = grid_rect[3] + min(footer_mm * 0.6, 6.0) * px_per_mm
        out.append(
            {"text": foot, "box": put_text(img, foot, x_left, yf, h * 0.85, colour, font=font)}
        )
    return out


def draw_handwriting(
    img: np.ndarray, rng: np.random.Generator, n_notes: int, px_per_mm: float
) -> list[dict]:
    """Handwritten notes and pen scribbles (blue/black ink) anywhere on the page; returns what was drawn."""
    h, w = img.shape[:2]
    drawn = []
    for _ in range(n_notes):
        ink = tuple(
            int(c) for c in rng.choice([(140, 60, 20), (40, 30, 30), (160, 40, 40), (30, 30, 150)])
        )
        x, y = float(rng.uniform(0.02, 0.8) * w), float(rng.uniform(0.05, 0.95) * h)
        if rng.random() < 0.7:
            text = str(rng.choice(_NOTES))
            ht = float(rng.uniform(3.0, 7.0) * px_per_mm)
            font = HAND_FONTS[int(rng.integers(0, 2))]
            th = max(1, int(round(ht / 10)))
            box = put_text(img, text, x, y, ht, ink, font=font, thickness=th)
            drawn.append({"kind": "note", "text": text, "box": box, "ink": list(ink)})
        else:  # a scribble: circle around something, an arrow or an underline, drawn as a wobbly stroke
            n = int(rng.integers(12, 40))
            kind = str(rng.choice(["circle", "underline", "tick"]))
            size = float(rng.uniform(8, 30) * px_per_mm)
            s = np.linspace(0, 1, n)
            if kind == "circle":
                a = 2 * np.pi * s * rng.uniform(1.0, 1.2)
                pts = np.stack([x + size * np.cos(a), y + 0.5 * size * np.sin(a)], 1)
            elif kind == "underline":
                pts = np.stack(
                    [x + size * s, y + rng.normal(0, 0.3 * px_per_mm, n).cumsum() * 0.3], 1
                )
            else:
                pts = np.array(
                    [[x, y], [x + 0.3 * size, y + 0.3 * size], [x + size, y - 0.6 * size]]
                )
            pts = pts + rng.normal(0, 0.25 * px_per_mm, pts.shape)
            th = max(1, int(round(rng.uniform(0.3, 0.6) * px_per_mm)))
            cv2.polylines(
                img, [np.round(pts * 16).astype(np.int32)], False, ink, th, cv2.LINE_AA, 4
            )
            drawn.append(
                {
                    "kind": kind,
                    "box": [round(float(v), 1) for v in (*pts.min(0), *pts.max(0))],
                    "ink": list(ink),
                }
            )
    return drawn
