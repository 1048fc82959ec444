"""`ecg-edge models`: list the installed models, verify each file's size and sha256 (and that it
loads in the TFLite interpreter, or parses, for a JSON feature model); exit 3 if any model is bad, so a script can gate on it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edge.errors import ModelError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir",
        default=None,
        help="models directory (default: $ECG_EDGE_MODELS or the packaged models/)",
    )
    parser.add_argument(
        "--no-load", action="store_true", help="only check sha256, do not load the interpreter"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )


def run(args: argparse.Namespace) -> int:
    from edge.models import (
        TFLiteModel,
        default_models_dir,
        read_json_model,
        read_manifest,
        verify_entry,
    )

    mdir = args.models_dir or default_models_dir()
    try:
        entries = read_manifest(mdir)
    except ModelError as exc:
        print(f"ecg-edge models: {exc}", file=sys.stderr)
        return exc.exit_code
    rows: list[dict[str, Any]] = []
    bad = 0
    for e in entries:
        row: dict[str, Any] = {
            "name": e.name,
            "file": e.file,
            "task": e.task,
            "size_bytes": e.size_bytes,
            "sha256": e.sha256,
            "status": "ok",
            "error": None,
            "inputs": [t.to_dict() for t in e.inputs],
            "outputs": [t.to_dict() for t in e.outputs],
        }
        try:
            path = verify_entry(e, mdir)
            if not args.no_load and e.task == "feature-model":
                read_json_model(path)
            elif not args.no_load:
                TFLiteModel(path, entry=e, num_threads=1)
        except ModelError as exc:
            row["status"], row["error"] = "BAD", str(exc)
            bad += 1
        rows.append(row)
    if args.json:
        print(json.dumps({"models_dir": str(mdir), "models": rows, "bad": bad}, indent=2))
    else:
        print(f"models in {mdir}:")
        if not rows:
            print("  (none)")
        for r in rows:
            ins = " ".join(f"{t['name']}{t['shape']}:{t['dtype']}" for t in r["inputs"])
            size = f"{r['size_bytes'] / 1024:.0f} KiB" if r["size_bytes"] is not None else "? KiB"
            print(
                f"  {r['status']:<3} {r['name']:<20} {r['task']:<18} {size:>9}  {r['sha256'][:12]}  {ins}"
            )
            if r["error"]:
                print(f"      {r['error']}")
    if bad:
        print(
            f"ecg-edge models: {bad} model(s) failed verification: re-install them (ecg-edge update-models)",
            file=sys.stderr,
        )
        return 3
    return 0
