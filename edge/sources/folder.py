"""The folder inbox: a scanner or a person drops image files; each is processed once.

A file is read only once it has stopped changing (so half-copied files are not taken), stays in
the inbox until its record is saved, then moves to `<inbox>/.done/`; files that cannot make a
record move to `<inbox>/.rejected/` with a `.reason.txt` beside them. Hidden and partial files
(`.part`, `.tmp`, `~`) are ignored."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..atomic import rename_durable, write_file_atomic
from ..errors import BadInputError
from ..imageio import MAX_FILE_BYTES
from .base import BaseSource, Frame
from .decode import DEFAULT_MAX_PIXELS, decode_frame

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", "~", ".swp")


class FolderSource(BaseSource):
    live = False

    def __init__(
        self,
        inbox: str | os.PathLike,
        *,
        done_dir: str = ".done",
        rejected_dir: str = ".rejected",
        stable_seconds: float = 1.0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        retry_seconds: float = 60.0,
    ) -> None:
        self.inbox = Path(inbox)
        self.name = f"folder:{self.inbox}"
        if not self.inbox.is_dir():
            try:
                self.inbox.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BadInputError(
                    "inbox_missing",
                    f"inbox folder {self.inbox} does not exist and cannot be "
                    f"created ({exc.strerror})",
                    "create it or give another --source folder:PATH",
                ) from None
        self.done_dir = self.inbox / done_dir
        self.rejected_dir = self.inbox / rejected_dir
        self.stable_seconds = stable_seconds
        self.max_pixels = max_pixels
        self.retry_seconds = retry_seconds
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> (size, mtime_ns, first seen)
        self._deferred: dict[str, float] = {}  # name -> retry after (monotonic)

    def pending(self) -> list[Path]:
        """Files waiting in the inbox, oldest first (complete or not)."""
        out = []
        try:
            entries = list(os.scandir(self.inbox))
        except OSError:
            return []
        for e in entries:
            if e.name.startswith(".") or e.name.lower().endswith(PARTIAL_SUFFIXES):
                continue
            try:
                if not e.is_file(follow_symlinks=False):
                    continue
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            out.append((st.st_mtime_ns, e.name))
        return [self.inbox / n for _, n in sorted(out)]

    def _stable(self, p: Path, now: float) -> bool:
        try:
            st = p.stat()
        except OSError:
            return False
        key = (st.st_size, st.st_mtime_ns)
        seen = self._seen.get(p.name)
        if seen is None or seen[:2] != key:
            self._seen[p.name] = (*key, now)
            # a file untouched for a while before we first saw it is complete already
            return time.time() - st.st_mtime >= self.stable_seconds and seen is None
        return now - seen[2] >= self.stable_seconds

    def next_capture(self) -> Frame | None:
        now = time.monotonic()
        for p in self.pending():
            if self._deferred.get(p.name, 0) > now or not self._stable(p, now):
                continue
            try:
                size = p.stat().st_size
                if size > MAX_FILE_BYTES:  # refuse without reading it into memory
                    return Frame(
                        image=None,
                        name=p.name,
                        data=None,
                        ext=p.suffix.lower(),
                        path=p,
                        error=BadInputError(
                            "file_too_large",
                            f"{p.name} is {size / 1e6:.0f} MB",
                            f"use a photo or scan under {MAX_FILE_BYTES // 1_000_000} MB",
                        ),
                    )
                data = p.read_bytes()
            except OSError as exc:
                log.warning("cannot read %s: %s", p, exc)
                self.defer(p)
                continue
            return decode_frame(
                data,
                p.name,
                ext=p.suffix.lower() or ".jpg",
                max_pixels=self.max_pixels,
                timestamp=p.stat().st_mtime if p.exists() else None,
                path=p,
            )
        return None

    def waiting(self) -> int:
        """Number of files that still need processing (deferred ones included)."""
        return len(self.pending())

    def idle(self) -> bool:
        """True when every waiting file is deferred: nothing more can be done right now."""
        now = time.monotonic()
        return all(self._deferred.get(p.name, 0) > now for p in self.pending())

    def defer(self, frame_or_path: Frame | Path) -> None:
        """Leave a capture in the inbox and try it again later (e.g. the store was full)."""
        p = frame_or_path.path if isinstance(frame_or_path, Frame) else frame_or_path
        if p is not None:
            self._deferred[p.name] = time.monotonic() + self.retry_seconds

    def _move(self, p: Path, dest_dir: Path) -> Path:
        dest_dir.mkdir(mode=0o700, exist_ok=True)
        dest = dest_dir / p.name
        i = 1
        while dest.exists():
            dest = dest_dir / f"{p.stem}.{i}{p.suffix}"
            i += 1
        rename_durable(p, dest)
        self._seen.pop(p.name, None)
        self._deferred.pop(p.name, None)
        return dest

    def done(self, frame: Frame, record_id: str) -> None:
        if frame.path is not None and frame.path.exists():
            dest = self._move(frame.path, self.done_dir)
            log.info("%s saved as record %s; moved to %s", frame.name, record_id, dest)

    def reject(self, frame: Frame, reason: str) -> None:
        if frame.path is None or not frame.path.exists():
            return
        dest = self._move(frame.path, self.rejected_dir)
        write_file_atomic(
            dest.with_name(dest.name + ".reason.txt"), (reason.strip() + "\n").encode()
        )
        log.warning("%s rejected (%s); moved to %s", frame.name, reason, dest)
