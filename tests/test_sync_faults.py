"""The sync under real faults: a stick that fills up, is remounted read-only or is pulled while
records are being copied (a loop-device ext4 stick; the sync's step hook only times the fault,
the kernel produces the error), and the sync process killed -9 mid-copy. After each: nothing on
the device changed, nothing marked synced that is not verified on the stick, no half file under a
real name, and the next sync finishes without copying anything twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge import sync
from edge.store import RecordStore
from tests.conftest import check_target, fresh_store, make_store, no_bad_final_files
from tests.fsfaults import fill, loop_stick, sh

ROOT = Path(__file__).resolve().parents[1]


def _complete_files(stick: Path, store: RecordStore, skip: set[str]) -> int:
    """Files of the records not in `skip` already on the stick under their real names (each a
    complete, correct copy: see `no_bad_final_files`)."""
    base = stick / "ECG-EXPORT" / "box1"
    return sum(
        1
        for rec in store.list()
        if rec.id not in skip and (base / rec.id).is_dir()
        for f in (base / rec.id).iterdir()
        if f.is_file() and not f.name.startswith(".")
    )


def _steps(template: Path, tmp: Path) -> list[tuple[str, str, str]]:
    calls: list[tuple[str, str, str]] = []
    probe = fresh_store(template, tmp)
    (tmp / "probe").mkdir()
    sync.sync_records(probe, tmp / "probe", device_id="box1", hook=lambda *a: calls.append(a))
    probe.close()
    assert len(calls) > 20
    return calls


class _Fault:
    """Makes the stick fail for real at the `at`-th step of the sync: `full` fills it, `readonly`
    remounts it read-only (retried at the next steps while a file is open for writing, which the
    kernel refuses with EBUSY), `pulled` unmounts it lazily and detaches the loop device."""

    def __init__(self, kind: str, at: int, stick) -> None:
        self.kind, self.at, self.stick, self.n, self.done = kind, at, stick, 0, False

    def __call__(self, event: str, rid: str, name: str) -> None:
        self.n += 1
        if self.done or self.n <= self.at:
            return
        if self.kind == "full":
            fill(self.stick.mnt, 0)
        elif self.kind == "readonly":
            if sh("mount", "-o", "remount,ro", str(self.stick.mnt)).returncode != 0:
                return  # a file is open for writing: try again at the next step
        else:
            self.stick.pull()
        self.done = True


@pytest.mark.slow
@pytest.mark.parametrize("fstype", ["ext4", "vfat"])
@pytest.mark.parametrize(
    "kind, message",
    [("full", "full"), ("readonly", "read-only"), ("pulled", "removed")],
)
def test_stick_full_readonly_or_pulled_at_each_step_loses_nothing_and_resumes(
    tmp_path, template, kind, message, fstype
):
    calls = _steps(template, tmp_path)
    faults = 0
    for k in range(0, len(calls), 3):
        store = fresh_store(template, tmp_path)
        with loop_stick(tmp_path / f"s{k}", 40 << 20, fstype) as stick:
            fault = _Fault(kind, k, stick)
            res = sync.sync_records(store, stick.mnt, device_id="box1", hook=fault)
            if res.state == "error":
                assert message in res.message, (k, calls[k], res.message)
                faults += 1
            # else the fault came too late to matter (verifying needs no space; ext4 may still
            # place a small file): what was marked must then be verified, checked below
            if kind == "pulled":
                stick.reattach()
            elif kind == "readonly":
                assert sh("mount", "-o", "remount,rw", str(stick.mnt)).returncode == 0
            marked = {r.id for r in store.list() if r.synced}
            assert marked <= set(check_target(stick.mnt, store)), (k, calls[k])
            assert all(store.verify(r.id) == [] for r in store.list())  # device copy untouched
            no_bad_final_files(stick.mnt, store)
            if kind == "full":
                (stick.mnt / ".filler").unlink()
            complete = _complete_files(stick.mnt, store, marked)
            res2 = sync.sync_records(store, stick.mnt, device_id="box1")
            assert res2.state == "ok", (k, res2.message)
            assert set(res2.copied) == {r.id for r in store.list()} - marked
            assert res2.files_reused >= complete  # nothing copied twice
            assert store.unsynced() == [] and len(check_target(stick.mnt, store)) == 2
            assert not list(stick.mnt.rglob(".*.part"))
        store.close()
    assert faults >= len(range(0, len(calls), 3)) // 2, "most faults must stop the sync"


def _sync_cli(stick: Path, root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "edge.cli",
        "sync",
        "--to",
        str(stick),
        "--data-root",
        str(root),
        "--device-id",
        "box1",
    ]


@pytest.mark.slow
def test_sync_killed_mid_copy_marks_nothing_unverified_and_resumes(tmp_path):
    """kill -9 the sync process while a file is being written on the stick (a `.part` exists),
    three times; the store stays consistent, only verified records are marked, no half file
    sits under a real name, and the next sync completes reusing the complete copies."""
    root = tmp_path / "records"
    make_store(root, 4, capture_bytes=6 << 20).close()
    stick = tmp_path / "stick"
    stick.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = np.random.default_rng(3)
    base = stick / "ECG-EXPORT" / "box1"
    landed = 0
    for _ in range(3):
        proc = subprocess.Popen(
            _sync_cli(stick, root),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            end = time.monotonic() + 120
            while time.monotonic() < end and proc.poll() is None:
                if base.is_dir() and any(base.glob("*/.*.part")):
                    break
                time.sleep(0.001)
            time.sleep(float(rng.uniform(0.0, 0.02)))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode == -signal.SIGKILL:
            landed += 1
        store = RecordStore(root)
        marked = {r.id for r in store.list() if r.synced}
        assert marked <= set(check_target(stick, store))
        assert all(store.verify(r.id) == [] for r in store.list())
        no_bad_final_files(stick, store)
        store.close()
    assert landed >= 2, "the sync finished before it could be killed mid-copy"
    store = RecordStore(root)
    complete = _complete_files(stick, store, {r.id for r in store.list() if r.synced})
    res = sync.sync_records(store, stick, device_id="box1")
    assert res.state == "ok", res.message
    assert store.unsynced() == [] and len(check_target(stick, store)) == 4
    assert res.files_reused >= complete  # nothing copied twice
    assert not list(stick.rglob(".*.part"))
    assert json.loads((root / "sync-status.json").read_text())["state"] == "ok"
    store.close()
