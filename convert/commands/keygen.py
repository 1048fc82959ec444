"""`ecg-convert keygen --out DIR`: make the Ed25519 key pair that signs model bundles.

Keep `model-signing.key` (mode 0600) on the workstation; provision `model-signing.pub` on every
device (install script `--signing-key`, lands in /etc/ecg-edge/model-signing.pub)."""

from __future__ import annotations

import argparse
import sys

from edge.errors import EcgEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="directory for model-signing.key / model-signing.pub"
    )
    parser.add_argument(
        "--name", default="model-signing", help="file name stem (default: model-signing)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing key pair")


def run(args: argparse.Namespace) -> int:
    from edge.bundle import generate_keypair

    try:
        key, pub = generate_keypair(args.out, name=args.name, overwrite=args.force)
    except EcgEdgeError as exc:
        print(f"ecg-convert keygen: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(
            f"ecg-convert keygen: cannot write keys to {args.out}: {exc.strerror}: choose a writable --out",
            file=sys.stderr,
        )
        return 2
    print(f"private key: {key} (keep it secret, mode 0600)")
    print(f"public key:  {pub} (install on devices as /etc/ecg-edge/model-signing.pub)")
    return 0
