"""Paper speed and gain from the printed text ("25 mm/s  10 mm/mV"): every electrocardiograph
prints them beside the traces, and where a page has no calibration pulse (gain) or is printed at
50 mm/s (speed, which nothing else on the page shows) the text is the only cue. Words are found
as lines of small ink blobs outside the trace rows and read by a small int8 word classifier
(`textcues` in models/); a value is used only when every unit printed on the page is read with
its number and they all agree."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import ModelError
from .numeric import percentile

log = logging.getLogger(__name__)

CLASSES = [
    "other",
    "25",
    "50",
    "5",
    "10",
    "20",
    "mm/s",
    "mm/mV",
    "25mm/s",
    "50mm/s",
    "5mm/mV",
    "10mm/mV",
    "20mm/mV",
]
WORD_H, WORD_W = 24, 144
MODEL_NAME = "textcues"
JOIN_MM = 0.5  # letters of a word are closer than this to each other (x 2)
WIDE_JOIN_MM = 1.0  # ... also tried, for units split by a grid line or a wide letter gap
MIN_PROB = 0.9  # a word counts only when the classifier is this sure of it
SPEEDS = {"25": 25.0, "50": 50.0}
GAINS = {"5": 5.0, "10": 10.0, "20": 20.0}
WORD_BATCH = 32  # words per classifier call: the interpreter's arena is sized for one batch and
# kept, so one call for a page's hundreds of words would hold ~90 kB a word for the process's life


def normalise_word(ink: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Crop `box` (x0, y0, x1, y1) of an ink-darkness image with a margin, scale it to WORD_H
    rows (keeping its aspect, squeezed only if wider than WORD_W), left-align it on a blank
    WORD_H x WORD_W canvas and stretch its contrast to 0..1."""
    x0, y0, x1, y1 = box
    h = max(1, y1 - y0)
    m = max(1, int(round(0.2 * h)))
    H, W = ink.shape[:2]
    crop = ink[max(0, y0 - m) : min(H, y1 + m), max(0, x0 - m) : min(W, x1 + m)].astype(np.float32)
    out = np.zeros((WORD_H, WORD_W), np.float32)
    if crop.size == 0:
        return out
    s = WORD_H / crop.shape[0]
    w = max(1, min(WORD_W, int(round(crop.shape[1] * s))))
    small = cv2.resize(crop, (w, WORD_H), interpolation=cv2.INTER_AREA)
    lo, hi = float(percentile(small, 5)), float(small.max())
    out[:, :w] = np.clip((small - lo) / max(hi - lo, 1e-3), 0.0, 1.0)
    return out


@dataclass
class PrintedScale:
    """Speed and gain stated on the page (None where not read with confidence)."""

    speed_mm_s: float | None = None
    gain_mm_mv: float | None = None
    words: list[dict] = field(default_factory=list)  # what was read, for the JSON details


def find_words(
    ink: np.ndarray,
    keep_out: list[tuple[float, float]],
    px_per_mm: float,
    thr: float = 0.35,
    join_mm: float = JOIN_MM,
) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of text words in an ink-darkness image (0 paper .. 1 ink): blobs
    0.8-6 mm tall joined along a line across gaps up to 2 x `join_mm`, centred outside the
    `keep_out` y-bands (the trace rows; text printed close to a row is not cut by them)."""
    mask = (ink >= thr).astype(np.uint8)
    n, lab, st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    hs, ws = st[1:, cv2.CC_STAT_HEIGHT], st[1:, cv2.CC_STAT_WIDTH]
    glyph = (hs >= 0.8 * px_per_mm) & (hs <= 6 * px_per_mm) & (ws <= 8 * px_per_mm)
    small = (
        (hs < 0.8 * px_per_mm) & (ws < 0.8 * px_per_mm) & (st[1:, cv2.CC_STAT_AREA] >= 2)
    )  # dots, "."
    keep = np.zeros(n, bool)
    keep[1:] = glyph | small
    chars = (keep[lab]).astype(np.uint8)
    del mask, lab  # page-sized int32 labels: not alive beside the second labelling
    if not chars.any():
        return []
    # Characters of a word sit closer than a space: close the gaps between them, not across
    # lines (the kernel is one row tall).
    gap = max(2, int(round(join_mm * px_per_mm)))
    joined = cv2.morphologyEx(chars, cv2.MORPH_CLOSE, np.ones((1, 2 * gap + 1), np.uint8))
    n, lab, st, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, w, h = st[i, :4]
        if h < 0.8 * px_per_mm or h > 6 * px_per_mm or w > 45 * px_per_mm:
            continue
        cy = y + 0.5 * h
        if any(a <= cy <= b for a, b in keep_out):
            continue
        boxes.append((int(x), int(y), int(x + w), int(y + h)))
    return boxes


def _right_neighbours(boxes: np.ndarray, which) -> list[int | None]:
    """For each word index i in `which`: the index of the word that follows word i on its line
    (starts within four letter heights to its right, centred within half a letter height; the
    first of the nearest), or None. `boxes`: the words' (N, 4) boxes; one vectorised pass over
    the words per index (a page may hold 2,000 blobs)."""
    gaps = boxes[:, 0]
    mid = 0.5 * (boxes[:, 1] + boxes[:, 3])
    out: list[int | None] = []
    for i in which:
        box = boxes[i]
        h = max(1, int(box[3] - box[1]))
        cy = 0.5 * (box[1] + box[3])
        gap = gaps - box[2]
        ok = (-0.3 * h <= gap) & (gap <= 4 * h) & ~(np.abs(mid - cy) > 0.5 * h)
        ok[i] = False
        idx = np.flatnonzero(ok)
        out.append(int(idx[np.argmin(gap[idx])]) if len(idx) else None)  # first of the nearest
    return out


def _pairs(words: list[tuple[tuple[int, int, int, int], str, float]]) -> PrintedScale:
    """Speed and gain from words read. Every unit printed on the page must be explained: a
    joined token ("25mm/s") gives its value, a unit word ("mm/s") the number read just before it
    on its line, and a unit whose number cannot be read gives "unknown". A value is taken only
    when all occurrences of its unit agree on it."""
    boxes = np.array([w[0] for w in words], np.int64).reshape(-1, 4)
    right = _right_neighbours(boxes, range(len(words)))
    seen: dict[str, set[str]] = {"s": set(), "mV": set()}
    for j, (_, name, p) in enumerate(words):
        if p < MIN_PROB or "mm/" not in name:
            continue
        if name in ("mm/s", "mm/mV"):
            unit = name[3:]
            left = [i for i, r in enumerate(right) if r == j]
            num = words[left[0]][1] if left and words[left[0]][2] >= MIN_PROB else None
            ok = num in (SPEEDS if unit == "s" else GAINS)
            seen[unit].add(num if ok and num is not None else "?")
        else:
            num, unit = name.split("mm/", 1)
            seen[unit].add(num)
    out = PrintedScale()
    if len(seen["s"]) == 1 and "?" not in seen["s"]:
        out.speed_mm_s = SPEEDS[seen["s"].pop()]
    if len(seen["mV"]) == 1 and "?" not in seen["mV"]:
        out.gain_mm_mv = GAINS[seen["mV"].pop()]
    return out


def _inside(
    inner: tuple[int, int, int, int], outer: tuple[int, int, int, int], tol: int = 2
) -> bool:
    return (
        inner[0] >= outer[0] - tol
        and inner[1] >= outer[1] - tol
        and inner[2] <= outer[2] + tol
        and inner[3] <= outer[3] + tol
    )


def _count_inside(inner: np.ndarray, outer: tuple[int, int, int, int], tol: int = 2) -> int:
    """How many of the boxes `inner` ((N, 4) array) are _inside `outer`."""
    return int(
        np.count_nonzero(
            (inner[:, 0] >= outer[0] - tol)
            & (inner[:, 1] >= outer[1] - tol)
            & (inner[:, 2] <= outer[2] + tol)
            & (inner[:, 3] <= outer[3] + tol)
        )
    )


def merge_split_units(words: list, wide: list) -> list:
    """Replace the pieces of a word by the word read whole at the wider join, where that whole is
    confidently a unit or a number joined to its unit and covers two or more pieces."""
    out = list(words)
    for wb, name, p in wide:
        if p < MIN_PROB or "mm/" not in name:
            continue
        parts = [w for w in out if _inside(w[0], wb)]
        if len(parts) >= 2:
            out = [w for w in out if not _inside(w[0], wb)] + [(wb, name, p)]
    return out


def read_printed_scale(
    ink: np.ndarray, row_centres: list[float], pitch: float, px_per_mm: float, classify
) -> PrintedScale:
    """Speed and gain printed on a rectified page. `ink`: ink darkness (0..1); `classify`: maps
    (N, WORD_H, WORD_W) float32 words to (N, len(CLASSES)) probabilities."""
    half = 0.2 * pitch if pitch > 0 else 4 * px_per_mm
    keep_out = [(c - half, c + half) for c in row_centres]
    boxes = find_words(ink, keep_out, px_per_mm)
    if not boxes:
        return PrintedScale()
    # Also the words found with wider joins: a unit that a dark grid line or a wide letter gap
    # split ("mm/m" + "V") is whole there.
    inner = np.array(boxes, np.int64).reshape(-1, 4)
    wide = [
        b
        for b in find_words(ink, keep_out, px_per_mm, join_mm=WIDE_JOIN_MM)
        if _count_inside(inner, b) >= 2
    ]
    allb = boxes + wide
    # WORD_BATCH words at a time: a page may hold a thousand blobs (14 kB each as a word image).
    P = np.concatenate(
        [
            classify(np.stack([normalise_word(ink, b) for b in allb[i : i + WORD_BATCH]]))
            for i in range(0, len(allb), WORD_BATCH)
        ]
    )
    k = np.argmax(P, axis=1)
    read = [(b, CLASSES[int(j)], float(P[i, j])) for i, (b, j) in enumerate(zip(allb, k))]
    words = merge_split_units(read[: len(boxes)], read[len(boxes) :])
    out = _pairs(words)
    out.words = [
        {"box": list(b), "read": n, "p": round(p, 3)}
        for b, n, p in words
        if n != "other" and p >= MIN_PROB
    ]
    return out


_loaded: dict[str, object] = {}


def default_classifier():
    """The installed word model as `classify(words) -> probabilities`, or None when it is missing
    or fails its checks (logged once; the page is then read without the printed cue)."""
    if "fn" not in _loaded:
        try:
            from ..models import load_model

            model = load_model(MODEL_NAME)
        except ModelError as exc:
            log.warning("printed speed/gain not read: %s", exc)
            _loaded["fn"] = None
        else:
            _loaded["fn"] = lambda X: classify_in_batches(model, X)
    return _loaded["fn"]


def classify_in_batches(model, X: np.ndarray) -> np.ndarray:
    """The word model's probabilities for words `X` (N, WORD_H, WORD_W), WORD_BATCH words a call,
    the last batch padded with blank words, so the interpreter keeps one fixed input shape (each
    word's output does not depend on the others in its batch)."""
    X = np.asarray(X, np.float32)
    out = []
    for i in range(0, len(X), WORD_BATCH):
        part = X[i : i + WORD_BATCH]
        batch = np.zeros((WORD_BATCH, *X.shape[1:], 1), np.float32)
        batch[: len(part), ..., 0] = part
        out.append(np.asarray(model.run(batch), np.float64)[: len(part)])
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)))
