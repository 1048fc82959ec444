"""The shared crash-safe writer on a real filesystem."""

import os
import stat

import pytest

from edge.atomic import fsync_dir, write_file_atomic


def test_exact_mode_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_file_atomic(tmp_path / "pub.txt", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "pub.txt").stat().st_mode) == 0o644
    write_file_atomic(tmp_path / "secret", b"k", mode=0o600)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_replaces_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "report.json"
    write_file_atomic(target, b"old")
    write_file_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.bin"
    write_file_atomic(target, b"complete")
    with pytest.raises(TypeError):
        write_file_atomic(target, "not bytes")  # fails mid-write
    assert target.read_bytes() == b"complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_strict_directory_sync_reports_a_missing_directory(tmp_path):
    fsync_dir(tmp_path / "gone")  # tolerant by default (FAT sticks refuse directory fsync)
    with pytest.raises(OSError):
        fsync_dir(tmp_path / "gone", strict=True)
