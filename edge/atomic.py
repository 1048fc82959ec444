"""Crash-safe file operations shared by the record store, WFDB writer, sync, model bundles, the
inbox, the screen and CLI outputs. Each builds the new content under a temporary name, fsyncs it
and renames it into place, then fsyncs the directory, so a reader (or the next boot) sees either
the old state or the complete new one, never a torn write.

- `write_file_atomic` / `write_chunks_atomic` / `copy_file_atomic`: one file, from bytes, from a
  stream of chunks, or from another file.
- `write_new_file`: a file that must not exist yet, written and fsynced in place (inside a
  temporary directory that is itself committed later).
- `publish_file`: an already-written file (e.g. made by a library in a temp directory) fsynced
  and renamed to its final name.
- `rename_durable` / `commit_dir`: a rename (of a file or a whole directory) that survives power
  loss; `commit_dir` fsyncs the directory's own entries first, so its rename is the commit point.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

CHUNK = 1 << 20  # copy granularity: large enough for USB throughput, small for memory


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


def write_chunks_atomic(
    path: str | os.PathLike,
    chunks: Iterable[bytes],
    *,
    mode: int = 0o644,
    tmp_name: str | None = None,
    sync_dir: bool = True,
    exact_mode: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> int:
    """Stream `chunks` into `path` atomically; returns the bytes written.

    The temporary file (`tmp_name` in the same directory, default `.<name>.<pid>.tmp`) is created
    exclusively and never through a link: a leftover of that name (a pulled stick, or something
    planted on it) is removed first. The final rename swaps the directory entry itself, so a link
    at `path` is replaced, never followed. `on_step("write" | "fsync" | "rename")` is called
    before each step (progress and fault injection). With `sync_dir=False` the caller fsyncs the
    directory once after several files; `exact_mode=False` leaves the mode to the filesystem (FAT
    refuses chmod with EPERM: its mount options decide)."""
    path = Path(path)
    tmp = path.with_name(tmp_name or f".{path.name}.{os.getpid()}.tmp")
    step = on_step or (lambda _s: None)
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, mode)
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                step("write")
                f.write(chunk)
                n += len(chunk)
            f.flush()
            if exact_mode:
                os.fchmod(f.fileno(), mode)
            step("fsync")
            os.fsync(f.fileno())
        step("rename")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        fsync_dir(path.parent)
    return n


def read_chunks(path: str | os.PathLike, chunk: int = CHUNK) -> Iterable[bytes]:
    """The file at `path` in chunks of `chunk` bytes (a generator: the file is opened lazily)."""
    with open(path, "rb") as f:
        while data := f.read(chunk):
            yield data


def copy_file_atomic(
    src: str | os.PathLike, dst: str | os.PathLike, *, mode: int = 0o644, exact_mode: bool = False
) -> int:
    """Copy `src` to `dst` atomically (temp + fsync + rename + directory fsync). The mode is
    `mode` under the umask (or exactly `mode` with `exact_mode`; not on FAT sticks)."""
    return write_chunks_atomic(dst, read_chunks(src), mode=mode, exact_mode=exact_mode)


def write_new_file(path: str | os.PathLike, data: bytes, *, mode: int = 0o600) -> None:
    """Create `path` (it must not exist), write and fsync it. For files inside a temporary
    directory that `commit_dir` later renames into place: no per-file rename is needed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def publish_file(src: str | os.PathLike, dst: str | os.PathLike, *, sync_dir: bool = True) -> None:
    """fsync the finished file `src` and rename it over `dst` (same filesystem)."""
    with open(src, "rb") as f:
        os.fsync(f.fileno())
    os.replace(src, dst)
    if sync_dir:
        fsync_dir(Path(dst).parent)


def replace_symlink(link: str | os.PathLike, target: str) -> None:
    """Point the symlink `link` at `target` atomically (a new link under a temp name, renamed over
    the old one) and fsync the directory."""
    link = Path(link)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)


def rename_durable(src: str | os.PathLike, dst: str | os.PathLike, *, strict: bool = False) -> None:
    """`os.rename(src, dst)`, then fsync both parent directories so the move survives power loss.
    A directory `dst` that exists and is not empty makes the rename fail (nothing is replaced)."""
    src, dst = Path(src), Path(dst)
    os.rename(src, dst)
    fsync_dir(dst.parent, strict=strict)
    if src.parent.resolve() != dst.parent.resolve():
        fsync_dir(src.parent, strict=strict)


def commit_dir(tmp: str | os.PathLike, final: str | os.PathLike, *, strict: bool = True) -> None:
    """Make the fully written directory `tmp` appear as `final` in one step: its entries are
    fsynced, then it is renamed (the commit point) and the parent fsynced. Its files must already
    be fsynced (`write_new_file`, `write_chunks_atomic`, `publish_file`)."""
    fsync_dir(tmp, strict=strict)
    rename_durable(tmp, final, strict=strict)
