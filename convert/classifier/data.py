"""PTB-XL loading for the classifier: diagnostic-superclass labels from `scp_codes` and signals at
the classifier's 100 Hz representation, cached as one .npz per data directory."""

from __future__ import annotations

import ast
import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import CLASSES

log = logging.getLogger(__name__)

DEFAULT_DATA = "../shared/data/ptbxl500"


def digitized_records_dir(path: str | None) -> str | None:
    """Where digitized records are: `path` itself, or its photo/ family folder when given the
    top of an `ecg-convert evaluate-digitizer --save-dir` tree."""
    if path and (Path(path) / "photo").is_dir():
        return str(Path(path) / "photo")
    return path


@dataclass
class PtbxlMeta:
    """One PTB-XL record's metadata as needed here."""

    ecg_id: int
    fold: int
    path_hr: str
    scp_codes: dict[str, float]
    heart_axis: str
    labels: np.ndarray  # (5,) float32 multi-hot over CLASSES


def check_data(data_dir: str | Path) -> Path:
    """`data_dir` if it holds ptbxl_database.csv, else raise a BadInputError saying how to get it."""
    from edge.errors import BadInputError

    d = Path(data_dir)
    if not (d / "ptbxl_database.csv").is_file() or not (d / "scp_statements.csv").is_file():
        raise BadInputError(
            "no_data",
            f"no PTB-XL data at {d} (ptbxl_database.csv/scp_statements.csv missing)",
            f"pass --data pointing at a PTB-XL directory (default {DEFAULT_DATA})",
        )
    return d


def diagnostic_map(data_dir: str | Path) -> dict[str, str]:
    """scp code -> diagnostic superclass, for the statements PTB-XL marks as diagnostic."""
    out = {}
    with open(Path(data_dir) / "scp_statements.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code = row.get("") or row.get("Unnamed: 0") or next(iter(row.values()))
            if (
                row.get("diagnostic")
                and float(row["diagnostic"] or 0) == 1.0
                and row.get("diagnostic_class")
            ):
                out[code] = row["diagnostic_class"]
    return out


def load_meta(data_dir: str | Path) -> list[PtbxlMeta]:
    """All records of ptbxl_database.csv with superclass labels.

    As in PTB-XL's own benchmark code, every diagnostic statement counts whatever its likelihood
    (likelihood 0 means 'unknown', not 'absent')."""
    d = check_data(data_dir)
    dmap = diagnostic_map(d)
    out = []
    with open(d / "ptbxl_database.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            codes = ast.literal_eval(row["scp_codes"]) if row["scp_codes"] else {}
            lab = np.zeros(len(CLASSES), np.float32)
            for c in codes:
                cls = dmap.get(c)
                if cls in CLASSES:
                    lab[CLASSES.index(cls)] = 1.0
            out.append(
                PtbxlMeta(
                    int(row["ecg_id"]),
                    int(row["strat_fold"]),
                    row["filename_hr"],
                    codes,
                    row.get("heart_axis") or "",
                    lab,
                )
            )
    return out


def load_signals100(
    data_dir: str | Path, metas: list[PtbxlMeta], cache: str | Path | None = None
) -> np.ndarray:
    """(n_records, 1000, 12) mV at 100 Hz (resampled from the 500 Hz files by the device's own code)."""
    from edge.interpret.features import FS, fix_length
    from edge.interpret.signals import resample, validate
    from edge.wfdb_io import read_record

    ids = np.array([m.ecg_id for m in metas])
    if cache is not None and Path(cache).is_file():
        z = np.load(cache)
        if np.array_equal(z["ids"], ids):
            return z["x"]
    xs = []
    for i, m in enumerate(metas):
        rec = read_record(Path(data_dir) / m.path_hr)
        p = validate(rec.signals, rec.fs, rec.lead_names)
        x = fix_length(resample(p.signals, p.fs, FS))
        xs.append(np.nan_to_num(x, nan=0.0).astype(np.float32))
        if i % 100 == 0:
            log.info("loaded %d/%d records", i, len(metas))
    x = np.stack(xs)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, ids=ids, x=x)
    return x
