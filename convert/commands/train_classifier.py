"""`ecg-convert train-classifier`: train the 1D CNN ensemble on PTB-XL folds 1-8 (thresholds on
fold 9) and, unless --no-export, convert it to int8 TFLite and install it in models/."""

from __future__ import annotations

import argparse
import logging
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default="../shared/data/ptbxl500", help="PTB-XL directory (default %(default)s)"
    )
    parser.add_argument(
        "--out",
        default="runs/clf",
        help="run directory for weights, logs, ONNX (default %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument(
        "--members", type=int, default=3, help="ensemble size (networks with different seeds)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--no-export", action="store_true", help="train only; skip ONNX/int8 export"
    )
    parser.add_argument(
        "--export-only", action="store_true", help="skip training; export the run in --out"
    )
    parser.add_argument(
        "--digitized-tune",
        default=None,
        help="fold-9 records digitized from synthesized photos (evaluate-digitizer --folds 9 "
        "--save-dir DIR: give DIR/photo), used with fold 9 to choose fusion and thresholds",
    )
    parser.add_argument(
        "--models-dir", default=None, help="where to install the int8 model (default: models/)"
    )


def run(args: argparse.Namespace) -> int:
    from convert.classifier.train import TrainConfig, train
    from edge.errors import EcgEdgeError

    logging.getLogger().setLevel(logging.INFO)
    cfg = TrainConfig(
        epochs=args.epochs, members=args.members, seed=args.seed, threads=args.threads
    )
    if not args.export_only:
        try:
            res = train(args.data, args.out, cfg)
        except EcgEdgeError as exc:
            print(f"ecg-convert train-classifier: {exc}", file=sys.stderr)
            return exc.exit_code
        for view, m in res["fold9"].items():
            print(f"fold 9 {view:9s} macro AUC {m['macro_auc']:.3f}  macro F1 {m['macro_f1']:.3f}")
        print(
            "thresholds "
            + ", ".join(f"{c} {t:.2f}" for c, t in zip(res["classes"], res["thresholds"]))
        )
    if args.no_export:
        return 0
    from pathlib import Path

    from convert.classifier.export import export_and_install

    if not (Path(args.out) / "ensemble.pt").is_file():
        print(
            f"ecg-convert train-classifier: no trained ensemble in {args.out}: train first (without --export-only)",
            file=sys.stderr,
        )
        return 2
    from convert.classifier.data import digitized_records_dir

    tune = digitized_records_dir(args.digitized_tune)
    if tune and not Path(tune).is_dir():
        print(
            f"ecg-convert train-classifier: no directory {tune}: run ecg-convert evaluate-digitizer --folds 9 "
            "--families photo --save-dir DIR first",
            file=sys.stderr,
        )
        return 2
    try:
        entry = export_and_install(
            args.out, models_dir=args.models_dir, data_dir=args.data, digitized_tune=tune
        )
    except EcgEdgeError as exc:
        print(f"ecg-convert train-classifier: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"hybrid: CNN weight {entry['fusion']['cnn_weight']}, feature-model L2 {entry['feature_model']['lambda']}; "
        "thresholds " + ", ".join(f"{k} {v:.2f}" for k, v in entry["thresholds"].items())
    )
    print(
        f"installed {entry['file']} ({entry['size_bytes']} bytes, sha256 {entry['sha256'][:12]}...)"
    )
    return 0
