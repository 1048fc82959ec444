"""Real filesystem faults for tests: a small tmpfs that fills up, a loop-device "USB stick" that
can be remounted read-only or torn away mid-copy. Each helper skips the test with the reason
when the machine does not allow it (not root, no loop devices, no mkfs): the faults are the
kernel's own, never simulated."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

PAGE = 4096


def sh(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True)


def need_root(what: str) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip(f"{what} needs root and mount(8) (a device-like machine)")


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a tmpfs of `size_bytes` on `path` (created) for the duration of the block."""
    need_root("a small tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    r = sh("mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        if sh("umount", str(path)).returncode != 0:
            sh("umount", "-l", str(path))


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave_bytes: int, name: str = ".filler") -> Path:
    """Grow a filler file in the filesystem holding `path` until `leave_bytes` stay free."""
    filler = path / name
    with open(filler, "ab", buffering=0) as f:
        need = free_bytes(path) - leave_bytes
        try:
            while need > 0:
                need -= f.write(b"\0" * min(need, 1 << 20))
            os.fsync(f.fileno())
        except OSError as exc:  # filled to the last block: that is the point
            if exc.errno != errno.ENOSPC:
                raise
    return filler


class LoopStick:
    """A loop device over an image file, formatted `fstype`, mounted at `mnt`."""

    def __init__(self, tmp: Path, size_bytes: int = 32 << 20, fstype: str = "ext4") -> None:
        need_root("a loop-device stick")
        mkfs = {"ext4": ["mkfs.ext4", "-q", "-F", "-m", "0"], "vfat": ["mkfs.vfat", "-F", "32"]}
        tool = mkfs[fstype][0]
        if not shutil.which("losetup") or not shutil.which(tool):
            pytest.skip(f"needs losetup and {tool}")
        tmp.mkdir(parents=True, exist_ok=True)
        self.img, self.mnt, self.fstype = tmp / f"stick-{fstype}.img", tmp / "stick", fstype
        with open(self.img, "wb") as f:
            f.truncate(size_bytes)
        r = sh(*mkfs[fstype], str(self.img))
        if r.returncode != 0:
            pytest.skip(f"{tool} failed: {r.stderr.strip()}")
        r = sh("losetup", "-f", "--show", str(self.img))
        if r.returncode != 0:
            pytest.skip(f"no loop device available: {r.stderr.strip()}")
        self.dev = r.stdout.strip()
        self.mnt.mkdir(exist_ok=True)
        self.mount()

    def mount(self, *opts: str) -> None:
        o = ",".join(("nosuid", "nodev", "noexec", *opts))
        r = sh("mount", "-t", self.fstype, "-o", o, self.dev, str(self.mnt))
        if r.returncode != 0:
            self.close()
            pytest.skip(f"cannot mount {self.fstype} from a loop device: {r.stderr.strip()}")

    def remount_readonly(self) -> None:
        r = sh("mount", "-o", "remount,ro", str(self.mnt))
        assert r.returncode == 0, r.stderr

    def pull(self) -> None:
        """What pulling the stick does to the filesystem: the mount goes away under the writer
        (lazy unmount: open files stay, new lookups fail) and the device is detached."""
        sh("umount", "-l", str(self.mnt))
        sh("losetup", "-d", self.dev)

    def close(self) -> None:
        if sh("mountpoint", "-q", str(self.mnt)).returncode == 0:
            if sh("umount", str(self.mnt)).returncode != 0:
                sh("umount", "-l", str(self.mnt))
        sh("losetup", "-d", self.dev)

    def reattach(self) -> None:
        """Plug the (same) stick in again."""
        r = sh("losetup", "-f", "--show", str(self.img))
        assert r.returncode == 0, r.stderr
        self.dev = r.stdout.strip()
        self.mount()


@contextlib.contextmanager
def loop_stick(tmp: Path, size_bytes: int = 32 << 20, fstype: str = "ext4") -> Iterator[LoopStick]:
    stick = LoopStick(tmp, size_bytes, fstype)
    try:
        yield stick
    finally:
        stick.close()
