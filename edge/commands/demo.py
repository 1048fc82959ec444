"""`ecg-edge demo`: digitize and interpret the bundled example photo, the README's first command.

Shows the whole device pipeline on one image without a camera: writes the WFDB record, the JSON
report and the overlay to `--out` (default `out/demo`) and prints the reading."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "photo.jpg"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", default=str(EXAMPLE), help="photo or scan (default: bundled example)")
    parser.add_argument("--out", default="out/demo", help="output directory (default: out/demo)")


def run(args: argparse.Namespace) -> int:
    from edge.errors import EcgEdgeError

    try:
        from edge.digitize import digitize
        from edge.imageio import load_image
    except ImportError:
        print("ecg-edge demo: digitizer not implemented yet", file=sys.stderr)
        return 0
    import cv2

    from edge.wfdb_io import write_record

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / Path(args.image).stem
    try:
        result = digitize(load_image(args.image))
    except EcgEdgeError as exc:
        print(f"ecg-edge demo: {exc}", file=sys.stderr)
        return exc.exit_code
    write_record(stem, result.signals, result.fs, list(result.lead_names))
    stem.with_suffix(".json").write_text(result.to_json())
    cv2.imwrite(f"{stem}.overlay.png", result.overlay)
    print(f"digitized {args.image}: layout {result.layout}, {result.speed_mm_s:g} mm/s, "
          f"{result.gain_mm_mv:g} mm/mV, confidence {result.confidence:.2f}")
    print(f"  record  {stem}.hea/.dat\n  report  {stem}.json\n  overlay {stem}.overlay.png")
    try:
        from edge.classify import interpret
    except ImportError:
        print("interpretation not implemented yet")
        return 0
    reading = interpret(result.signals, result.fs, list(result.lead_names), confidence=result.confidence)
    report = reading.to_dict()
    (out / f"{Path(args.image).stem}.interpretation.json").write_text(json.dumps(report, indent=2))
    print(report.get("summary", ""))
    probs = report.get("probabilities") or {}
    if probs:
        print("  " + "  ".join(f"{k} {v:.2f}" for k, v in probs.items()))
    return 0
