"""The record store: one directory per capture plus a SQLite index of records and their sync state.

A record is built in `<root>/.tmp-<id>/`, every file and the directory are fsynced, then the
directory is renamed to `<root>/<id>/` - the rename is the commit point. The index row is written
after the rename; opening the store repairs what a crash can leave behind (leftover temp dirs are
removed, committed directories missing from the index are re-indexed). Owner-only permissions.
"""

from __future__ import annotations

import builtins
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import atomic
from .checksum import sha256_file
from .errors import BadInputError, EcgEdgeError
from .layouts import LEAD_NAMES

log = logging.getLogger(__name__)

DEFAULT_ROOT = "/var/lib/ecg-edge/records"
INDEX_NAME = "index.sqlite"
LOCK_NAME = ".store.lock"
TMP_PREFIX = ".tmp-"
REPORT_NAME = "report.json"
DIR_MODE = 0o700
FILE_MODE = 0o600

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
LOW_SPACE_BYTES = 4 << 20  # below this a failed write is taken for a full disk (one record ~1 MB)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    created_utc TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    synced_at TEXT,
    synced_to TEXT,
    sha256_json TEXT NOT NULL,
    capture_sha256 TEXT
);
CREATE INDEX IF NOT EXISTS records_capture ON records(capture_sha256);
CREATE INDEX IF NOT EXISTS records_unsynced ON records(synced_at);
"""


@dataclass
class StoredRecord:
    """One indexed record. `path` is the absolute record directory; `sha256` maps file name -> hex
    digest of every file in it (what a sync must verify); `status` is saved | synced | missing."""

    id: str
    created_utc: str
    path: Path
    status: str
    synced_at: str | None = None
    synced_to: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    capture_sha256: str | None = None

    @property
    def synced(self) -> bool:
        return self.synced_at is not None

    @property
    def wfdb_stem(self) -> Path:
        """Path of the WFDB record without extension (for `edge.wfdb_io.read_record`)."""
        return self.path / self.id

    def read_report(self) -> dict[str, Any]:
        return json.loads((self.path / REPORT_NAME).read_text(encoding="utf-8"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_utc": self.created_utc,
            "path": str(self.path),
            "status": self.status,
            "synced_at": self.synced_at,
            "synced_to": self.synced_to,
            "sha256": dict(self.sha256),
            "capture_sha256": self.capture_sha256,
        }


class StorageFullError(EcgEdgeError):
    """The device's storage is full: nothing more can be saved until records are synced off."""

    def __init__(self) -> None:
        super().__init__("storage_full", "storage full", "sync to USB to free space")


def is_disk_full(exc: BaseException, where: str | os.PathLike | None = None) -> bool:
    """True for the errors a full disk (or quota) gives: ENOSPC/EDQUOT, SQLite's "database or
    disk is full", or a short write without an errno (numpy's `tofile`, which WFDB uses) while
    the filesystem holding `where` is nearly full."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno in _DISK_FULL_ERRNOS
    if isinstance(exc, sqlite3.OperationalError):
        return "full" in str(exc).lower()
    if isinstance(exc, OSError) and where is not None:
        try:
            st = os.statvfs(where)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < LOW_SPACE_BYTES
    return False


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_record_id(capture_sha256: str, when: datetime | None = None, n_hex: int = 8) -> str:
    """Sortable, unique id: `YYYYMMDD-HHMMSS-<first hex of the capture's sha256>`."""
    when = (when or utc_now()).astimezone(timezone.utc)
    return f"{when:%Y%m%d-%H%M%S}-{capture_sha256[:n_hex]}"


def _encode_png(image: np.ndarray) -> bytes:
    import cv2

    # fast compression: these are big images and saving sits between capture and result
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("could not encode image as PNG")
    return buf.tobytes()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (Path, datetime)):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json_bytes(obj: Any) -> bytes:
    """JSON with numpy scalars/arrays converted and NaN/inf written as null (strict JSON)."""

    def clean(o: Any) -> Any:
        if isinstance(o, float) and not np.isfinite(o):
            return None
        if isinstance(o, np.floating):
            return clean(float(o))
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, np.ndarray):
            return clean(o.tolist())
        return o

    return json.dumps(clean(obj), indent=2, default=_json_default, allow_nan=False).encode("utf-8")


class RecordStore:
    """Records under `root` (created 0700 if missing unless `create=False`) with a SQLite index."""

    def __init__(
        self, root: str | os.PathLike = DEFAULT_ROOT, *, create: bool = True, recover: bool = True
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            if not create:
                raise BadInputError(
                    "store_missing",
                    f"no record store at {self.root}",
                    "check --data-root (or data_root in the config file)",
                )
            try:
                self.root.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
            except OSError as exc:
                raise BadInputError(
                    "store_unwritable",
                    f"cannot create record store {self.root}: {exc.strerror}",
                    "choose a writable --data-root",
                ) from None
        self._writable = os.access(self.root, os.W_OK)
        if self._writable:
            try:
                os.chmod(self.root, DIR_MODE)
            except OSError:
                pass
        self._db_path = self.root / INDEX_NAME
        if not self._writable and not self._db_path.exists():
            raise BadInputError(
                "store_unwritable",
                f"record store {self.root} is not writable and has no index",
                "run as the ecg-edge user or fix permissions",
            )
        try:
            self._conn = self._connect()
        except sqlite3.Error as exc:
            raise BadInputError(
                "store_unreadable",
                f"cannot open the record index {self._db_path} ({exc})",
                "run as the ecg-edge user (sudo -u ecg-edge ...) or check the data root",
            ) from None
        if recover and self._writable:
            self.recover()

    # -- plumbing ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        new = not self._db_path.exists()
        if self._writable:
            conn = sqlite3.connect(self._db_path, timeout=30.0, isolation_level=None)
        else:
            conn = sqlite3.connect(
                f"file:{self._db_path}?mode=ro", uri=True, timeout=30.0, isolation_level=None
            )
        conn.row_factory = sqlite3.Row
        if self._writable:
            if new:
                os.chmod(self._db_path, FILE_MODE)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
        return conn

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Exclusive lock between processes sharing the store (daemon, sync, list) for writes
        that touch directories: saves and recovery never interleave."""
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _row(self, row: sqlite3.Row) -> StoredRecord:
        return StoredRecord(
            id=row["id"],
            created_utc=row["created_utc"],
            path=self.root / row["path"],
            status=row["status"],
            synced_at=row["synced_at"],
            synced_to=row["synced_to"],
            sha256=json.loads(row["sha256_json"] or "{}"),
            capture_sha256=row["capture_sha256"],
        )

    # -- recovery ------------------------------------------------------------------------------
    def recover(self) -> dict[str, list[str]]:
        """Remove leftover temp dirs; index committed record dirs the index lacks; flag indexed
        records whose directory vanished as `missing`. Returns what was done, by kind."""
        done: dict[str, list[str]] = {"removed_tmp": [], "reindexed": [], "missing": []}
        with self._lock():
            for p in sorted(self.root.iterdir()):
                if p.name.startswith(TMP_PREFIX) and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                    done["removed_tmp"].append(p.name)
            if done["removed_tmp"]:
                atomic.fsync_dir(self.root, strict=True)
            indexed = {
                r["id"]: r["status"] for r in self._conn.execute("SELECT id, status FROM records")
            }
            for p in sorted(self.root.iterdir()):
                if (
                    p.is_dir()
                    and not p.name.startswith(".")
                    and p.name not in indexed
                    and (p / f"{p.name}.hea").exists()
                ):
                    self._index_dir(p)
                    done["reindexed"].append(p.name)
            for rid, status in indexed.items():
                if not (self.root / rid).is_dir() and status != "missing":
                    self._conn.execute("UPDATE records SET status='missing' WHERE id=?", (rid,))
                    done["missing"].append(rid)
                elif (self.root / rid).is_dir() and status == "missing":
                    self._conn.execute("UPDATE records SET status=? WHERE id=?", ("saved", rid))
        for kind, ids in done.items():
            if ids:
                log.warning("record store recovery: %s %s", kind, ", ".join(ids))
        return done

    def _index_dir(self, d: Path) -> None:
        rid = d.name
        sums = {f.name: sha256_file(f) for f in sorted(d.iterdir()) if f.is_file()}
        created, capture_sha = None, None
        try:
            rep = json.loads((d / REPORT_NAME).read_text(encoding="utf-8"))
            created = rep.get("created_utc")
            capture_sha = (rep.get("capture") or {}).get("sha256")
        except (OSError, ValueError, AttributeError):
            pass
        if not created:
            try:
                created = iso(
                    datetime.strptime(rid[:15], "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
                )
            except ValueError:
                created = iso(datetime.fromtimestamp(d.stat().st_mtime, timezone.utc))
        self._conn.execute(
            "INSERT OR REPLACE INTO records (id, created_utc, path, status, synced_at, synced_to, "
            "sha256_json, capture_sha256) VALUES (?, ?, ?, 'saved', NULL, NULL, ?, ?)",
            (rid, created, rid, json.dumps(sums, sort_keys=True), capture_sha),
        )

    # -- writing -------------------------------------------------------------------------------
    def find_capture(self, capture_sha256: str) -> str | None:
        """Id of the record made from a capture with this sha256, if one was saved: from the
        index, or from a committed directory the index does not list yet (a save whose index
        update failed, e.g. on a full disk), which is then indexed. So saving a capture again
        after any failure returns the same record instead of making a second one."""
        row = self._conn.execute(
            "SELECT id FROM records WHERE capture_sha256=? AND status!='missing' "
            "ORDER BY id LIMIT 1",
            (capture_sha256,),
        ).fetchone()
        if row:
            return str(row["id"])
        d = self._committed_dir(capture_sha256)
        if d is None:
            return None
        if self._writable:
            try:
                self._index_dir(d)
                log.warning("record %s was committed but not indexed; indexed now", d.name)
            except sqlite3.Error as exc:  # still full: the directory is the record all the same
                log.warning("record %s is not indexed yet (%s)", d.name, exc)
        return d.name

    def _committed_dir(self, capture_sha256: str) -> Path | None:
        """A committed record directory made from this capture (its id ends in a prefix of the
        capture's sha256 and its report names the whole sha256), or None."""
        for p in sorted(self.root.glob(f"*-{capture_sha256[:8]}*")):
            if p.name.startswith(".") or not capture_sha256.startswith(p.name.rsplit("-", 1)[-1]):
                continue
            try:
                rep = json.loads((p / REPORT_NAME).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(rep, dict) and (rep.get("capture") or {}).get("sha256") == capture_sha256:
                return p
        return None

    def save(
        self,
        *,
        signals: np.ndarray,
        fs: float,
        report: dict[str, Any],
        lead_names: list[str] | tuple[str, ...] = LEAD_NAMES,
        capture: bytes | str | os.PathLike | None = None,
        capture_ext: str | None = None,
        rectified: np.ndarray | None = None,
        overlay: np.ndarray | None = None,
        created: datetime | None = None,
        comments: list[str] | None = None,
    ) -> str:
        """Save one record atomically and return its id. Saving the same capture twice returns
        the first record's id (idempotent re-processing after a crash, or a retry after a save
        that failed after its commit). A full disk raises StorageFullError."""
        if capture is not None and not isinstance(capture, (bytes, bytearray)):
            cpath = Path(capture)
            capture_ext = capture_ext or cpath.suffix or ".bin"
            capture = cpath.read_bytes()
        capture_ext = "." + (capture_ext or ".jpg").lstrip(".").lower()
        key = bytes(capture) if capture is not None else np.ascontiguousarray(signals).tobytes()
        capture_sha = hashlib.sha256(key).hexdigest()
        created = created or utc_now()
        if not self._writable:
            raise BadInputError(
                "store_unwritable",
                f"record store {self.root} is read-only",
                "run as the ecg-edge user or fix permissions",
            )

        with self._lock():
            existing = self.find_capture(capture_sha)
            if existing and (self.root / existing).is_dir():
                return existing
            rid = make_record_id(capture_sha, created)
            n_hex = 8
            while (self.root / rid).exists():  # same second + same prefix: a different capture
                n_hex += 4
                rid = make_record_id(capture_sha, created, n_hex)
            full_report = dict(report)
            full_report.update({"record_id": rid, "created_utc": iso(created)})
            full_report["capture"] = {
                **(report.get("capture") or {}),
                "sha256": capture_sha,
                "file": f"capture{capture_ext}" if capture is not None else None,
            }
            files: dict[str, bytes] = {}
            if capture is not None:
                files[f"capture{capture_ext}"] = bytes(capture)
            try:
                if rectified is not None:
                    files["rectified.png"] = _encode_png(rectified)
                if overlay is not None:
                    files["overlay.png"] = _encode_png(overlay)
                files[REPORT_NAME] = to_json_bytes(full_report)
                sums = self._commit_dir(rid, signals, fs, list(lead_names), comments, files)
            except OSError as exc:
                if is_disk_full(exc, self.root):
                    raise StorageFullError() from None
                raise
            try:  # a committed directory the index misses is found again by `find_capture`
                self._conn.execute(
                    "INSERT OR REPLACE INTO records (id, created_utc, path, status, synced_at, "
                    "synced_to, sha256_json, capture_sha256) "
                    "VALUES (?, ?, ?, 'saved', NULL, NULL, ?, ?)",
                    (rid, iso(created), rid, json.dumps(sums, sort_keys=True), capture_sha),
                )
            except sqlite3.Error as exc:
                if is_disk_full(exc):
                    log.warning("record %s is committed but not indexed (%s)", rid, exc)
                    raise StorageFullError() from None
                raise
        log.info("saved record %s", rid)
        return rid

    def _commit_dir(
        self,
        rid: str,
        signals: np.ndarray,
        fs: float,
        lead_names: builtins.list[str],
        comments: builtins.list[str] | None,
        files: dict[str, bytes],
    ) -> dict[str, str]:
        """Build the record in `.tmp-<rid>/` (every file fsynced) and rename it to `<rid>/`: the
        commit point. Returns every file's sha256. Nothing is left behind on failure."""
        from .wfdb_io import write_record

        tmp = self.root / f"{TMP_PREFIX}{rid}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(mode=DIR_MODE)
        try:
            write_record(tmp / rid, signals, fs, lead_names, comments=comments)
            for ext in (".hea", ".dat"):
                os.chmod(tmp / f"{rid}{ext}", FILE_MODE)
            for name, data in files.items():
                atomic.write_new_file(tmp / name, data, mode=FILE_MODE)
            sums = {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file()}
            atomic.commit_dir(tmp, self.root / rid)  # the commit point
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return sums

    def mark_synced(self, record_id: str, destination: str) -> None:
        """Record that `record_id` was copied to `destination` and verified there."""
        cur = self._conn.execute(
            "UPDATE records SET status='synced', synced_at=?, synced_to=? WHERE id=?",
            (iso(utc_now()), str(destination), record_id),
        )
        if cur.rowcount == 0:
            raise KeyError(record_id)

    def remove(self, record_id: str, *, force: bool = False) -> None:
        """Delete a record from the device - only once it is synced (verified on a stick), unless
        `force`. The directory is renamed to a temp name first (atomic for readers; a crash
        mid-delete is finished by recovery), then removed, then its index row."""
        rec = self.get(record_id)
        if not rec.synced and not force:
            raise BadInputError(
                "record_unsynced",
                f"record {record_id} has not been synced yet",
                "sync it to a USB stick first; unsynced records are never deleted",
            )
        with self._lock():
            if rec.path.is_dir():
                doomed = self.root / f"{TMP_PREFIX}removed-{record_id}"
                atomic.rename_durable(rec.path, doomed, strict=True)
                shutil.rmtree(doomed, ignore_errors=True)
            self._conn.execute("DELETE FROM records WHERE id=?", (record_id,))
        log.info("removed record %s", record_id)

    # -- reading -------------------------------------------------------------------------------
    def get(self, record_id: str) -> StoredRecord:
        """The indexed record `record_id`; KeyError if there is none."""
        row = self._conn.execute("SELECT * FROM records WHERE id=?", (record_id,)).fetchone()
        if row is None:
            raise KeyError(record_id)
        return self._row(row)

    def list(self) -> builtins.list[StoredRecord]:
        """All indexed records, oldest first."""
        return [self._row(r) for r in self._conn.execute("SELECT * FROM records ORDER BY id")]

    def unsynced(self) -> builtins.list[StoredRecord]:
        """Records saved but not yet copied anywhere, oldest first."""
        return [
            self._row(r)
            for r in self._conn.execute(
                "SELECT * FROM records WHERE synced_at IS NULL AND status='saved' ORDER BY id"
            )
        ]

    def record_dir(self, record_id: str) -> Path:
        """Directory of a saved record (KeyError if unknown)."""
        return self.get(record_id).path

    def verify(self, record_id: str) -> builtins.list[str]:
        """Problems with a record on disk (missing or changed files); empty when intact."""
        rec = self.get(record_id)
        problems = []
        if not rec.path.is_dir():
            return [f"{rec.path} is missing"]
        for name, digest in rec.sha256.items():
            f = rec.path / name
            if not f.is_file():
                problems.append(f"{name} is missing")
            elif sha256_file(f) != digest:
                problems.append(f"{name} does not match its sha256")
        return problems

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
