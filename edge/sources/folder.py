"""The folder inbox: a scanner or a person drops image files; each is processed once.

A file is read only once it has stopped changing (so half-copied files are not taken), stays in
the inbox until its record is saved, then moves to `<inbox>/.done/`; files that cannot make a
record move to `<inbox>/.rejected/` with a `.reason.txt` beside them. Hidden and partial files
(`.part`, `.tmp`, `~`) are ignored.

No file can stop the inbox: a link, FIFO or device, a file that cannot be read, one over the size
cap or one whose header fails the check is handed over as a refused frame (moved aside before any
decoding); and each capture's hand-outs are counted in `.attempts.json`, so a file whose
processing killed the program (out of memory, a decoder crash) `MAX_ATTEMPTS` times is set aside
instead of being read again at every restart while the photos behind it wait."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import time
from pathlib import Path

from ..atomic import rename_durable, write_file_atomic
from ..errors import BadInputError, EcgEdgeError
from ..imageio import MAX_FILE_BYTES
from .base import BaseSource, Frame
from .decode import DEFAULT_MAX_PIXELS, check_header, decode_frame

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", "~", ".swp")
ATTEMPTS_NAME = ".attempts.json"
MAX_ATTEMPTS = 3  # hand-outs that ended in a kill before a file is set aside (a power cut or a
# stray kill can hit a good photo once or twice; a memory bomb kills every time)


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of `path` if it is a regular file (not a link, FIFO or device) of at most
    `limit` bytes; BadInputError saying why not otherwise. Never blocks, never reads past
    `limit` + 1 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise BadInputError(
                "not_a_file",
                f"{path.name} is a link, not a photo",
                "copy the photo itself into the inbox, not a link or a device",
            ) from None
        raise BadInputError(
            "unreadable_file",
            f"{path.name} cannot be opened ({exc.strerror or exc})",
            "copy the photo into the inbox again as a plain file",
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInputError(
                "not_a_file",
                f"{path.name} is not a regular file",
                "copy the photo itself into the inbox, not a link or a device",
            )
        if st.st_size > limit:
            raise BadInputError(
                "file_too_large",
                f"{path.name} is {st.st_size / 1e6:.0f} MB",
                f"use a photo or scan under {limit // 1_000_000} MB",
            )
        chunks, n = [], 0
        while n <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
        if n > limit:  # it grew while being read
            raise BadInputError(
                "file_too_large",
                f"{path.name} is over {limit // 1_000_000} MB",
                f"use a photo or scan under {limit // 1_000_000} MB",
            )
        return b"".join(chunks)
    except OSError as exc:
        raise BadInputError(
            "unreadable_file",
            f"{path.name} cannot be read ({exc.strerror or exc})",
            "copy the photo into the inbox again; the storage medium may be failing",
        ) from None
    finally:
        os.close(fd)


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
        max_attempts: int = MAX_ATTEMPTS,
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
        self.max_attempts = max_attempts
        self._attempts_path = self.inbox / ATTEMPTS_NAME
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
                if e.is_dir(follow_symlinks=False):
                    continue
                st = e.stat(follow_symlinks=False)  # links, FIFOs, devices: handed out, refused
            except OSError:
                continue
            out.append((st.st_mtime_ns, e.name))
        return [self.inbox / n for _, n in sorted(out)]

    def _stable(self, p: Path, now: float) -> bool:
        try:
            st = p.lstat()
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
            return self.read_capture(p)
        return None

    def read_capture(self, p: Path) -> Frame:
        """The capture in `p`, decoded; or a frame carrying the reason it is refused (with its
        bytes where they could be read, so an already-saved capture is still recognised)."""
        ext = p.suffix.lower() or ".jpg"
        try:
            stamp = p.lstat().st_mtime
        except OSError:
            stamp = time.time()

        def refused(err: EcgEdgeError, data: bytes | None = None) -> Frame:
            return Frame(image=None, name=p.name, data=data, ext=ext, path=p, error=err)

        try:
            data = read_regular_file(p, MAX_FILE_BYTES)
        except BadInputError as exc:
            return refused(exc)
        tries = self._attempts().get(p.name, 0)
        if tries >= self.max_attempts:
            return refused(
                BadInputError(
                    "stopped_the_reader",
                    f"reading {p.name} stopped ecg-edge {tries} times (out of memory or a crash)",
                    "it was set aside so the photos behind it are read; check it on a computer",
                ),
                data,
            )
        try:
            check_header(data, p.name, self.max_pixels)
        except BadInputError as exc:
            return refused(exc, data)
        self._count_attempt(p.name, tries + 1)
        try:
            return decode_frame(
                data, p.name, ext=ext, max_pixels=self.max_pixels, timestamp=stamp, path=p
            )
        except MemoryError:
            return refused(
                BadInputError(
                    "image_too_large",
                    f"{p.name} needs more memory to decode than this device has",
                    "use the camera's normal resolution",
                ),
                data,
            )
        except Exception as exc:  # a decoder failure of any kind refuses this file only
            log.exception("cannot decode %s", p.name)
            return refused(
                BadInputError(
                    "unreadable_image",
                    f"{p.name} could not be decoded ({type(exc).__name__})",
                    "give a JPEG, PNG or TIFF photo or scan of the ECG printout",
                ),
                data,
            )

    # -- hand-out counts ---------------------------------------------------------------------
    def _attempts(self) -> dict[str, int]:
        try:
            doc = json.loads(self._attempts_path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict):
            return {}
        return {str(k): int(v) for k, v in doc.items() if isinstance(v, int)}

    def _save_attempts(self, counts: dict[str, int]) -> None:
        try:
            if counts:
                data = json.dumps(counts, sort_keys=True).encode()
                write_file_atomic(self._attempts_path, data, mode=0o600)
            else:
                self._attempts_path.unlink(missing_ok=True)
        except OSError as exc:  # a full disk must not stop the inbox: counting is best effort
            log.warning("cannot update %s: %s", self._attempts_path, exc)

    def _count_attempt(self, name: str, n: int) -> None:
        counts = self._attempts()
        counts[name] = n
        self._save_attempts(counts)

    def _forget_attempts(self, name: str) -> None:
        counts = self._attempts()
        if counts.pop(name, None) is not None:
            self._save_attempts(counts)

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
            self._forget_attempts(p.name)  # it was dealt with, not a crash

    def _move(self, p: Path, dest_dir: Path) -> Path:
        dest_dir.mkdir(mode=0o700, exist_ok=True)
        dest = dest_dir / p.name
        i = 1
        while os.path.lexists(dest):
            dest = dest_dir / f"{p.stem}.{i}{p.suffix}"
            i += 1
        rename_durable(p, dest)  # a link or FIFO is moved itself, never followed
        self._seen.pop(p.name, None)
        self._deferred.pop(p.name, None)
        self._forget_attempts(p.name)
        return dest

    def done(self, frame: Frame, record_id: str) -> None:
        if frame.path is not None and os.path.lexists(frame.path):
            dest = self._move(frame.path, self.done_dir)
            log.info("%s saved as record %s; moved to %s", frame.name, record_id, dest)

    def reject(self, frame: Frame, reason: str) -> None:
        if frame.path is None or not os.path.lexists(frame.path):
            return
        dest = self._move(frame.path, self.rejected_dir)
        write_file_atomic(
            dest.with_name(dest.name + ".reason.txt"), (reason.strip() + "\n").encode()
        )
        log.warning("%s rejected (%s); moved to %s", frame.name, reason, dest)
