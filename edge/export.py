"""CSV and EDF copies of a record for users of other tools (spreadsheets, EDF viewers).

Both are made in memory from the WFDB record (a 10 s 12-lead record is ~0.5 MB of CSV, 120 kB of
EDF) so the sync can hash and copy them like any other file. EDF is written here (plain EDF,
16-bit, one-second data records) rather than through wfdb's converter, which reads from and
writes to paths of its own choosing; samples not available (NaN) are written as 0 mV, and the
header says so.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from edge.wfdb_io import EcgRecord

FORMATS = ("csv", "edf")
EDF_PHYS_MAX_MV = 32.767  # matches the WFDB store: 1 uV per digital unit
EDF_DIG_MAX = 32767


def to_csv(record: EcgRecord) -> bytes:
    """`time_s,I,II,...` with one row per sample, mV to 1 uV; empty cells where a lead was not printed."""
    sig = np.asarray(record.signals, dtype=np.float64)
    t = np.arange(sig.shape[0]) / float(record.fs)
    rows = np.column_stack([t, np.round(sig, 3)])
    fmt = "%.4f" + ",%.3f" * sig.shape[1]
    header = ",".join(["time_s", *[f"{n}_mV" for n in record.lead_names]])
    lines = [header, *(fmt % tuple(r) for r in rows.tolist())]
    text = "\n".join(lines) + "\n"
    # NaN (lead not printed) -> empty cell; "-0.000" -> "0.000" so files diff cleanly
    text = text.replace(",nan", ",").replace(",-0.000", ",0.000")
    return text.encode("ascii")


def _field(text: str, width: int) -> bytes:
    """EDF header field: printable ASCII, left-aligned, space padded, truncated to `width`."""
    clean = "".join(c if 32 <= ord(c) < 127 else "_" for c in str(text))
    return clean[:width].ljust(width).encode("ascii")


def _num(value: float, width: int = 8) -> bytes:
    text = f"{value:.{max(0, width - 2)}g}" if isinstance(value, float) else str(value)
    if len(text) > width:
        text = f"{value:.3f}"[:width]
    return _field(text, width)


def to_edf(record: EcgRecord, *, record_id: str = "X", start: datetime | None = None) -> bytes:
    """Plain EDF (not EDF+): one-second data records, int16 at 1 uV per unit, NaN written as 0."""
    sig = np.asarray(record.signals, dtype=np.float64)
    fs = float(record.fs)
    if abs(fs - round(fs)) > 1e-9 or fs <= 0:
        raise ValueError(f"EDF export needs an integer sampling rate, got {fs}")
    spr = int(round(fs))  # samples per data record (1 s)
    n, ns = sig.shape
    n_rec = max(1, -(-n // spr))
    padded = np.zeros((n_rec * spr, ns))
    padded[:n] = np.where(np.isfinite(sig), np.clip(sig, -EDF_PHYS_MAX_MV, EDF_PHYS_MAX_MV), 0.0)
    dig = np.round(padded * 1000.0).astype("<i2")  # (n_rec*spr, ns)
    start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
    hdr_bytes = 256 + 256 * ns
    h = bytearray()
    h += _field("0", 8)
    h += _field(
        f"X X X {record_id}", 80
    )  # patient: code sex birthdate name (EDF+ style, anonymous)
    h += _field(
        f"Startdate {start:%d-%b-%Y}".upper().replace("STARTDATE", "Startdate")
        + f" X X ecg-edge paper-ECG digitization {record_id}",
        80,
    )
    h += _field(f"{start:%d.%m.%y}", 8)
    h += _field(f"{start:%H.%M.%S}", 8)
    h += _field(str(hdr_bytes), 8)
    h += _field("", 44)
    h += _field(str(n_rec), 8)
    h += _field("1", 8)
    h += _field(str(ns), 4)
    labels = [f"ECG {name}" for name in record.lead_names]
    h += b"".join(_field(x, 16) for x in labels)
    h += b"".join(_field("paper ECG, digitized", 80) for _ in labels)
    h += b"".join(_field("mV", 8) for _ in labels)
    h += b"".join(_num(-EDF_PHYS_MAX_MV) for _ in labels)
    h += b"".join(_num(EDF_PHYS_MAX_MV) for _ in labels)
    h += b"".join(_field(str(-EDF_DIG_MAX), 8) for _ in labels)
    h += b"".join(_field(str(EDF_DIG_MAX), 8) for _ in labels)
    h += b"".join(_field("gaps written as 0", 80) for _ in labels)
    h += b"".join(_field(str(spr), 8) for _ in labels)
    h += b"".join(_field("", 32) for _ in labels)
    assert len(h) == hdr_bytes
    # data record r holds spr samples of signal 0, then signal 1, ...
    body = dig.reshape(n_rec, spr, ns).transpose(0, 2, 1).tobytes()
    return bytes(h) + body


def export_bytes(
    record: EcgRecord, fmt: str, *, record_id: str, start: datetime | None = None
) -> bytes:
    """The record in `fmt` ('csv' or 'edf')."""
    if fmt == "csv":
        return to_csv(record)
    if fmt == "edf":
        return to_edf(record, record_id=record_id, start=start)
    raise ValueError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
