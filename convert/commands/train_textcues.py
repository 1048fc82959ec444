"""`ecg-convert train-textcues`: train the printed-scale word classifier on words rendered in the
workstation's TrueType fonts (checked on held-out Hershey fonts), and with `--ship` quantize it to
int8 and install it as the `textcues` model with its manifest entry and card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="runs/textcues", help="run directory (weights, history, calibration)"
    )
    parser.add_argument("--words", type=int, default=60000, help="training words to render")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads (2 on the shared workstation)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ship",
        default=None,
        metavar="MODELS_DIR",
        help="after training: quantize to int8 and install as 'textcues' in MODELS_DIR (e.g. models)",
    )
    parser.add_argument(
        "--ship-only", action="store_true", help="skip training; ship the run in --out"
    )


def run(args: argparse.Namespace) -> int:
    from convert.textcues.train import TrainConfig, train
    from edge.errors import EcgEdgeError

    if not args.ship_only:
        try:
            train(
                TrainConfig(
                    out=args.out,
                    n_train=args.words,
                    epochs=args.epochs,
                    threads=args.threads,
                    seed=args.seed,
                ),
                log=lambda s: print(s, flush=True),
            )
        except RuntimeError as exc:
            print(f"ecg-convert train-textcues: {exc}", file=sys.stderr)
            return 2
    if args.ship or args.ship_only:
        from convert.textcues.ship import ship

        try:
            entry = ship(Path(args.out), Path(args.ship or "models"))
        except EcgEdgeError as exc:
            print(f"ecg-convert train-textcues: {exc}", file=sys.stderr)
            return exc.exit_code
        print(
            f"installed {entry['file']} ({entry['size_bytes'] / 1024:.0f} KiB) as 'textcues' in {args.ship or 'models'}"
        )
    return 0
