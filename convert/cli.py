"""`ecg-convert` command line: dispatches to one module per subcommand (like `edge.cli`)."""

from __future__ import annotations

import sys

from edge.cli import main as _dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "render": (
        "convert.commands.render",
        "render a WFDB record as a printout page / photo / scan with ground truth",
    ),
    "evaluate-digitizer": (
        "convert.commands.evaluate_digitizer",
        "render fold pages, digitize them, report SNR per family",
    ),
    "quantize": (
        "convert.commands.quantize",
        "ONNX -> full-integer int8 TFLite with manifest entry",
    ),
    "check": ("convert.commands.check", "float vs int8 parity and task metric on held-out data"),
    "train-segmenter": (
        "convert.commands.train_segmenter",
        "train the trace-segmentation U-Net on synthesized pages",
    ),
    "train-textcues": (
        "convert.commands.train_textcues",
        "train the printed speed/gain word classifier",
    ),
    "train-classifier": (
        "convert.commands.train_classifier",
        "train the 1D CNN multi-label classifier on PTB-XL",
    ),
    "evaluate-classifier": (
        "convert.commands.evaluate_classifier",
        "classifier metrics on original and digitized signals",
    ),
    "evaluate-measurements": (
        "convert.commands.evaluate_measurements",
        "interval/rhythm measurements vs PTB-XL annotations",
    ),
    "bundle": ("convert.commands.bundle", "make a signed model bundle for a USB model update"),
    "keygen": ("convert.commands.keygen", "make an Ed25519 key pair for signing model bundles"),
}


def main(argv: list[str] | None = None) -> int:
    return _dispatch(argv, commands=COMMANDS, prog="ecg-convert")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
