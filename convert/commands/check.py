"""`ecg-convert check MODEL.onnx MODEL.tflite --data ...`: run the float and the int8 model on
held-out data, print output agreement and the task metric for both, and exit non-zero (1) if the
int8 model loses more than the allowed amount (default 0.3 dB SNR / 0.01 macro AUC)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.errors import EcgEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", help="float reference model (.onnx)")
    parser.add_argument("tflite", help="converted model (.tflite, usually int8)")
    parser.add_argument(
        "--data",
        default="../shared/data/ptbxl500",
        help="held-out data: PTB-XL directory (fold 10 is used) or an .npz with x (channel-first) [and y]",
    )
    parser.add_argument(
        "--task",
        choices=["auto", "segmentation", "classification", "outputs"],
        default="auto",
        help="what to measure (auto: from the manifest entry next to the .tflite, else from shapes)",
    )
    parser.add_argument(
        "--pages", type=int, default=12, help="segmentation: fold-10 pages to digitize"
    )
    parser.add_argument(
        "--modes", default="photo,scan,clean", help="segmentation: synthesizer modes of the pages"
    )
    parser.add_argument(
        "--fused",
        action="store_true",
        help="segmentation: read with the map fused with the classical one, as the device reads photos",
    )
    parser.add_argument(
        "--max-loss-db", type=float, default=0.3, help="segmentation: allowed SNR loss (dB)"
    )
    parser.add_argument(
        "--max-loss-auc", type=float, default=0.01, help="classification: allowed macro AUC loss"
    )
    parser.add_argument(
        "--max-abs-diff", type=float, default=0.1, help="outputs: allowed max |float - int8|"
    )
    parser.add_argument("--json", default=None, help="also write the report as JSON to this path")


def _manifest_entry(tflite: Path) -> dict | None:
    mf = tflite.parent / "manifest.json"
    try:
        data = json.loads(mf.read_text())
    except (OSError, ValueError):
        return None
    for e in data.get("models", []):
        if (tflite.parent / e.get("file", "")).resolve() == tflite.resolve():
            return e
    return None


def run(args: argparse.Namespace) -> int:
    from convert import parity
    from edge.models import load_tflite

    tfl = Path(args.tflite)
    try:
        entry = _manifest_entry(tfl)
        task = args.task
        if task == "auto":
            t = (entry or {}).get("task", "")
            if "segment" in t:
                task = "segmentation"
            elif "classif" in t:
                task = "classification"
            else:
                m = load_tflite(tfl, num_threads=1)
                ish, osh = m.input_shape, m.output_shape
                if len(ish) == 4 and len(osh) == 4 and osh[-1] == 1 and osh[1:3] == ish[1:3]:
                    task = "segmentation"
                elif len(osh) == 2:
                    task = "classification"
                else:
                    task = "outputs"
            print(f"task: {task}")
        if task in ("segmentation", "classification") and not Path(args.data).exists():
            print(
                f"ecg-convert check: held-out data {args.data} not found: pass --data (a PTB-XL directory or .npz)",
                file=sys.stderr,
            )
            return 2
        if task == "segmentation":
            rep = parity.check_segmenter(
                args.onnx,
                tfl,
                args.data,
                n_pages=args.pages,
                threshold_db=args.max_loss_db,
                modes=tuple(m for m in args.modes.split(",") if m),
                fused=args.fused,
            )
        elif task == "classification":
            thr = None
            if entry and isinstance(entry.get("thresholds"), dict) and entry.get("labels"):
                thr = [float(entry["thresholds"].get(c, 0.5)) for c in entry["labels"]]
            rep = parity.check_classifier(
                args.onnx, tfl, args.data, thresholds=thr, threshold_auc=args.max_loss_auc
            )
        else:
            rep = parity.check_outputs(args.onnx, tfl, args.data, max_abs_diff=args.max_abs_diff)
    except EcgEdgeError as exc:
        print(f"ecg-convert check: {exc}", file=sys.stderr)
        return exc.exit_code
    print(rep.to_text())
    if args.json:
        Path(args.json).write_text(rep.to_json())
    return 0 if rep.passed else 1
