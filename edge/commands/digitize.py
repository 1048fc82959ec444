"""`ecg-edge digitize IMAGE... --out DIR`: photos/scans of printouts -> DIR/<stem>.hea/.dat (WFDB),
<stem>.json (what was found, confidences, timings, the input's original name) and
<stem>.overlay.png, image by image. <stem> is made from the input's name (edge.names: letters,
digits, `_`, `-`, plus a short hash when the name had to change or is already taken), so every
record reads back and two inputs never overwrite each other.

A bad image, and a reading that is not an ECG, misread (its limb leads disagree) or partly read
(edge.acceptance), gets a one-line message on stderr, exit code 2 and no output files: a record
in the output folder is taken for a valid ECG by whatever reads it next, while the photo itself
is left untouched for a retake or a review. `--keep-rejected` writes misread and partly read
readings anyway, marked as refused in the JSON and the WFDB header. The batch goes on."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge.atomic import write_file_atomic
from edge.names import display_name, safe_stem

if TYPE_CHECKING:  # imported where used: `--help` must not load the digitizer
    from edge.acceptance import Acceptance
    from edge.digitize import DigitizeResult

log = logging.getLogger("ecg-edge.digitize")
# LiteRT's line on loading a model: not about the image, so not shown among the one-line results.
_RUNTIME_NOTICES = ("INFO: Created TensorFlow Lite",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "A file name starting with '-' is given after '--' (digitize -- -scan.jpg) or as "
        "./-scan.jpg."
    )
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
    parser.add_argument(
        "--keep-rejected",
        action="store_true",
        help="also write readings refused as misread or partly read (marked so in <stem>.json "
        "and the WFDB header; the exit code stays 2)",
    )


@dataclass
class DigitizeOutput:
    """One digitized image: the reading, the verdict on it and where its files went (None:
    nothing was written)."""

    result: DigitizeResult
    acceptance: Acceptance
    stem: Path | None


def _owner(stem: Path) -> str | None:
    """The input a stem's existing outputs were made from ("" when unknown), None if unused."""
    if not any(stem.with_name(stem.name + ext).exists() for ext in (".hea", ".dat", ".json")):
        return None
    try:
        doc = json.loads(stem.with_name(stem.name + ".json").read_text())
        return str(doc.get("source_path", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def output_stem(image_path: str | os.PathLike, out_dir: Path, taken: set[str]) -> Path:
    """Where `image_path`'s outputs go: its safe stem (edge.names), or that stem with a hash of
    the name, then of the full path, then a counter, when an earlier input of this batch
    (`taken`) or of an earlier run (its JSON names another source) holds it. The same input
    run again gets its own stem back."""
    name = os.fsdecode(Path(image_path).name) or os.fsdecode(image_path)
    source = os.fsdecode(os.path.abspath(image_path))
    by_path = safe_stem(name, unique_by=source)
    candidates = [safe_stem(name), safe_stem(name, unique_by=name), by_path]
    candidates += [f"{by_path}-{i}" for i in range(2, 1000)]
    for cand in dict.fromkeys(candidates):
        if cand in taken:
            continue
        owner = _owner(out_dir / cand)
        if owner is None or owner == source:
            taken.add(cand)
            return out_dir / cand
    raise RuntimeError(f"no free output name for {name!r} in {out_dir}")


def digitize_to(
    image_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    fs: float = 500.0,
    layout: str | None = None,
    gain: float | None = None,
    speed: float | None = None,
    trace_model="auto",
    overlay: bool = True,
    keep_rejected: bool = False,
    taken: set[str] | None = None,
) -> DigitizeOutput:
    """Digitize one image file, judge the reading (edge.acceptance) and write its outputs.

    Raises EcgEdgeError (nothing written) when the image cannot be used or the reading is
    refused; with `keep_rejected` a misread or partly read reading is written, marked refused,
    and returned (its `acceptance.ok` is False). `taken`: stems already used in this batch."""
    from edge.imageio import load_image

    img = load_image(image_path)  # first: a bad file is refused before the digitizer loads

    from edge.acceptance import Verdict, explain_refusal, judge_reading, refuse_noise

    noise = refuse_noise(img)
    if noise is not None:
        raise noise

    from edge.digitize import digitize
    from edge.errors import BadInputError
    from edge.nativelog import collect_native_stderr

    try:
        with collect_native_stderr(_RUNTIME_NOTICES):
            result = digitize(
                img, fs=fs, layout=layout, gain=gain, speed=speed, trace_model=trace_model
            )
    except BadInputError as exc:
        raise (exc if layout else explain_refusal(exc, img)) from None
    del img
    acc = judge_reading(result)
    if not acc.ok and not (keep_rejected and acc.verdict is Verdict.RETAKE):
        raise acc.to_error()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = output_stem(image_path, out, set() if taken is None else taken)
    _write_outputs(stem, image_path, result, acc, overlay)
    return DigitizeOutput(result, acc, stem)


def _write_outputs(stem: Path, image_path, result, acc, overlay: bool) -> None:
    import cv2

    from edge.wfdb_io import write_record

    name = os.fsdecode(Path(image_path).name)
    comments = [
        f"digitized from {json.dumps(name)}",  # JSON-quoted: ASCII, one line, whatever the name
        f"layout {result.layout}",
        f"speed {result.speed_mm_s:g} mm/s",
        f"gain {result.gain_mm_mv:g} mm/mV",
        f"confidence {acc.confidence:.3f}",
    ]
    if not acc.ok:
        comments.insert(0, f"NOT CONFIDENT, refused as {acc.reason}: {acc.message}")
    write_record(stem, result.signals, result.fs, list(result.lead_names), comments=comments)
    doc = result.to_dict()
    doc["digitizer_confidence"] = doc.get("confidence")
    doc["confidence"] = round(float(acc.confidence), 3)  # with the limb-lead laws' estimate
    doc["acceptance"] = acc.to_dict()
    doc["record_name"] = stem.name
    doc["source_image"] = os.fsdecode(image_path)
    doc["source_name"] = name
    doc["source_path"] = os.fsdecode(os.path.abspath(image_path))
    write_file_atomic(stem.with_name(stem.name + ".json"), json.dumps(doc, indent=2).encode())
    if overlay and result.overlay is not None:
        ok, buf = cv2.imencode(".png", result.overlay)
        if ok:
            write_file_atomic(stem.with_name(stem.name + ".overlay.png"), buf.tobytes())


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
    Raises EcgEdgeError (nothing written) when the image cannot be used or its reading is
    refused (edge.acceptance)."""
    return digitize_to(
        image_path,
        out_dir,
        fs=fs,
        layout=layout,
        gain=gain,
        speed=speed,
        trace_model=trace_model,
        overlay=overlay,
    ).result


def _say(text: str, file=None) -> None:
    print(display_name(text), file=file or sys.stdout)


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

    for stream in (sys.stdout, sys.stderr):  # a file name never makes a print fail
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    warn_unusable_models(args.trace_model)

    worst = 0
    n_ok = 0
    taken: set[str] = set()
    for image in args.images:
        shown = display_name(os.fsdecode(image))
        try:
            o = digitize_to(
                image,
                args.out,
                fs=args.fs,
                layout=args.layout,
                gain=args.gain,
                speed=args.speed,
                trace_model=args.trace_model,
                overlay=not args.no_overlay,
                keep_rejected=args.keep_rejected,
                taken=taken,
            )
        except EcgEdgeError as exc:
            _say(f"ecg-edge digitize: {shown}: {exc}", sys.stderr)
            worst = max(worst, exc.exit_code)
            continue
        except ValueError as exc:  # e.g. an unknown --layout name
            _say(f"ecg-edge digitize: {shown}: {exc}", sys.stderr)
            worst = max(worst, 2)
            continue
        except MemoryError:
            _say(
                f"ecg-edge digitize: {shown}: the image is too large for this device's memory: "
                "use the camera's normal resolution or a 300 dpi scan",
                sys.stderr,
            )
            worst = max(worst, 2)
            continue
        except Exception as exc:  # never a traceback for one image; the batch goes on
            log.debug("internal error on %s", shown, exc_info=True)
            _say(
                f"ecg-edge digitize: {shown}: internal error ({type(exc).__name__}: {exc}): "
                "please report this image",
                sys.stderr,
            )
            worst = max(worst, 1)
            continue
        r, acc = o.result, o.acceptance
        if not acc.ok:  # written only because of --keep-rejected
            _say(f"ecg-edge digitize: {shown}: {acc.message} (kept as {o.stem}.hea)", sys.stderr)
            worst = max(worst, 2)
            continue
        n_ok += 1
        warn = f" ({len(r.warnings)} warning{'s' * (len(r.warnings) != 1)})" if r.warnings else ""
        _say(
            f"{shown}: {r.layout}, {r.speed_mm_s:g} mm/s, {r.gain_mm_mv:g} mm/mV, "
            f"confidence {acc.confidence:.2f}, {r.timings.get('total', 0):.2f} s -> {o.stem}.hea{warn}"
        )
        for w in r.warnings:
            _say(f"  warning: {w}")
    if len(args.images) > 1:
        print(
            f"{n_ok} of {len(args.images)} images digitized",
            file=sys.stderr if worst else sys.stdout,
        )
    return worst
