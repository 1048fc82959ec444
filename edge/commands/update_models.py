"""`ecg-edge update-models --from DIR | --rollback | --status`: install a signed model bundle.

Verifies the Ed25519 signature (public key provisioned at install) and every file's sha256, installs
into `<models root>/versions/<id>` and swaps `current` atomically; the old bundle stays as `previous`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edge.errors import EcgEdgeError


def default_models_root() -> Path:
    """`$ECG_EDGE_MODELS_ROOT`; else the parent of `$ECG_EDGE_MODELS` when that ends in /current;
    else /var/lib/ecg-edge/models."""
    from edge.bundle import DEFAULT_MODELS_ROOT

    root = os.environ.get("ECG_EDGE_MODELS_ROOT")
    if root:
        return Path(root)
    models = os.environ.get("ECG_EDGE_MODELS")
    if models and Path(models).name == "current":
        return Path(models).parent
    return DEFAULT_MODELS_ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--from",
        dest="source",
        metavar="DIR",
        help="bundle directory (STICK/ECG-MODELS) or a stick mount point holding ECG-MODELS/",
    )
    g.add_argument("--rollback", action="store_true", help="go back to the previous bundle")
    g.add_argument("--status", action="store_true", help="show the current and previous bundles")
    g.add_argument("--verify", metavar="DIR", help="only verify a bundle, install nothing")
    parser.add_argument(
        "--models-root",
        type=Path,
        default=None,
        help="device models root (default: $ECG_EDGE_MODELS_ROOT or /var/lib/ecg-edge/models)",
    )
    parser.add_argument(
        "--public-key",
        type=Path,
        default=None,
        help="model-signing public key (default: $ECG_EDGE_SIGNING_KEY or /etc/ecg-edge/model-signing.pub)",
    )
    parser.add_argument(
        "--allow-downgrade", action="store_true", help="install a bundle older than the current one"
    )
    parser.add_argument(
        "--status-file",
        type=Path,
        default=None,
        help="also write the outcome as JSON here (for the device screen)",
    )


def _bundle_dir(source: str) -> Path:
    p = Path(source)
    return (
        p / "ECG-MODELS" if (p / "ECG-MODELS").is_dir() and not (p / "bundle.json").exists() else p
    )


def run(args: argparse.Namespace) -> int:
    from edge import bundle

    root = args.models_root or default_models_root()
    pub = args.public_key or Path(
        os.environ.get("ECG_EDGE_SIGNING_KEY") or bundle.DEFAULT_PUBLIC_KEY
    )
    try:
        if args.status:
            print(json.dumps(bundle.status(root), indent=2))
            return 0
        if args.rollback:
            now = bundle.rollback(root)
            msg = f"Rolled back to model bundle {now}"
        elif args.verify:
            info = bundle.verify_bundle(_bundle_dir(args.verify), pub)
            print(f"bundle {info.bundle_id} is valid: models {', '.join(info.models)}")
            return 0
        else:
            info, installed = bundle.install_bundle(
                _bundle_dir(args.source), root, pub, allow_downgrade=args.allow_downgrade
            )
            msg = (
                f"Installed model bundle {info.bundle_id} ({', '.join(info.models)})"
                if installed
                else f"Model bundle {info.bundle_id} is already installed"
            )
    except EcgEdgeError as exc:
        _status(args.status_file, "error", f"Model update refused: {exc.message}", exc.hint)
        print(f"ecg-edge update-models: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        text = f"cannot update models: {exc.strerror} ({exc.filename or root})"
        _status(
            args.status_file, "error", text, "check the models directory permissions and free space"
        )
        print(
            f"ecg-edge update-models: {text}: check the models directory permissions and free space",
            file=sys.stderr,
        )
        return 1
    _status(args.status_file, "ok", msg, "")
    print(msg)
    return 0


def _status(path: Path | None, state: str, message: str, hint: str) -> None:
    if path is None:
        return
    from edge.sync import write_status

    try:
        write_status(path, state, message, hint=hint, kind="models")
    except OSError:
        pass
