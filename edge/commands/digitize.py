"""`ecg-edge digitize IMAGE... --out DIR`: photos/scans of printouts -> DIR/<stem>.hea/.dat (WFDB),
<stem>.json (what was found, confidences, timings) and <stem>.overlay.png, image by image: a bad
image gets a one-line message and no output files, and the batch goes on."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from edge.atomic import write_file_atomic

log = logging.getLogger("ecg-edge.digitize")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="JPEG/PNG/TIFF photos or scans of ECG printouts"
    )
    parser.add_argument("--out", default="out", help="output directory (default: out)")
    parser.add_argument(
        "--fs", type=float, default=500.0, help="output sampling rate in Hz (default 500)"
    )
    parser.add_argument(
        "--layout", default=None, help="force the layout: 3x4, 3x4+1, 3x4+3, 6x2 or 12x1"
    )
    parser.add_argument(
        "--gain", type=float, default=None, help="force the gain in mm/mV (5, 10, 20)"
    )
    parser.add_argument(
        "--speed", type=float, default=None, help="force the paper speed in mm/s (25, 50)"
    )
    parser.add_argument(
        "--trace-model",
        default="auto",
        choices=["auto", "classical", "learned"],
        help="trace probability: learned int8 segmenter, classical, or auto (default)",
    )
    parser.add_argument("--no-overlay", action="store_true", help="do not write <stem>.overlay.png")


def digitize_file(
    image_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    fs: float = 500.0,
    layout: str | None = None,
    gain: float | None = None,
    speed: float | None = None,
    trace_model="auto",
    overlay: bool = True,
):
    """Digitize one image file and write its outputs; returns the DigitizeResult.
    Raises EcgEdgeError (nothing written) when the image cannot be used."""
    import cv2

    from edge.digitize import digitize
    from edge.imageio import load_image
    from edge.wfdb_io import write_record

    img = load_image(image_path)
    result = digitize(img, fs=fs, layout=layout, gain=gain, speed=speed, trace_model=trace_model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / Path(image_path).stem
    comments = [
        f"digitized from {Path(image_path).name}",
        f"layout {result.layout}",
        f"speed {result.speed_mm_s:g} mm/s",
        f"gain {result.gain_mm_mv:g} mm/mV",
        f"confidence {result.confidence:.3f}",
    ]
    write_record(stem, result.signals, result.fs, list(result.lead_names), comments=comments)
    doc = result.to_dict()
    doc["source_image"] = str(image_path)
    import json

    write_file_atomic(stem.with_suffix(".json"), json.dumps(doc, indent=2).encode())
    if overlay and result.overlay is not None:
        ok, buf = cv2.imencode(".png", result.overlay)
        if ok:
            write_file_atomic(Path(f"{stem}.overlay.png"), buf.tobytes())
    return result


def warn_unusable_models(trace_model: str) -> None:
    """One stderr line when a model the digitizer uses is missing or fails its checks: the pages
    are still read, without it, and the user must know the readings are not the usual ones."""
    from edge.models import unusable_models

    uses = {"textcues": "printed speed/gain not read"}
    if trace_model != "classical":
        uses["segmenter"] = "classical trace map only"
    problems = unusable_models(uses)
    if problems:
        why = "; ".join(dict.fromkeys(problems.values()))  # a missing manifest: one reason for all
        print(
            f"ecg-edge digitize: warning: {why}: reading without {', '.join(problems)} "
            f"({', '.join(uses[n] for n in problems)}); reinstall ecg-edge or set ECG_EDGE_MODELS",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    from edge.memory import limit_malloc_arenas

    limit_malloc_arenas()  # as `ecg-edge run` does: before OpenCV and TFLite start their threads
    from edge.errors import EcgEdgeError

    warn_unusable_models(args.trace_model)

    worst = 0
    n_ok = 0
    for image in args.images:
        try:
            r = digitize_file(
                image,
                args.out,
                fs=args.fs,
                layout=args.layout,
                gain=args.gain,
                speed=args.speed,
                trace_model=args.trace_model,
                overlay=not args.no_overlay,
            )
        except EcgEdgeError as exc:
            print(f"ecg-edge digitize: {image}: {exc}", file=sys.stderr)
            worst = max(worst, exc.exit_code)
            continue
        except ValueError as exc:  # e.g. an unknown --layout name
            print(f"ecg-edge digitize: {image}: {exc}", file=sys.stderr)
            worst = max(worst, 2)
            continue
        except Exception as exc:  # never a traceback for one image; the batch goes on
            log.debug("internal error on %s", image, exc_info=True)
            print(
                f"ecg-edge digitize: {image}: internal error ({type(exc).__name__}: {exc}): "
                "please report this image",
                file=sys.stderr,
            )
            worst = max(worst, 1)
            continue
        n_ok += 1
        stem = Path(args.out) / Path(image).stem
        warn = f" ({len(r.warnings)} warning{'s' * (len(r.warnings) != 1)})" if r.warnings else ""
        print(
            f"{image}: {r.layout}, {r.speed_mm_s:g} mm/s, {r.gain_mm_mv:g} mm/mV, "
            f"confidence {r.confidence:.2f}, {r.timings.get('total', 0):.2f} s -> {stem}.hea{warn}"
        )
        for w in r.warnings:
            print(f"  warning: {w}")
    if len(args.images) > 1:
        print(
            f"{n_ok} of {len(args.images)} images digitized",
            file=sys.stderr if worst else sys.stdout,
        )
    return worst
