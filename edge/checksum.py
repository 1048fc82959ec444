"""sha256 of files, read in chunks so a large capture or model never sits in memory whole.
Used to verify models before loading, records in the store and copies on a USB stick."""

from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def sha256_and_size(path: str | os.PathLike, chunk: int = CHUNK) -> tuple[str, int]:
    """Hex sha256 of a file and the number of bytes hashed."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def sha256_file(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    """Hex sha256 of a file."""
    return sha256_and_size(path, chunk)[0]
