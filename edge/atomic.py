"""Crash-safe file writes shared by the record store, WFDB writer, sync, model bundles and CLI
outputs: write a temp file beside the target, fsync, rename, fsync the directory, so a reader
sees either the old file or the complete new one, never a torn write."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: str | os.PathLike, *, strict: bool = False) -> None:
    """fsync a directory so a rename in it survives power loss. Some filesystems (FAT sticks)
    refuse directory fsync: ignored unless `strict`, where the record store wants to know."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


def write_file_atomic(
    path: str | os.PathLike, data: bytes, *, mode: int = 0o644, strict_dir_sync: bool = False
) -> None:
    """Write `data` to `path` with exactly `mode` via temp file + fsync + rename + directory fsync."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)  # exact mode whatever the umask
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent, strict=strict_dir_sync)
