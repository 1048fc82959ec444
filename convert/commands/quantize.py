"""`ecg-convert quantize MODEL.onnx --calib CALIB.npy --out MODEL.tflite`: full-integer int8 TFLite
(int8 in/out) calibrated on real samples, plus a manifest entry recording tensors, quantization,
layout and sha256, so the device can verify and run it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.errors import EcgEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", help="ONNX model (channel-first inputs: NCHW images, NCW signals)")
    parser.add_argument(
        "--calib",
        required=True,
        help="calibration samples .npy, float32, channel-last (NHWC images / NWC signals), 20-500 real samples",
    )
    parser.add_argument("--out", required=True, help="output .tflite path")
    parser.add_argument(
        "--per-tensor", action="store_true", help="per-tensor instead of per-channel weights"
    )
    parser.add_argument(
        "--name", default=None, help="manifest name (default: the output file's stem)"
    )
    parser.add_argument(
        "--manifest",
        default=None,
        help="manifest.json to add the entry to (default: manifest.json next to --out); "
        "the model must lie in or under its directory",
    )
    parser.add_argument("--no-manifest", action="store_true", help="do not write a manifest entry")
    parser.add_argument(
        "--task",
        default="custom",
        help="task recorded in the manifest (e.g. trace_segmentation, classification)",
    )
    parser.add_argument(
        "--labels", default=None, help="comma-separated class labels, or a .json/.txt file of them"
    )
    parser.add_argument(
        "--card", default=None, help="model card file name recorded in the manifest"
    )
    parser.add_argument(
        "--training-data", default=None, help="training data description for the manifest"
    )
    parser.add_argument(
        "--keep-float",
        action="store_true",
        help="also keep the float32 TFLite as <out>.float32.tflite",
    )


def _labels(arg: str | None) -> list[str] | None:
    if not arg:
        return None
    p = Path(arg)
    if p.is_file():
        text = p.read_text(encoding="utf-8")
        if p.suffix == ".json":
            return [str(x) for x in json.loads(text)]
        return [ln.strip() for ln in text.splitlines() if ln.strip()]
    return [s.strip() for s in arg.split(",") if s.strip()]


def run(args: argparse.Namespace) -> int:
    from convert.manifest import make_entry, upsert_entry
    from convert.quantize import quantize

    try:
        out = Path(args.out)
        manifest = Path(args.manifest) if args.manifest else out.parent / "manifest.json"
        if not args.no_manifest:
            try:
                out.resolve().relative_to(manifest.resolve().parent)
            except ValueError:
                print(
                    f"ecg-convert quantize: {out} is not inside {manifest.parent}: put the model in the "
                    f"manifest's directory or pass --no-manifest",
                    file=sys.stderr,
                )
                return 2
        print(
            f"quantizing {args.onnx} -> {out} (onnx2tf, int8 {'per-tensor' if args.per_tensor else 'per-channel'}) ...",
            flush=True,
        )
        res = quantize(
            args.onnx, args.calib, out, per_tensor=args.per_tensor, keep_float=args.keep_float
        )
        if args.verbose:
            print(res.log_tail)
        print(
            f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB) in {res.seconds:.1f} s; "
            f"inputs {res.input_layouts}, outputs {res.output_layouts}"
        )
        if not args.no_manifest:
            entry = make_entry(
                args.name or out.stem,
                out,
                task=args.task,
                models_dir=manifest.parent,
                input_layouts=res.input_layouts,
                output_layouts=res.output_layouts,
                labels=_labels(args.labels),
                card=args.card,
                training_data=args.training_data,
                extra={
                    "quantization": "per-tensor" if args.per_tensor else "per-channel",
                    "source_onnx": Path(args.onnx).name,
                },
            )
            upsert_entry(manifest, entry)
            for t in entry["inputs"] + entry["outputs"]:
                q = t["quantization"] or {}
                print(
                    f"  {t['name']}: {t['shape']} {t['dtype']} {t['layout']} scale={q.get('scale')} zp={q.get('zero_point')}"
                )
            print(f"manifest entry {entry['name']!r} written to {manifest}")
        return 0
    except EcgEdgeError as exc:
        print(f"ecg-convert quantize: {exc}", file=sys.stderr)
        return exc.exit_code
