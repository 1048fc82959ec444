"""Real phone photos of printed ECGs with ground truth (the `real` digitizer benchmark family).

The folder (default ../shared/data/ecg-paper-dev) holds `photos.csv` (image_filename, record,
labels and the photo's attributes: rotation, fold, wrinkle, hw_text, device), `images/*.jpg` and
`signals/<record>.hea/.dat`: the printed record in mV with NaN where the page shows nothing.
Nothing from it is ever copied into the repository: code takes the folder as an argument."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.layouts import LEAD_NAMES, canonical_lead

PHOTO_ATTRIBUTES = ("rotation", "fold", "wrinkle", "hw_text")


@dataclass(frozen=True)
class RealPhoto:
    """One photo and where its ground truth lies."""

    name: str  # image file name, e.g. 02945_hr-0.jpg
    image_path: Path
    truth_path: Path  # WFDB record path without extension
    labels: tuple[str, ...]  # diagnostic superclasses from photos.csv
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def record_number(self) -> int:
        """The PTB-XL ecg_id the photo shows (from a record name like 02945_hr), 0 if none."""
        digits = "".join(ch for ch in Path(self.truth_path).name.split("_")[0] if ch.isdigit())
        return int(digits) if digits else 0


def missing_real_data(folder: str | os.PathLike | None) -> str | None:
    """Why the real-photo folder cannot be used (a message for the user), or None when it can."""
    if not folder:
        return "no real-photo folder given: pass --real DIR (e.g. ../shared/data/ecg-paper-dev)"
    d = Path(folder)
    if not (d / "photos.csv").is_file():
        return (
            f"no real photos at {d} (photos.csv not found): pass --real DIR pointing at the "
            "ecg-paper-dev folder with photos.csv, images/ and signals/"
        )
    return None


def load_real_photos(folder: str | os.PathLike) -> list[RealPhoto]:
    """Every photo listed in photos.csv, in file-name order; FileNotFoundError naming what is
    missing when the folder, an image or a truth record is absent."""
    why = missing_real_data(folder)
    if why:
        raise FileNotFoundError(why)
    d = Path(folder)
    photos = []
    with open(d / "photos.csv", newline="") as f:
        for row in csv.DictReader(f):
            img = d / "images" / row["image_filename"]
            truth = d / "signals" / row["record"]
            for need in (img, truth.with_suffix(".hea")):
                if not need.is_file():
                    raise FileNotFoundError(f"{need} listed in {d / 'photos.csv'} is missing")
            labels = tuple(s.strip() for s in row.get("labels", "").split(",") if s.strip())
            attrs = {k: row.get(k, "") for k in (*PHOTO_ATTRIBUTES, "device")}
            photos.append(RealPhoto(row["image_filename"], img, truth, labels, attrs))
    photos.sort(key=lambda p: p.name)
    return photos


def truth_in_lead_order(signals: np.ndarray, lead_names: list[str]) -> np.ndarray:
    """A ground-truth record's columns put in LEAD_NAMES order ('AVR' -> aVR, ...); a lead the
    record lacks is all NaN (not scored). ValueError when a lead appears twice."""
    out = np.full((signals.shape[0], len(LEAD_NAMES)), np.nan)
    seen: set[str] = set()
    for j, raw in enumerate(lead_names):
        name = canonical_lead(raw)
        if name is None:
            continue
        if name in seen:
            raise ValueError(f"lead {name} appears twice in the ground truth ({lead_names})")
        seen.add(name)
        out[:, LEAD_NAMES.index(name)] = signals[:, j]
    return out


def read_truth(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """A NaN-masked ground-truth WFDB record -> ((n, 12) mV in LEAD_NAMES order, fs)."""
    from edge.wfdb_io import read_record

    rec = read_record(path)
    return truth_in_lead_order(rec.signals, rec.lead_names), rec.fs
