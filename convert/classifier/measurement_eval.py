"""Agreement of `edge.interpret` measurements and statements with PTB-XL's own annotations
(rhythm and form codes in scp_codes, the heart_axis column), on full records and on the same
records masked to a 3x4+1 page, plus the full-vs-masked consistency of the numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# PTB-XL code -> our statement code(s) that should be present
CODE_PAIRS = {
    "SR": {"SR"},
    "SBRAD": {"SBRAD"},
    "STACH": {"STACH"},
    "AFIB": {"IRREG_AF"},
    "1AVB": {"LPR"},
    "LNGQT": {"LNGQT"},
    "LVOLT": {"LVOLT"},
}
WIDE_QRS_CODES = {"CLBBB", "CRBBB", "IVCD", "WPW"}
LEFT_AXIS = {"ALAD"}
RIGHT_AXIS = {"RAD", "ARAD", "AXR"}


def _mask_3x4_1(sig: np.ndarray) -> np.ndarray:
    from convert.classifier.augment import layout_mask

    m = layout_mask("3x4+1", sig.shape[0])
    return np.where(m, sig, np.nan)


def measure_records(
    data_dir: str | Path, folds: tuple[int, ...], digitized_dir: str | Path | None = None
) -> list[dict]:
    """Per record: PTB-XL codes/axis and our measurements + statement codes, full and 3x4+1 (and
    'digitized' when `digitized_dir` holds `<ecg_id>.hea` read back from a synthesized photo)."""
    from edge.errors import EcgEdgeError
    from edge.interpret import interpret
    from edge.wfdb_io import read_record

    from .data import load_meta

    rows = []
    for m in load_meta(data_dir):
        if m.fold not in folds:
            continue
        rec = read_record(Path(data_dir) / m.path_hr)
        row = {"ecg_id": m.ecg_id, "codes": set(m.scp_codes), "axis": m.heart_axis}
        for view, sig in (("full", rec.signals), ("3x4+1", _mask_3x4_1(rec.signals))):
            r = interpret(sig, rec.fs, rec.lead_names, model=_NoModel())
            row[view] = {"m": r.measurements.to_dict(), "codes": {s.code for s in r.statements}}
        dpath = Path(digitized_dir) / f"{m.ecg_id}.hea" if digitized_dir is not None else None
        if dpath is not None and dpath.is_file():
            try:
                drec = read_record(dpath)
                r = interpret(drec.signals, drec.fs, drec.lead_names, model=_NoModel())
                row["digitized"] = {
                    "m": r.measurements.to_dict(),
                    "codes": {s.code for s in r.statements},
                }
            except EcgEdgeError as exc:
                row["digitized_error"] = str(exc)
        rows.append(row)
    return rows


class _NoModel:
    """Stand-in that makes interpret() skip the classifier (measurements only)."""

    def run(self, x):
        from edge.errors import ModelError

        raise ModelError("skipped", "classifier not used for measurement evaluation", "")


def _binary(tp, fp, fn, tn) -> dict:
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    return {
        "n_pos": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "sensitivity": sens,
        "specificity": spec,
    }


def agreement(rows: list[dict], view: str) -> dict:
    """Sensitivity/specificity of our statements for each PTB-XL code, and axis statistics."""
    out = {}

    def tally(truth_fn, ours_fn):
        tp = fp = fn = tn = 0
        for r in rows:
            t, o = truth_fn(r), ours_fn(r)
            tp += t and o
            fp += (not t) and o
            fn += t and not o
            tn += (not t) and not o
        return _binary(tp, fp, fn, tn)

    for code, ours in CODE_PAIRS.items():
        out[code] = tally(
            lambda r, c=code: c in r["codes"], lambda r, o=ours: bool(o & r[view]["codes"])
        )
    out["wide QRS (CLBBB/CRBBB/IVCD/WPW)"] = tally(
        lambda r: bool(WIDE_QRS_CODES & r["codes"]), lambda r: "WIDEQRS" in r[view]["codes"]
    )
    out["left axis (ALAD)"] = tally(
        lambda r: r["axis"] in LEFT_AXIS, lambda r: "LAD" in r[view]["codes"]
    )
    out["right axis (RAD/ARAD/AXR)"] = tally(
        lambda r: r["axis"] in RIGHT_AXIS, lambda r: "RAD" in r[view]["codes"]
    )
    axis = {}
    for r in rows:
        a = r[view]["m"]["axis_deg"]
        if r["axis"] and a is not None:
            axis.setdefault(r["axis"], []).append(a)
    out["axis_by_ptbxl_category"] = {
        k: {
            "n": len(v),
            "median_deg": float(np.median(v)),
            "iqr_deg": [float(np.percentile(v, 25)), float(np.percentile(v, 75))],
        }
        for k, v in sorted(axis.items())
    }
    keys = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg")
    out["measured"] = {k: sum(r[view]["m"][k] is not None for r in rows) for k in keys}
    return out


def consistency(rows: list[dict], other: str = "3x4+1") -> dict:
    """Median |full - other| of each measurement over records where both exist."""
    out = {}
    rows = [r for r in rows if other in r]
    for k in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg"):
        d = [
            abs(r["full"]["m"][k] - r[other]["m"][k])
            for r in rows
            if r["full"]["m"][k] is not None and r[other]["m"][k] is not None
        ]
        if k == "axis_deg":
            d = [min(x, 360 - x) for x in d]
        n_missing = sum(r["full"]["m"][k] is not None and r[other]["m"][k] is None for r in rows)
        out[k] = {
            "n": len(d),
            "lost": n_missing,
            "median_abs_diff": float(np.median(d)) if d else None,
            "p90_abs_diff": float(np.percentile(d, 90)) if d else None,
        }
    return out
