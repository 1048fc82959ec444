"""`ecg-convert evaluate-classifier --data DIR [--digitized DIR]`: fold-10 macro AUC / F1 of the
classifier, float and int8, on original (full and 3x4+1-masked) and digitized signals."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default="../shared/data/ptbxl500", help="PTB-XL directory (default %(default)s)"
    )
    parser.add_argument(
        "--run", default="runs/clf", help="training run with ensemble.pt for the float model"
    )
    parser.add_argument(
        "--digitized",
        default=None,
        help="directory of records digitized from synthesized photos (<ecg_id>.hea); "
        "a directory containing photo/ is also accepted",
    )
    parser.add_argument(
        "--models-dir", default=None, help="models directory with the int8 classifier"
    )
    parser.add_argument("--fold", type=int, default=10)
    parser.add_argument("--json", default=None, help="also write the full report to this JSON file")
    parser.add_argument(
        "--update-manifest",
        action="store_true",
        help="record the fold-10 figures in the classifier's manifest entry",
    )


def run(args: argparse.Namespace) -> int:
    from convert.classifier.data import digitized_records_dir
    from convert.classifier.evaluate import evaluate
    from edge.errors import EcgEdgeError

    dig = digitized_records_dir(args.digitized)
    if dig and not Path(dig).is_dir():
        print(
            f"ecg-convert evaluate-classifier: no directory {dig}: run ecg-convert evaluate-digitizer "
            f"--families photo --save-dir DIR first",
            file=sys.stderr,
        )
        return 2
    try:
        rep = evaluate(
            args.data, args.run, models_dir=args.models_dir, digitized_dir=dig, fold=args.fold
        )
    except EcgEdgeError as exc:
        print(f"ecg-convert evaluate-classifier: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"fold {rep['fold']}: {rep['n_records']} labelled records"
        + (
            f", {rep.get('digitized_found', 0)} digitized found ({rep.get('digitized_accepted_n', 0)} with "
            f"confidence and beat consistency high enough to classify = 'digitized_accepted')"
            if dig
            else ""
        )
    )
    if rep.get("hybrid"):
        print(
            f"hybrid model: CNN weight {rep['cnn_weight']:.2f} + median-beat feature model; "
            "'float'/'int8' = the hybrid with the float/int8 CNN (F1 at the shipped thresholds)"
        )
    print(
        f"{'signals':18s} {'model':14s} {'n':>4s} {'macroAUC':>9s} {'macroF1':>8s}  "
        + "  ".join(f"{c:>5s}" for c in ("NORM", "MI", "STTC", "CD", "HYP"))
        + "  (per-class AUC)"
    )
    for view in ("full", "3x4+1", "digitized", "digitized_accepted"):
        if view not in rep:
            continue
        for kind in ("float", "int8", "int8_cnn_only", "features_only"):
            r = rep[view].get(kind)
            if r is None:
                continue
            per = "  ".join(f"{v['auc']:5.3f}" for v in r["per_class"].values())
            print(
                f"{view:18s} {kind:14s} {r['n']:4d} {r['macro_auc']:9.3f} {r['macro_f1']:8.3f}  {per}"
            )
    lat = rep.get("interpret_latency_s") or {}
    if lat.get("n"):
        print(
            f"edge.interpret.interpret latency (measurements + int8 model, this machine): median "
            f"{1000 * lat['median']:.0f} ms, max {1000 * lat['max']:.0f} ms over {lat['n']} records"
        )
    for p in rep.get("digitized_problems", [])[:5]:
        print(f"  skipped {p}")
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2))
    if args.update_manifest:
        from convert.manifest import read, upsert_entry
        from edge.models import default_models_dir

        mpath = Path(args.models_dir or default_models_dir()) / "manifest.json"
        entry = next(m for m in read(mpath)["models"] if m["name"] == "classifier")
        entry.setdefault("metrics", {})[f"fold{rep['fold']}_test"] = {
            view: {
                kind: {
                    "macro_auc": round(r["macro_auc"], 4),
                    "macro_f1": round(r["macro_f1"], 4),
                    "n": r["n"],
                    "per_class_auc": {c: round(v["auc"], 3) for c, v in r["per_class"].items()},
                }
                for kind, r in rep[view].items()
            }
            for view in ("full", "3x4+1", "digitized", "digitized_accepted")
            if view in rep
        }
        upsert_entry(mpath, entry)
        from convert.classifier.card import write_card

        write_card(mpath.parent, entry)
        print(f"recorded fold-{rep['fold']} metrics in {mpath}")
    return 0
