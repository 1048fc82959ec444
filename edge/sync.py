"""Copy unsynced records to a USB stick (or any directory), verify the copies, mark them synced.

Target layout: `<target>/ECG-EXPORT/<device id>/<record id>/` holding the record's files (WFDB
.hea/.dat, report.json, images, optional .csv/.edf) and a `SHA256SUMS` (sha256sum format).

Safety rules, in order of importance:
- Nothing on the device is changed until a copy has been written, fsynced, dropped from the page
  cache and read back from the stick with the expected sha256; only then is the record marked
  synced. Only records marked synced are ever removed from the device, and only by `apply_retention`.
- Every file is written to a temporary name, fsynced and renamed, so a stick pulled mid-copy holds
  complete files or temporary leftovers, never a truncated file under a real name; the next sync
  re-checks what is there, keeps files whose sha256 already matches (nothing is copied twice) and
  rewrites the rest.
- A full, read-only, removed or failing stick stops the sync with one clear message (written to
  `<data_root>/sync-status.json` for the screen); records already verified stay marked.
- Nothing on the stick is executed or followed: symlinks, devices and odd names are refused or ignored.
- FAT32 rules: names from [A-Za-z0-9._-], unique regardless of case, files below 4 GiB.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from edge.atomic import fsync_dir, write_chunks_atomic, write_file_atomic
from edge.checksum import sha256_and_size
from edge.errors import BadInputError, EcgEdgeError

if TYPE_CHECKING:
    from edge.store import RecordStore, StoredRecord

log = logging.getLogger(__name__)

EXPORT_DIR = "ECG-EXPORT"
SUMS_NAME = "SHA256SUMS"
STATUS_NAME = "sync-status.json"
LOCK_NAME = ".sync.lock"
PART_SUFFIX = ".part"
FAT_MAX_FILE = (1 << 32) - 1
FAT_TYPES = {"vfat", "msdos", "fat", "fat32", "fuse.fusefat"}
DEVICE_ID_FILE = Path("/etc/ecg-edge/device-id")
SYNC_CONFIG = Path("/etc/ecg-edge/sync.toml")
_CHUNK = 1 << 20
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# A hook is called at every step (event, record id, file name) so tests can inject faults.
Hook = Callable[[str, str, str], None]


class SyncError(EcgEdgeError):
    """The target cannot take (more) records: full, read-only, removed, or not usable."""

    exit_code = 1


class VerifyError(Exception):
    """A copy read back from the target does not match the device's file."""


@dataclass
class RetentionRule:
    """Remove records from the device once they are verified on a stick and either older than
    `max_age_days` or beyond the newest `keep_last`. None disables that part; both None = keep all."""

    max_age_days: float | None = None
    keep_last: int | None = None

    @property
    def enabled(self) -> bool:
        return self.max_age_days is not None or self.keep_last is not None


@dataclass
class SyncSettings:
    """Sync options from `/etc/ecg-edge/sync.toml` (all optional)."""

    device_id: str = ""
    export: tuple[str, ...] = ()
    retention: RetentionRule = field(default_factory=RetentionRule)


@dataclass
class SyncResult:
    """Outcome of one sync run."""

    target: str
    device_id: str
    pending: int = 0  # records that needed syncing at the start
    copied: list[str] = field(default_factory=list)  # verified and marked in this run
    failed: dict[str, str] = field(default_factory=dict)  # record id -> reason (not marked)
    files_written: int = 0
    files_reused: int = 0  # already on the target with the right sha256 (not copied twice)
    bytes_written: int = 0
    removed: list[str] = field(default_factory=list)  # removed from the device by retention
    warnings: list[str] = field(default_factory=list)
    state: str = "ok"
    message: str = ""
    hint: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "device_id": self.device_id,
            "pending": self.pending,
            "copied": self.copied,
            "failed": self.failed,
            "files_written": self.files_written,
            "files_reused": self.files_reused,
            "bytes_written": self.bytes_written,
            "removed": self.removed,
            "warnings": self.warnings,
            "state": self.state,
            "message": self.message,
            "hint": self.hint,
            "seconds": round(self.seconds, 3),
        }


# ---------------------------------------------------------------------------------------------
# settings


def load_settings(path: str | os.PathLike | None = None) -> SyncSettings:
    """Read `sync.toml` (device_id, export = ["csv", "edf"], [retention] max_age_days, keep_last)."""
    p = Path(path) if path is not None else SYNC_CONFIG
    s = SyncSettings()
    if not p.exists():
        if path is not None:
            raise BadInputError(
                "config_missing",
                f"sync config {p} does not exist",
                "give an existing file or leave --sync-config out",
            )
        return s
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        t = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(
            "config_invalid", f"{p}: cannot read ({exc})", "fix the TOML syntax"
        ) from None
    unknown = set(t) - {"device_id", "export", "retention"}
    if unknown:
        raise BadInputError(
            "config_invalid",
            f"{p}: unknown key(s) {', '.join(sorted(unknown))}",
            "known keys: device_id, export, [retention]",
        )
    s.device_id = str(t.get("device_id", ""))
    s.export = parse_export(t.get("export", []), where=str(p))
    r = t.get("retention", {})
    if not isinstance(r, dict) or set(r) - {"max_age_days", "keep_last"}:
        raise BadInputError(
            "config_invalid",
            f"{p}: [retention] takes max_age_days and keep_last only",
            "e.g. [retention] max_age_days = 90",
        )
    try:
        s.retention = RetentionRule(
            max_age_days=None if r.get("max_age_days") is None else float(r["max_age_days"]),
            keep_last=None if r.get("keep_last") is None else int(r["keep_last"]),
        )
    except (TypeError, ValueError):
        raise BadInputError(
            "config_invalid",
            f"{p}: retention values must be numbers",
            "e.g. max_age_days = 90, keep_last = 500",
        ) from None
    if (s.retention.max_age_days or 0) < 0 or (s.retention.keep_last or 0) < 0:
        raise BadInputError(
            "config_invalid", f"{p}: retention values must not be negative", "use 0 or more"
        )
    return s


def parse_export(value: Any, where: str = "--export") -> tuple[str, ...]:
    """`"csv,edf"` or `["csv", "edf"]` -> ("csv", "edf"); unknown formats are an error."""
    from edge.export import FORMATS

    items = value.split(",") if isinstance(value, str) else list(value or [])
    out = []
    for item in items:
        f = str(item).strip().lower()
        if not f:
            continue
        if f not in FORMATS:
            raise BadInputError(
                "config_invalid",
                f"{where}: unknown export format {item!r}",
                f"use {', '.join(FORMATS)}",
            )
        if f not in out:
            out.append(f)
    return tuple(out)


def default_device_id() -> str:
    """`/etc/ecg-edge/device-id` if present (the installer writes it), else the host name plus the
    start of /etc/machine-id, so two boxes that kept the stock host name never share a folder."""
    try:
        text = DEVICE_ID_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    if not text:
        try:
            machine = Path("/etc/machine-id").read_text(encoding="ascii").strip()[:8]
        except (OSError, UnicodeDecodeError):
            machine = ""
        text = "-".join(x for x in (socket.gethostname() or "ecg-edge", machine) if x)
    return safe_name(text)


_FAT_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


def safe_name(text: str) -> str:
    """A FAT-safe name: characters outside [A-Za-z0-9._-] become '-', no leading dot or trailing
    dot/space, not a reserved DOS device name (CON, NUL, COM1...), at most 100 characters."""
    s = re.sub(r"[^A-Za-z0-9._-]", "-", text.strip()).strip(".- ")[:100].rstrip(". ")
    if s.split(".")[0].lower() in _FAT_RESERVED:
        s = f"{s}-box"
    return s or "ecg-edge"


# ---------------------------------------------------------------------------------------------
# status file shown on the screen


def write_status(
    path: str | os.PathLike,
    state: str,
    message: str,
    *,
    hint: str = "",
    kind: str = "sync",
    extra: dict[str, Any] | None = None,
) -> None:
    """Atomically write `{"time", "state", "message", ...}` for the daemon's screen."""
    p = Path(path)
    doc = {
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state": state,
        "message": message,
        "hint": hint,
        "kind": kind,
        **(extra or {}),
    }
    data = json.dumps(doc, indent=2).encode()
    write_file_atomic(p, data, mode=0o644)


# ---------------------------------------------------------------------------------------------
# the sync


@dataclass
class _Item:
    name: str
    sha256: str
    size: int
    path: Path | None = None  # copied from this file ...
    data: bytes | None = None  # ... or written from these bytes (CSV/EDF exports)


def sync_records(
    store: RecordStore,
    target: str | os.PathLike,
    *,
    device_id: str | None = None,
    export: Iterable[str] = (),
    retention: RetentionRule | None = None,
    hook: Hook | None = None,
    status_path: str | os.PathLike | None = None,
    dest_label: str | None = None,
    include_synced: bool = False,
    final_status: bool = True,
) -> SyncResult:
    """Copy every unsynced record of `store` (an `edge.store.RecordStore`) to `target`, verify,
    mark synced, then apply `retention`. A missing, full, read-only or removed target ends the run
    with `result.state == "error"` and a message for the screen (also in the status file); only a
    second sync already running raises SyncError. `dest_label` (e.g. "usb:<fs uuid>") names the
    target in the index instead of its mount path, which means nothing once the stick is gone.
    `include_synced` copies records already synced elsewhere too (a second stick, a lost copy);
    files already correct on this target are still not copied again. Progress goes to the status
    file as state "busy"; with `final_status=False` the outcome is left for the caller to write
    (the USB helper does, once the stick is unmounted)."""
    t0 = time.monotonic()
    hook = hook or (lambda event, rid, name: None)
    device_id = safe_name(device_id) if device_id else default_device_id()
    export = tuple(export)
    tgt = Path(target)
    res = SyncResult(target=str(tgt), device_id=device_id)
    status_path = Path(status_path) if status_path is not None else Path(store.root) / STATUS_NAME
    lock_fd = _lock(Path(store.root))
    try:
        try:
            _copy_pending(
                store,
                tgt,
                res,
                status_path,
                export=export,
                hook=hook,
                label=f"{dest_label}:{EXPORT_DIR}/{device_id}" if dest_label else None,
                include_synced=include_synced,
            )
        except OSError as exc:
            err = target_error(exc, tgt)
            res.state, res.message, res.hint = "error", _progress_text(err.message, res), err.hint
        except SyncError as exc:
            res.state, res.message, res.hint = "error", _progress_text(exc.message, res), exc.hint
        else:
            _summarize(res)
        if retention is not None and retention.enabled:
            try:
                res.removed = apply_retention(store, retention)
            except OSError as exc:
                res.warnings.append(f"retention: could not remove old records ({exc.strerror})")
        res.seconds = time.monotonic() - t0
        _write_final_status(status_path, res, final_status)
        log.debug("sync to %s: %s", tgt, res.message)
        return res
    finally:
        os.close(lock_fd)


def _copy_pending(
    store: RecordStore,
    tgt: Path,
    res: SyncResult,
    status_path: Path,
    *,
    export: tuple[str, ...],
    hook: Hook,
    label: str | None,
    include_synced: bool,
) -> None:
    """Copy and verify each record due for this target, with progress in the status file; a
    record that cannot be copied is listed in `res.failed`, a target problem raises."""
    base = _prepare_target(tgt, res.device_id)
    fat = filesystem_type(tgt) in FAT_TYPES
    pending = (
        store.unsynced()
        if not include_synced
        else [r for r in store.list() if r.status in ("saved", "synced")]
    )
    res.pending = len(pending)
    try:
        _set_status(
            status_path,
            "busy",
            f"Copying {len(pending)} records - do not remove the stick",
            res,
        )
    except OSError as exc:
        res.warnings.append(f"could not write {status_path}: {exc.strerror}")
    for i, rec in enumerate(pending):
        if i:
            try:
                _set_status(
                    status_path,
                    "busy",
                    f"Copying records: {i} of {len(pending)} done - do not remove the stick",
                    res,
                )
            except OSError:
                pass
        try:
            _sync_one(store, rec, base, fat=fat, export=export, hook=hook, res=res, label=label)
        except VerifyError as exc:
            res.failed[rec.id] = str(exc)
            log.debug("record %s: %s", rec.id, exc)
        except _RecordSkip as exc:
            res.failed[rec.id] = str(exc)
            log.debug("record %s not copied: %s", rec.id, exc)


def _summarize(res: SyncResult) -> None:
    """The screen message of a run that reached the end of its records."""
    if res.failed:
        res.state = "error"
        res.message = (
            f"Copied {_n(len(res.copied))}; {len(res.failed)} could not be "
            f"copied or verified - safe to remove"
        )
        res.hint = "try again or use another stick; the records stay on the device"
    else:
        res.message = f"Copied {_n(len(res.copied))} - safe to remove"


def _write_final_status(status_path: Path, res: SyncResult, final_status: bool) -> None:
    """Write the outcome to the status file, or "Finishing" when the caller writes the outcome
    (once the stick is unmounted); a status file that cannot be written is a warning."""
    try:
        if final_status:
            _set_status(status_path, res.state, res.message, res)
        else:
            _set_status(status_path, "busy", "Finishing - do not remove the stick yet", res)
    except OSError as exc:
        res.warnings.append(f"could not write {status_path}: {exc.strerror}")


class _RecordSkip(Exception):
    """This record cannot go to this target (odd name, too big for FAT, missing on the device)."""


def _sync_one(
    store: RecordStore,
    rec: StoredRecord,
    base: Path,
    *,
    fat: bool,
    export: tuple[str, ...],
    hook: Hook,
    res: SyncResult,
    label: str | None = None,
) -> None:
    rid = rec.id
    if not _SAFE.match(rid):
        raise _RecordSkip(f"record id {rid!r} is not a portable file name")
    items = _items(rec, export, res, fat)
    lower = [i.name.lower() for i in items]
    if len(set(lower)) != len(lower) or SUMS_NAME.lower() in lower:
        raise _RecordSkip(
            "two files of the record differ only in case (not possible on FAT sticks)"
        )
    for it in items:
        if fat and it.size > FAT_MAX_FILE:
            raise _RecordSkip(
                f"{it.name} is {it.size / 2**30:.1f} GiB, over the 4 GiB FAT32 limit "
                "(use an exFAT stick)"
            )
    dest = base / rid
    hook("record", rid, "")
    try:
        _ensure_dir(dest)
    except SyncError as exc:
        raise _RecordSkip(exc.message) from None
    for it in items:
        _put_file(dest, it, hook, rid, res)
    sums = "".join(f"{i.sha256}  {i.name}\n" for i in items).encode("ascii")
    sums_item = _Item(SUMS_NAME, hashlib.sha256(sums).hexdigest(), len(sums), data=sums)
    hook("sums", rid, SUMS_NAME)
    _put_file(dest, sums_item, hook, rid, res)
    fsync_dir(dest)
    fsync_dir(base)
    hook("verify", rid, "")
    for it in [*items, sums_item]:
        got = _read_back_sha256(dest / it.name)
        if got != it.sha256:
            try:  # a bad copy must not look like a good one to the next sync or to a reader
                os.unlink(dest / it.name)
            except OSError:
                pass
            raise VerifyError(
                f"{it.name} read back from the stick does not match (sha256 "
                f"{(got or 'unreadable')[:12]} != {it.sha256[:12]})"
            )
    hook("mark", rid, "")
    store.mark_synced(rid, f"{label}/{rid}" if label else str(dest))
    res.copied.append(rid)


def _items(
    rec: StoredRecord, export: tuple[str, ...], res: SyncResult, fat: bool = False
) -> list[_Item]:
    """The record's files (regular files only, with fresh sha256) plus requested exports."""
    d = Path(rec.path)
    if not d.is_dir():
        raise _RecordSkip(f"record directory {d} is missing on the device")
    items: list[_Item] = []
    for e in sorted(os.scandir(d), key=lambda e: e.name):
        if e.name.startswith(".") or not e.is_file(follow_symlinks=False):
            continue
        if not _SAFE.match(e.name):
            res.warnings.append(f"{rec.id}/{e.name}: odd file name, not copied")
            continue
        if fat and e.stat(follow_symlinks=False).st_size > FAT_MAX_FILE:
            raise _RecordSkip(
                f"{e.name} is {e.stat().st_size / 2**30:.1f} GiB, over the 4 GiB FAT32 "
                "limit (use an exFAT stick)"
            )
        try:
            digest, size = sha256_and_size(Path(e.path))
        except OSError as exc:  # a device-side problem, not the stick's
            raise _RecordSkip(f"cannot read {e.name} on the device ({exc.strerror})") from None
        want = (rec.sha256 or {}).get(e.name)
        if want and want != digest:
            res.warnings.append(f"{rec.id}/{e.name} changed on the device since it was saved")
        items.append(_Item(e.name, digest, size, path=Path(e.path)))
    missing = sorted(set(rec.sha256 or {}) - {i.name for i in items})
    if missing:
        res.warnings.append(f"{rec.id}: files missing on the device: {', '.join(missing)}")
    if export:
        from edge.export import export_bytes
        from edge.wfdb_io import read_record

        stem = d / rid_of(rec)
        try:
            ecg = read_record(stem)
        except EcgEdgeError as exc:
            res.warnings.append(f"{rec.id}: no CSV/EDF export ({exc.message})")
        else:
            start = _parse_time(getattr(rec, "created_utc", ""))
            for fmt in export:
                data = export_bytes(ecg, fmt, record_id=rec.id, start=start)
                items.append(
                    _Item(f"{rec.id}.{fmt}", hashlib.sha256(data).hexdigest(), len(data), data=data)
                )
    if not items:
        raise _RecordSkip("the record has no files on the device")
    return items


def rid_of(rec: StoredRecord) -> str:
    return str(rec.id)


def _put_file(dest: Path, it: _Item, hook: Hook, rid: str, res: SyncResult) -> None:
    """Make `dest/it.name` hold exactly `it` (reusing a matching copy), via temp name + fsync + rename."""
    final = dest / it.name
    try:
        st = os.lstat(final)
    except FileNotFoundError:
        st = None
    if st is not None:
        if (
            stat.S_ISREG(st.st_mode)
            and st.st_size == it.size
            and _read_back_sha256(final) == it.sha256
        ):
            res.files_reused += 1
            hook("reused", rid, it.name)
            return
        if stat.S_ISDIR(st.st_mode):
            raise _RecordSkip(f"{final} on the stick is a folder; not touching it")
        # anything else (a stale copy, a link, a device node) is replaced by the rename below,
        # which swaps the directory entry itself and never follows a link
    hook("open", rid, it.name)
    chunks: Iterable[bytes] = (
        (it.data[i : i + _CHUNK] for i in range(0, len(it.data), _CHUNK))
        if it.data is not None
        else _read_chunks(it.path)  # type: ignore[arg-type]
    )
    # a leftover `.part` from a pulled stick (or anything planted there) is replaced, never
    # followed; FAT refuses chmod, so the mount options decide the mode
    write_chunks_atomic(
        final,
        chunks,
        tmp_name=f".{it.name}{PART_SUFFIX}",
        sync_dir=False,
        exact_mode=False,
        on_step=lambda step: hook(step, rid, it.name),
    )
    res.files_written += 1
    res.bytes_written += it.size
    hook("written", rid, it.name)


def _read_chunks(path: Path) -> Iterator[bytes]:
    """The device file in chunks; a read error here is the device's, so it skips only this record."""
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise _RecordSkip(f"cannot read {path.name} on the device ({exc.strerror})") from None


def _read_back_sha256(path: Path) -> str | None:
    """sha256 of `path` as stored on the medium: drop its cached pages first, never follow links.

    Returns None for a missing file or one that is not a regular file; other read errors (a pulled
    or failing stick) raise OSError so the sync stops instead of blaming one record."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if hasattr(os, "posix_fadvise"):
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        h = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def _prepare_target(tgt: Path, device_id: str) -> Path:
    """Check the target and make `ECG-EXPORT/<device id>/` (refusing links and non-directories)."""
    if not tgt.exists():
        raise SyncError(
            "target_missing",
            f"{tgt} does not exist",
            "plug in the stick or give an existing directory",
        )
    if tgt.is_symlink() or not tgt.is_dir():
        raise SyncError(
            "target_invalid", f"{tgt} is not a directory", "give the stick's mount point"
        )
    base = tgt / EXPORT_DIR
    _ensure_dir(base)
    dev = base / device_id
    _ensure_dir(dev)
    return dev


def _ensure_dir(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
        st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise SyncError(
            "target_invalid",
            f"{path} on the stick is a link or a file, not a folder",
            "rename or delete it on a computer, then plug the stick in again",
        )


def target_error(exc: OSError, target: Path) -> SyncError:
    """Turn an OSError from the target into the message the nurse sees."""
    e = exc.errno
    full = SyncError(
        "target_full",
        "The stick is full",
        "use a stick with more free space; the remaining records are copied next time",
    )
    readonly = SyncError(
        "target_readonly",
        "The stick is read-only",
        "slide its write-protect switch off or use another stick",
    )
    if e in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return full
    if e == errno.EROFS:
        return readonly
    if e in (errno.EACCES, errno.EPERM):
        # some drivers (FUSE FAT, write-protected media) say "permission denied" for both
        try:
            st = os.statvfs(target)
        except OSError:
            return readonly
        if st.f_flag & os.ST_RDONLY:
            return readonly
        if st.f_bavail * st.f_frsize < (1 << 20):
            return full
        return SyncError(
            "target_denied",
            "The stick does not allow writing (permission denied)",
            "use a stick formatted FAT32 or exFAT, or fix its folder permissions on a computer",
        )
    if e in (
        errno.EIO,
        errno.ENODEV,
        errno.ENXIO,
        errno.ENOENT,
        errno.ESHUTDOWN,
        errno.ENOTCONN,
        errno.ENOTDIR,
        errno.EBADF,
    ):
        return SyncError(
            "target_gone",
            "The stick was removed or failed during the copy",
            "plug it in again; the copy resumes where it stopped",
        )
    return SyncError(
        "target_error",
        f"Copy to the stick failed ({exc.strerror or exc})",
        "try again or use another stick",
    )


def _n(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def _progress_text(message: str, res: SyncResult) -> str:
    if not res.pending:
        return message
    return f"{message}: copied {len(res.copied)} of {res.pending} records"


def _set_status(path: Path, state: str, message: str, res: SyncResult) -> None:
    write_status(
        path,
        state,
        message,
        hint=res.hint,
        kind="sync",
        extra={
            "copied": len(res.copied),
            "failed": len(res.failed),
            "pending": res.pending,
            "target": res.target,
            "device_id": res.device_id,
        },
    )


def _lock(root: Path) -> int:
    try:
        fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise SyncError(
            "store_unwritable",
            f"cannot use the record store {root} ({exc.strerror})",
            "run as the ecg-edge user (sudo -u ecg-edge) or check --data-root",
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise SyncError(
            "sync_busy", "another sync is already running", "wait for it to finish"
        ) from None
    return fd


# ---------------------------------------------------------------------------------------------
# retention


def apply_retention(
    store: RecordStore, rule: RetentionRule, *, now: datetime | None = None
) -> list[str]:
    """Remove from the device records that are synced (verified on a stick) and older than
    `max_age_days` or beyond the newest `keep_last`. Unsynced records are never touched."""
    if not rule.enabled:
        return []
    now = now or datetime.now(timezone.utc)
    records = store.list()  # oldest first
    keep_ids = set()
    if rule.keep_last is not None:
        keep_ids = (
            {r.id for r in records[len(records) - rule.keep_last :]}
            if rule.keep_last > 0
            else set()
        )
    removed = []
    for r in records:
        if r.synced_at is None or r.status != "synced":
            continue
        old = False
        if rule.max_age_days is not None:
            created = _parse_time(r.created_utc)
            old = created is not None and now - created > timedelta(days=rule.max_age_days)
        over = rule.keep_last is not None and r.id not in keep_ids
        if not (old or over):
            continue
        if _remove_record(store, r):
            removed.append(r.id)
    return removed


def _remove_record(store: RecordStore, rec: StoredRecord) -> bool:
    """Remove one synced record from the device through the store (which refuses unsynced ones)."""
    try:
        store.remove(rec.id)
    except (KeyError, EcgEdgeError) as exc:
        log.warning("retention: record %s not removed: %s", rec.id, exc)
        return False
    return True


# ---------------------------------------------------------------------------------------------
# helpers


def filesystem_type(path: str | os.PathLike) -> str:
    """Type of the filesystem holding `path` ('vfat', 'exfat', 'ext4', ...), '' if unknown."""
    p = os.path.realpath(path)
    best, fstype = "", ""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (p == mnt or p.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, fstype = mnt, parts[2]
    except OSError:
        return ""
    return fstype


def _parse_time(text: str) -> datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except ValueError:
        return None
