"""The USB helper end to end on a real block device: a loop-mounted ext4 (and vfat where the
kernel has it) image stands in for the stick; skipped where loop devices or mounts are not allowed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge import bundle
from edge.store import RecordStore
from tests.conftest import check_target, make_store, models_dir

ROOT = Path(__file__).resolve().parents[1]
HELPER = ROOT / "firmware_scripts" / "ecg-edge-usb"

pytestmark = pytest.mark.slow


def _have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


@pytest.fixture()
def loopdev(tmp_path, request):
    """A loop device over a fresh image formatted with the filesystem named by the test's param."""
    fstype = getattr(request, "param", "ext4")
    mkfs = {"ext4": ["mkfs.ext4", "-q", "-F"], "vfat": ["mkfs.vfat", "-F", "32"], "none": None}[
        fstype
    ]
    if os.geteuid() != 0 or not _have(
        "losetup", "mount", "blkid", "runuser", "mountpoint", "findmnt"
    ):
        pytest.skip(
            "needs root with losetup, mount, blkid, runuser, findmnt (a device-like machine)"
        )
    if mkfs and not shutil.which(mkfs[0]):
        pytest.skip(f"{mkfs[0]} not installed")
    img = tmp_path / f"stick-{fstype}.img"
    with open(img, "wb") as f:
        f.truncate(40 << 20)
    if mkfs:
        subprocess.run([*mkfs, str(img)], check=True, capture_output=True)
    r = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device available: {r.stderr.strip()}")
    dev = r.stdout.strip()
    if fstype == "vfat":  # the kernel must be able to mount it
        probe = tmp_path / "probe"
        probe.mkdir()
        if (
            subprocess.run(["mount", "-t", "vfat", dev, str(probe)], capture_output=True).returncode
            != 0
        ):
            subprocess.run(["losetup", "-d", dev])
            pytest.skip("this kernel cannot mount vfat")
        subprocess.run(["umount", str(probe)], check=True)
    try:
        yield dev, img, fstype
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def _env(tmp_path: Path, data_root: Path, keys: tuple[Path, Path]) -> dict[str, str]:
    wrapper = tmp_path / "ecg-edge"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m edge.cli "$@"\n')
    wrapper.chmod(0o755)
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    return {
        **os.environ,
        "ECG_EDGE_BIN": str(wrapper),
        "ECG_EDGE_USER": "root",
        "ECG_EDGE_DATA_ROOT": str(data_root),
        "RUNTIME_DIRECTORY": str(run_dir),
        "ECG_EDGE_MODELS_ROOT": str(tmp_path / "models-root"),
        "ECG_EDGE_SIGNING_KEY": str(keys[1]),
    }


def _helper(dev: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HELPER), os.path.basename(dev)], capture_output=True, text=True, env=env, timeout=300
    )


def _contents(img_dev: str, tmp_path: Path) -> Path:
    mnt = tmp_path / "inspect"
    mnt.mkdir(exist_ok=True)
    subprocess.run(["mount", "-o", "ro", img_dev, str(mnt)], check=True)
    return mnt


@pytest.mark.parametrize("loopdev", ["ext4", "vfat"], indirect=True)
def test_helper_syncs_installs_models_and_unmounts(tmp_path, loopdev):
    dev, _, fstype = loopdev
    keys = bundle.generate_keypair(tmp_path / "keys")
    store = make_store(tmp_path / "records", 2)
    store.close()
    env = _env(tmp_path, tmp_path / "records", keys)
    # put a signed model bundle on the stick, as a workstation would
    mnt = tmp_path / "ws"
    mnt.mkdir()
    subprocess.run(["mount", dev, str(mnt)], check=True)
    try:
        info = bundle.make_bundle(
            models_dir(tmp_path, b"model-from-stick"), keys[0], mnt / "ECG-MODELS", version=3
        )
    finally:
        subprocess.run(["umount", str(mnt)], check=True)

    r = _helper(dev, env)
    assert r.returncode == 0, r.stdout + r.stderr
    status = json.loads((tmp_path / "records" / "sync-status.json").read_text())
    assert status["state"] == "ok", status
    assert (
        status["message"]
        == f"Copied 2 records; Installed model bundle {info.bundle_id} - safe to remove"
    )
    assert subprocess.run(["findmnt", "-S", dev], capture_output=True).returncode != 0  # unmounted
    assert (
        tmp_path / "models-root" / "current" / "classifier.tflite"
    ).read_bytes() == b"model-from-stick"
    store = RecordStore(tmp_path / "records")
    assert store.unsynced() == []
    uuid = subprocess.run(
        ["blkid", "-p", "-o", "value", "-s", "UUID", dev], capture_output=True, text=True
    ).stdout.strip()
    assert all(r.synced_to == f"usb:{uuid}:ECG-EXPORT/{_device_id()}/{r.id}" for r in store.list())
    inspect = _contents(dev, tmp_path)
    try:
        assert len(check_target(inspect, store, device_id=_device_id())) == 2
    finally:
        subprocess.run(["umount", str(inspect)], check=True)
    # plugged in again: nothing new, nothing copied twice, the bundle is already there
    r = _helper(dev, env)
    assert r.returncode == 0, r.stderr
    status = json.loads((tmp_path / "records" / "sync-status.json").read_text())
    assert (
        status["message"]
        == f"Copied 0 records; Model bundle {info.bundle_id} is already installed - safe to remove"
    )


def _device_id() -> str:
    from edge.sync import default_device_id

    return default_device_id()


def test_helper_refuses_tampered_bundle_but_keeps_records(tmp_path, loopdev):
    dev, _, _ = loopdev
    keys = bundle.generate_keypair(tmp_path / "keys")
    make_store(tmp_path / "records", 1).close()
    env = _env(tmp_path, tmp_path / "records", keys)
    mnt = tmp_path / "ws"
    mnt.mkdir()
    subprocess.run(["mount", dev, str(mnt)], check=True)
    try:
        bundle.make_bundle(
            models_dir(tmp_path, b"good-model"), keys[0], mnt / "ECG-MODELS", version=3
        )
        (mnt / "ECG-MODELS" / "classifier.tflite").write_bytes(b"evil-model")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    r = _helper(dev, env)
    assert r.returncode != 0
    status = json.loads((tmp_path / "records" / "sync-status.json").read_text())
    assert status["state"] == "error"
    assert status["message"].startswith("Copied 1 record; model update refused:")
    assert "does not match its signed sha256" in status["message"]
    assert not (tmp_path / "models-root" / "current").exists()
    assert RecordStore(tmp_path / "records").unsynced() == []


@pytest.mark.parametrize("loopdev", ["none"], indirect=True)
def test_helper_ignores_unknown_filesystem(tmp_path, loopdev):
    dev, _, _ = loopdev
    keys = bundle.generate_keypair(tmp_path / "keys")
    make_store(tmp_path / "records", 1).close()
    r = _helper(dev, _env(tmp_path, tmp_path / "records", keys))
    assert r.returncode == 0 and "not vfat, exfat or ext4" in r.stderr
    status = json.loads((tmp_path / "records" / "sync-status.json").read_text())
    assert status["state"] == "error" and "format" in status["message"]
    assert len(RecordStore(tmp_path / "records").unsynced()) == 1
