"""`ecg-convert bundle MODELS_DIR --sign KEY --out STICK/ECG-MODELS`: make a signed model bundle.

The bundle holds manifest.json, every model file it names, bundle.json (sha256 + size of each file)
and bundle.sig (Ed25519 over bundle.json); devices install it with `ecg-edge update-models`."""

from __future__ import annotations

import argparse
import json
import sys

from edge.errors import EcgEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models_dir", help="directory with manifest.json and the .tflite files (e.g. models/)"
    )
    parser.add_argument(
        "--sign", required=True, metavar="KEY", help="Ed25519 private key from 'ecg-convert keygen'"
    )
    parser.add_argument(
        "--out", required=True, help="bundle directory, e.g. /media/stick/ECG-MODELS"
    )
    parser.add_argument(
        "--version",
        type=int,
        default=None,
        help="bundle version (integer, must grow; default: current Unix time)",
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="FILE",
        help="extra file from MODELS_DIR to carry (e.g. a model card); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print the bundle description as JSON")


def run(args: argparse.Namespace) -> int:
    from edge.bundle import make_bundle

    try:
        info = make_bundle(
            args.models_dir, args.sign, args.out, version=args.version, extra_files=args.include
        )
    except EcgEdgeError as exc:
        print(f"ecg-convert bundle: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(
            f"ecg-convert bundle: cannot write {exc.filename or args.out}: {exc.strerror}: "
            "check that the stick is mounted and writable",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        size = sum(f["size"] for f in info.files.values())
        print(
            f"bundle {info.bundle_id}: {len(info.files)} files, {size / 1e6:.1f} MB, "
            f"models {', '.join(info.models)} -> {info.path}"
        )
    return 0
