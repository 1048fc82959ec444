"""Training words for the printed-scale reader: the paper speed and gain tokens an ECG printout
prints beside its traces ("25 mm/s", "10mm/mV", ...) and everything else it prints (names, dates,
filter settings, measurements), rendered in TrueType fonts found on this machine with the
blur, noise, grid and box jitter of a photographed page. The synthesizer draws its pages with
OpenCV's Hershey fonts, which are never used here, so its pages test fonts the model has not seen."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.digitize.textcues import CLASSES, WORD_H, WORD_W, normalise_word

FONT_GLOBS = ("/usr/share/fonts/**/*.ttf", "/usr/share/fonts/**/*.otf")
HERSHEY_FREE = True  # the synthesizer's fonts stay out of training (they are the test)

_NUM_TEXT = {
    "25": ["25", "25.0"],
    "50": ["50", "50.0"],
    "5": ["5", "5.0"],
    "10": ["10", "10.0"],
    "20": ["20", "20.0"],
}
_SPEED_UNITS = ["mm/s", "mm/s", "mm/sec", "mm/S"]
_GAIN_UNITS = ["mm/mV", "mm/mV", "mm/mv", "mm/MV"]
_OTHER_WORDS = [
    "Hz",
    "50Hz",
    "60Hz",
    "0.05-150",
    "0.5-40",
    "0.15-100",
    "150Hz",
    "40Hz",
    "bpm",
    "ms",
    "Page",
    "1",
    "of",
    "Name:",
    "ID:",
    "DOB:",
    "Sex:",
    "F",
    "M",
    "Ward:",
    "OPD",
    "CCU",
    "Vent.",
    "rate",
    "PR",
    "QRS",
    "QT/QTc",
    "axes",
    "P-R-T",
    "Normal",
    "ECG",
    "Sinus",
    "rhythm",
    "Unconfirmed",
    "**",
    "MAC",
    "1600",
    "Cardiofax",
    "Speed:",
    "Gain:",
    "Limb:",
    "Chest:",
    "Filter:",
    "AC",
    "HP",
    "LP",
    "I",
    "II",
    "III",
    "aVR",
    "aVL",
    "aVF",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
    "mm",
    "mV",
    "s",
    "sec",
    "12",
    "15",
    "30",
    "35",
    "40",
    "60",
    "100",
    "150",
    "250",
    "2.5",
    "0.5",
    "mm/s/mV",
    "x1",
    "x2",
    "10s",
    "5s",
    "25mm",
    "50mm",
    # pieces of a unit split by a dark grid line are not that unit
    "mm/m",
    "mm/",
    "/mV",
    "/s",
    "m/s",
    "mm/M",
    "m/mV",
]


@dataclass
class WordSample:
    text: str
    label: int


# Text faces that matplotlib ships (Times-like STIX, Computer Modern roman, sans, typewriter):
# printers use serif, sans and monospaced faces, and the system may only have DejaVu.
_MPL_TEXT_FONTS = (
    "STIXGeneral*.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
    "cmti10.ttf",
)


def find_fonts() -> list[str]:
    """TrueType/OpenType text fonts on this workstation: the system's, and the text faces that
    matplotlib ships (one file per face name)."""
    out: list[str] = []
    for g in FONT_GLOBS:
        out += glob.glob(g, recursive=True)
    try:
        import matplotlib

        mpl = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
        for pat in _MPL_TEXT_FONTS:
            out += [str(p) for p in mpl.glob(pat)]
    except ImportError:
        pass
    by_name: dict[str, str] = {}
    for p in sorted(out):
        if "Math" not in Path(p).name:
            by_name.setdefault(Path(p).name, p)
    return sorted(by_name.values())


def sample_word(rng: np.random.Generator) -> WordSample:
    """A random word and its class: a number, a unit, a number joined to its unit, or anything else."""
    # Most words on a page are not scale words: "other" is drawn 40 % of the time.
    c = 0 if rng.random() < 0.4 else int(rng.integers(1, len(CLASSES)))
    name = CLASSES[c]
    sp = " " if rng.random() < 0.5 else ""
    if name == "other":
        r = rng.random()
        if r < 0.35:
            text = str(rng.choice(_OTHER_WORDS))
        elif r < 0.55:  # measurements that look like a value and a unit: "340/385", "25 ms", "50Hz"
            a, b = int(rng.integers(0, 500)), int(rng.integers(0, 500))
            text = str(
                rng.choice(
                    [
                        f"{a}/{b}",
                        f"{a}/{b}ms",
                        f"{a % 100}/{b % 100}",
                        f"{a}{sp}ms",
                        f"{rng.choice(['5', '10', '20', '25', '50'])}{sp}{rng.choice(['ms', 'Hz', 'mm', 'mV', 'cm/s', 'm/s', 's', 'bpm', 'mm/min'])}",
                        f"{int(rng.integers(1, 29)):02d}/{int(rng.integers(1, 13)):02d}/{int(rng.integers(1990, 2030))}",
                    ]
                )
            )
        elif r < 0.75:  # other numbers, some close in shape to the scale values
            text = str(
                rng.choice(
                    [
                        int(rng.integers(0, 400)),
                        round(float(rng.uniform(0, 30)), 1),
                        f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}",
                    ]
                )
            )
            if text in ("25", "50", "5", "10", "20", "25.0", "50.0", "5.0", "10.0", "20.0"):
                text = "125"
        else:  # random letters
            n = int(rng.integers(1, 9))
            text = "".join(
                rng.choice(
                    list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/.:"), n
                )
            )
    elif name in _NUM_TEXT:
        text = str(rng.choice(_NUM_TEXT[name]))
    elif name == "mm/s":
        text = str(rng.choice(_SPEED_UNITS))
    elif name == "mm/mV":
        text = str(rng.choice(_GAIN_UNITS))
    else:
        num, unit = name.split("mm/", 1)
        u = str(rng.choice(_SPEED_UNITS if unit == "s" else _GAIN_UNITS))
        text = f"{rng.choice(_NUM_TEXT[num])}{sp}{u}"
    return WordSample(text, c)


def render_word(text: str, font_path: str, rng: np.random.Generator) -> np.ndarray:
    """The word as a photographed page would show it around a detected box: ink darkness
    (0 paper .. 1 ink), float32 WORD_H x WORD_W, via the same normalisation the device uses."""
    from PIL import Image, ImageDraw, ImageFont

    size = int(rng.integers(14, 40))
    font = ImageFont.truetype(font_path, size)
    x0, y0, x1, y1 = font.getbbox(text)
    pad = size
    img = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 255)
    ImageDraw.Draw(img).text((pad - x0, pad - y0), text, font=font, fill=0)
    g = np.asarray(img, np.float32) / 255.0
    ink = 1.0 - g
    # Heavier or lighter strokes (printer, toner, thermal head).
    if rng.random() < 0.3:
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    # Slight rotation and shear of a rectified photo.
    h, w = ink.shape
    ang = rng.normal(0, 1.5)
    M = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
    M[0, 1] += rng.normal(0, 0.05)
    ink = cv2.warpAffine(ink, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    # Grid lines behind the text.
    if rng.random() < 0.5:
        period = rng.uniform(0.2, 0.5) * size
        lvl = rng.uniform(0.05, 0.35)
        off = rng.uniform(0, period)
        for x in np.arange(off, w, period):
            ink[:, int(x)] = np.maximum(ink[:, int(x)], lvl)
        for y in np.arange(off, h, period):
            ink[int(y), :] = np.maximum(ink[int(y), :], lvl)
    # Down to the page's working resolution (text 1.5-4 mm tall at 6 px/mm: 9-24 px), blur.
    cap = float(rng.uniform(8, 22))
    s = cap / max(1.0, (y1 - y0))
    ink = cv2.resize(ink, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    if rng.random() < 0.7:
        ink = cv2.GaussianBlur(ink, (0, 0), float(rng.uniform(0.3, 1.5)))
    ink = ink * float(rng.uniform(0.35, 1.0)) + rng.normal(
        0, rng.uniform(0, 0.06), ink.shape
    ).astype(np.float32)
    ink = np.clip(ink, 0, 1)
    # The box a detector would draw: ink bounds, jittered.
    ys, xs = np.nonzero(ink > 0.5 * ink.max())
    if len(xs) == 0:
        return np.zeros((WORD_H, WORD_W), np.float32)
    bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    bh = by1 - by0

    def j() -> int:
        return int(round(rng.normal(0, 0.12 * bh)))

    box = (
        max(0, bx0 + j()),
        max(0, by0 + j()),
        min(ink.shape[1], bx1 + j()),
        min(ink.shape[0], by1 + j()),
    )
    return normalise_word(ink, box)


def make_dataset(n: int, seed: int, fonts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """n rendered words (N, WORD_H, WORD_W) float32 and their class indices."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, WORD_H, WORD_W), np.float32)
    y = np.zeros(n, np.int64)
    for i in range(n):
        w = sample_word(rng)
        X[i] = render_word(w.text, str(rng.choice(fonts)), rng)
        y[i] = w.label
    return X, y
