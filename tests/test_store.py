"""Record store: atomic saves, owner-only permissions, index, idempotency and crash recovery."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from edge.errors import BadInputError
from edge.layouts import LEAD_NAMES
from edge.store import TMP_PREFIX, RecordStore, make_record_id
from edge.wfdb_io import read_record

REPO = Path(__file__).resolve().parents[1]


def _signals(seed: int = 0, n: int = 5000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sig = np.cumsum(rng.normal(0, 0.01, (n, 12)), axis=0)
    sig[:1250, 3] = np.nan  # a lead not printed for part of the page
    return sig


def _save(store: RecordStore, seed: int = 0, **kw) -> str:
    img = np.full((60, 80, 3), seed % 255, np.uint8)
    return store.save(
        signals=_signals(seed),
        fs=500,
        report={"summary": f"record {seed}"},
        capture=kw.pop("capture", f"capture-bytes-{seed}".encode()),
        capture_ext=".jpg",
        rectified=img,
        overlay=img,
        **kw,
    )


def test_save_writes_complete_record_with_owner_only_permissions(tmp_path):
    root = tmp_path / "records"
    store = RecordStore(root)
    rid = _save(store, 1)
    d = root / rid
    assert sorted(p.name for p in d.iterdir()) == sorted(
        [f"{rid}.hea", f"{rid}.dat", "capture.jpg", "rectified.png", "overlay.png", "report.json"]
    )
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for f in d.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    assert stat.S_IMODE((root / "index.sqlite").stat().st_mode) == 0o600
    rec = read_record(d / rid)
    assert rec.lead_names == list(LEAD_NAMES)
    np.testing.assert_allclose(rec.signals, _signals(1), atol=6e-4, equal_nan=True)
    report = json.loads((d / "report.json").read_text())
    assert report["record_id"] == rid and report["summary"] == "record 1"
    assert (d / "capture.jpg").read_bytes() == b"capture-bytes-1"
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]


def test_index_list_unsynced_mark_synced_and_verify(tmp_path):
    store = RecordStore(tmp_path)
    ids = [_save(store, i) for i in range(3)]
    assert [r.id for r in store.list()] == sorted(ids)
    assert {r.id for r in store.unsynced()} == set(ids)
    store.mark_synced(ids[1], "/media/usb/ECG-EXPORT/dev1")
    rec = store.get(ids[1])
    assert (
        rec.status == "synced" and rec.synced_to == "/media/usb/ECG-EXPORT/dev1" and rec.synced_at
    )
    assert {r.id for r in store.unsynced()} == {ids[0], ids[2]}
    assert store.record_dir(ids[0]) == tmp_path / ids[0]
    assert set(rec.sha256) == {p.name for p in rec.path.iterdir()}
    assert store.verify(ids[0]) == []
    (tmp_path / ids[0] / "report.json").write_text("{}")
    assert store.verify(ids[0]) == ["report.json does not match its sha256"]
    with pytest.raises(KeyError):
        store.get("nope")
    with pytest.raises(KeyError):
        store.mark_synced("nope", "x")
    # a second process (the sync unit) sees the same index
    again = RecordStore(tmp_path)
    assert again.get(ids[1]).synced
    assert again.count() == 3


def test_ids_are_sortable_and_same_capture_is_idempotent(tmp_path):
    store = RecordStore(tmp_path)
    a = _save(store, 5)
    b = _save(store, 5)  # the same capture processed again after a crash
    assert a == b and store.count() == 1
    c = _save(store, 6)
    assert c != a
    rid = make_record_id("ab" * 32)
    assert len(rid) == 24 and rid.endswith("-abababab") and rid[8] == "-"
    assert make_record_id("00" * 32) < make_record_id(
        "00" * 32,
        __import__("datetime").datetime(2999, 1, 1, tzinfo=__import__("datetime").timezone.utc),
    )


def test_recovery_removes_temp_dirs_and_reindexes_committed_dirs(tmp_path):
    store = RecordStore(tmp_path)
    rid = _save(store, 7)
    other = _save(store, 8)
    store.close()
    # crash after the rename but before the index row: drop the row by hand
    con = sqlite3.connect(tmp_path / "index.sqlite")
    con.execute("DELETE FROM records WHERE id=?", (rid,))
    con.commit()
    con.close()
    # crash halfway through building a record
    half = tmp_path / ".tmp-20990101-000000-deadbeef"
    half.mkdir()
    (half / "capture.jpg").write_bytes(b"half")
    # a record removed from disk by someone
    import shutil

    shutil.rmtree(tmp_path / other)
    store = RecordStore(tmp_path)
    assert not half.exists()
    rec = store.get(rid)
    assert rec.status == "saved" and store.verify(rid) == []
    assert rec.capture_sha256 and store.find_capture(rec.capture_sha256) == rid
    assert store.get(other).status == "missing"
    assert [r.id for r in store.unsynced()] == [rid]


def test_remove_only_after_sync(tmp_path):
    store = RecordStore(tmp_path)
    rid = _save(store, 11)
    with pytest.raises(BadInputError, match="not been synced"):
        store.remove(rid)
    assert (tmp_path / rid).is_dir()
    store.mark_synced(rid, "/media/stick")
    store.remove(rid)
    assert not (tmp_path / rid).exists() and store.count() == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_missing_or_unwritable_store_gives_clear_error(tmp_path):
    with pytest.raises(BadInputError) as e:
        RecordStore(tmp_path / "absent", create=False)
    assert "no record store" in str(e.value)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BadInputError):
        RecordStore(blocker / "sub")


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from edge.store import RecordStore
    store = RecordStore(sys.argv[1])
    i = 0
    while True:
        sig = np.random.default_rng(i).normal(0, 0.2, (5000, 12))
        img = np.random.default_rng(i).integers(0, 255, (400, 600, 3), dtype=np.uint8)
        store.save(signals=sig, fs=500, report={"i": i}, capture=b"cap%d" % i + bytes(200000),
                   capture_ext="jpg", rectified=img, overlay=img)
        print(i, flush=True)
        i += 1
""")


@pytest.mark.slow
def test_sigkill_during_saves_leaves_only_complete_records(tmp_path):
    """Kill a writer process at random moments; every record left is complete and readable."""
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(4):
        p = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert p.stdout.readline()  # one record saved: the writer is in its stride
        time.sleep(float(rng.uniform(0, 0.8)))  # then kill it somewhere in the next saves
        p.send_signal(signal.SIGKILL)
        p.wait()
    store = RecordStore(tmp_path)
    recs = store.list()
    assert len(recs) >= 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    dirs = {p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert dirs == {r.id for r in recs}
    for r in recs:
        assert r.status == "saved"
        assert store.verify(r.id) == [], r.id
        rec = read_record(r.wfdb_stem)
        assert rec.signals.shape == (5000, 12)
        assert "i" in r.read_report()


_SLOW_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from edge.store import RecordStore
    store = RecordStore(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    i = 0
    while True:  # saves of a few hundred ms (noise PNGs, 2 MB captures): a wide window to kill in
        img = rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)
        store.save(signals=rng.normal(0, 0.2, (5000, 12)), fs=500, report={"i": i},
                   capture=rng.bytes(2_000_000), capture_ext="jpg", rectified=img, overlay=img)
        print(i, flush=True)
        i += 1
""")


def test_sigkill_inside_a_save_leaves_a_consistent_store(tmp_path):
    """kill -9 a writer while one of its saves is under way (its TMP_PREFIX directory exists). The
    store it leaves, once reopened, holds no half record, indexes exactly the record directories
    on disk, and keeps every save the writer had confirmed, complete and verified."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    confirmed = 0
    killed_inside_a_save = False
    for attempt in range(3):  # a kill can miss the window if the save commits first: try again
        p = subprocess.Popen(
            [sys.executable, "-c", _SLOW_WRITER, str(tmp_path), str(attempt)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert p.stdout.readline(), "the writer died before its first save"
            confirmed += 1
            deadline = time.monotonic() + 60
            while not any(e.name.startswith(TMP_PREFIX) for e in os.scandir(tmp_path)):
                assert time.monotonic() < deadline, "no save started within 60 s"
                time.sleep(0.002)
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        confirmed += len(p.stdout.read().split())  # saves confirmed before the kill landed
        p.stdout.close()
        killed_inside_a_save = any(e.name.startswith(TMP_PREFIX) for e in os.scandir(tmp_path))
        if killed_inside_a_save:
            break
    assert killed_inside_a_save, "no kill landed inside a save in 3 attempts"
    store = RecordStore(tmp_path)  # opening repairs what the kill left
    recs = store.list()
    assert not [e.name for e in os.scandir(tmp_path) if e.name.startswith(TMP_PREFIX)]
    dirs = {e.name for e in os.scandir(tmp_path) if e.is_dir() and not e.name.startswith(".")}
    assert dirs == {r.id for r in recs}
    assert confirmed <= len(recs) <= confirmed + 3  # at most the in-flight save per attempt
    for r in recs:
        assert r.status == "saved" and store.verify(r.id) == [], r.id
        assert read_record(r.wfdb_stem).signals.shape == (5000, 12)
        assert "i" in r.read_report()
    store.close()


def test_disk_full_after_the_commit_then_a_retry_completes_the_same_record(tmp_path):
    """A real full disk (a small tmpfs): free space is stepped down a page at a time until a save
    commits its directory but cannot write the index row. The save says "storage full: sync to
    USB to free space" (no errno); once space is freed the retry of the same capture returns the
    committed record - one directory, one index row - instead of saving it a second time."""
    from edge.store import StorageFullError
    from tests.fsfaults import PAGE, fill, tmpfs

    sig = _signals(1)
    capture = os.urandom(60_000)
    with tmpfs(tmp_path / "fs", 16 << 20) as fs:
        split = None
        for pages in range(0, 48):
            root = fs / f"store{pages}"
            store = RecordStore(root)
            _save(store, seed=2)  # the index exists and has grown once
            filler = fill(fs, 200_000 - pages * PAGE)
            try:
                store.save(signals=sig, fs=500.0, report={}, capture=capture)
            except StorageFullError as exc:
                assert str(exc) == "storage full: sync to USB to free space"
                assert "Errno" not in str(exc)
                dirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
                assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
                if len(dirs) == 2 and store.count() == 1:  # committed, not indexed
                    split = (store, root, filler)
                    break
            else:
                pytest.fail("a save succeeded with the disk (nearly) full")
            store.close()
            filler.unlink()
            shutil.rmtree(root)
        assert split is not None, "no free-space step left the commit done and the index full"
        store, root, filler = split
        filler.unlink()
        rid = store.save(signals=sig, fs=500.0, report={}, capture=capture)
        dirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        assert len(dirs) == 2 and rid in dirs and store.count() == 2
        assert store.verify(rid) == [] and store.get(rid).capture_sha256
        assert store.save(signals=sig, fs=500.0, report={}, capture=capture) == rid
        store.close()
        assert RecordStore(root).count() == 2  # recovery finds nothing more to index


def test_disk_full_while_writing_the_record_leaves_nothing_behind(tmp_path):
    """The record files themselves do not fit: storage-full message, no temp directory, no record;
    after space is freed the capture saves normally."""
    from edge.store import StorageFullError
    from tests.fsfaults import fill, tmpfs

    with tmpfs(tmp_path / "fs", 16 << 20) as fs:
        store = RecordStore(fs / "store")
        filler = fill(fs, 64 << 10)
        with pytest.raises(StorageFullError, match="sync to USB to free space"):
            store.save(signals=_signals(3), fs=500.0, report={}, capture=os.urandom(200_000))
        assert [
            p.name for p in (fs / "store").iterdir() if not p.name.startswith(("index", "."))
        ] == []
        assert store.count() == 0
        filler.unlink()
        assert store.save(signals=_signals(3), fs=500.0, report={}, capture=b"x" * 10) in {
            r.id for r in store.list()
        }
        store.close()
