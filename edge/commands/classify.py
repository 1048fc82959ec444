"""`ecg-edge classify RECORD [--json]`: measurements, statements and class probabilities for a
12-lead WFDB record (ours, or any such as PTB-XL's). Exit 2 on bad input, 3 on a model problem."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("record", help="WFDB record path, with or without .hea")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a report"
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=None,
        help="digitization confidence 0..1 (default: read from the record's comments if present)",
    )
    parser.add_argument(
        "--models-dir", default=None, help="models directory (default: installed models/)"
    )


def _confidence_from_comments(comments: list[str]) -> float | None:
    """The digitization confidence a digitized record carries in its header comments
    (`confidence 0.830`, as `ecg-edge digitize` writes it, or `confidence: 0.83`)."""
    import re

    for c in comments:
        m = re.match(
            r"\s*(?:digitization\s+)?confidence\s*[:=]?\s*([0-9]*\.?[0-9]+)", c, re.IGNORECASE
        )
        if m:
            return float(m.group(1))
    return None


def format_report(d: dict, record: str) -> str:
    """The human-readable report printed without --json."""
    m = d["measurements"]
    unit = {"heart_rate_bpm": "/min", "axis_deg": " deg"}
    lines = [f"ECG {record}", d["summary"], "", "Measurements:"]
    for k in (
        "heart_rate_bpm",
        "pr_ms",
        "qrs_ms",
        "qt_ms",
        "qtc_bazett_ms",
        "qtc_fridericia_ms",
        "axis_deg",
    ):
        v = m.get(k)
        label = k.replace("_bpm", "").replace("_ms", "").replace("_deg", "").replace("_", " ")
        lines.append(f"  {label:18s} {'-' if v is None else str(v) + unit.get(k, ' ms')}")
    lines.append("Statements:")
    lines += [f"  {s}" for s in d["statements"]] or ["  none"]
    if d["probabilities"]:
        lines.append("Classes (probability, * above threshold):")
        for k, p in d["probabilities"].items():
            lines.append(f"  {k:5s} {p:.2f}{' *' if k in d['labels'] else ''}")
    else:
        lines.append(f"Classification withheld: {d['refused']}")
    for w in d.get("warnings") or []:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from edge.errors import EcgEdgeError
    from edge.interpret import interpret
    from edge.wfdb_io import read_record

    try:
        rec = read_record(args.record)
        conf = (
            args.confidence
            if args.confidence is not None
            else _confidence_from_comments(rec.comments)
        )
        res = interpret(
            rec.signals, rec.fs, rec.lead_names, confidence=conf, models_dir=args.models_dir
        )
    except EcgEdgeError as exc:
        print(f"ecg-edge classify: {exc}", file=sys.stderr)
        return exc.exit_code
    d = res.to_dict()
    if args.json:
        print(json.dumps(d))
    else:
        print(format_report(d, args.record))
    return 3 if res.model_error else 0
