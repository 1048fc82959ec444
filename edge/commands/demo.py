"""`ecg-edge demo`: digitize and interpret the bundled example photo, the README's first command.

Shows the whole device pipeline on one image without a camera: writes the WFDB record, the JSON
report and the overlay to `--out` (default `out/demo`) and prints the reading."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.resources import example_path

EXAMPLE = example_path("photo.jpg")  # the checkout's examples/, else the wheel's copy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "image", nargs="?", default=str(EXAMPLE), help="photo or scan (default: bundled example)"
    )
    parser.add_argument("--out", default="out/demo", help="output directory (default: out/demo)")


def run(args: argparse.Namespace) -> int:
    from edge.atomic import write_file_atomic
    from edge.commands.digitize import digitize_file
    from edge.errors import EcgEdgeError
    from edge.interpret import interpret

    out = Path(args.out)
    stem = out / Path(args.image).stem
    try:
        result = digitize_file(args.image, out)
    except EcgEdgeError as exc:
        print(f"ecg-edge demo: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"digitized {args.image}: layout {result.layout}, {result.speed_mm_s:g} mm/s, "
        f"{result.gain_mm_mv:g} mm/mV, confidence {result.confidence:.2f}"
    )
    print(f"  record  {stem}.hea/.dat\n  report  {stem}.json\n  overlay {stem}.overlay.png")
    reading = interpret(
        result.signals, result.fs, list(result.lead_names), confidence=result.confidence
    )
    report = reading.to_dict()
    write_file_atomic(
        out / f"{stem.name}.interpretation.json", json.dumps(report, indent=2).encode()
    )
    print(report.get("summary", ""))
    probs = report.get("probabilities") or {}
    if probs:
        print("  " + "  ".join(f"{k} {v:.2f}" for k, v in probs.items()))
    return 0
