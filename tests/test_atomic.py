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


def test_streamed_write_replaces_a_link_without_following_it_and_a_planted_temp_name(tmp_path):
    """A link at the target is swapped for the new file (its target untouched); a leftover or
    planted temp name (here a link to a file outside) is removed, not written through."""
    from edge.atomic import write_chunks_atomic

    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"do not touch")
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.bin").symlink_to(outside)
    (d / ".a.bin.part").symlink_to(outside)
    steps: list[str] = []
    n = write_chunks_atomic(
        d / "a.bin", [b"ab", b"cd"], tmp_name=".a.bin.part", on_step=steps.append
    )
    assert n == 4 and steps == ["write", "write", "fsync", "rename"]
    assert not (d / "a.bin").is_symlink() and (d / "a.bin").read_bytes() == b"abcd"
    assert outside.read_bytes() == b"do not touch"
    assert sorted(p.name for p in d.iterdir()) == ["a.bin"]


def test_streamed_write_that_fails_midway_keeps_the_old_file_and_no_temp(tmp_path):
    from edge.atomic import write_chunks_atomic

    target = tmp_path / "rec.dat"
    target.write_bytes(b"old")

    def chunks():
        yield b"new part"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_chunks_atomic(target, chunks())
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.dat"]


def test_copy_publish_and_symlink_swap(tmp_path):
    from edge.atomic import copy_file_atomic, publish_file, replace_symlink

    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 << 20))  # several chunks
    assert copy_file_atomic(src, tmp_path / "copy.bin") == 3 << 20
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes()
    staged = tmp_path / "staged.hea"
    staged.write_bytes(b"header")
    publish_file(staged, tmp_path / "final.hea")
    assert not staged.exists() and (tmp_path / "final.hea").read_bytes() == b"header"
    replace_symlink(tmp_path / "current", "versions/a")
    replace_symlink(tmp_path / "current", "versions/b")
    assert os.readlink(tmp_path / "current") == "versions/b"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "copy.bin",
        "current",
        "final.hea",
        "src.bin",
    ]


def test_directory_commit_is_one_rename_that_never_replaces_a_committed_directory(tmp_path):
    from edge.atomic import commit_dir, write_new_file

    tmp = tmp_path / ".tmp-rec"
    tmp.mkdir()
    write_new_file(tmp / "a.dat", b"1")
    with pytest.raises(FileExistsError):  # a new file never overwrites
        write_new_file(tmp / "a.dat", b"2")
    commit_dir(tmp, tmp_path / "rec")
    assert (tmp_path / "rec" / "a.dat").read_bytes() == b"1" and not tmp.exists()
    again = tmp_path / ".tmp-rec2"
    again.mkdir()
    write_new_file(again / "b.dat", b"x")
    with pytest.raises(OSError):  # the committed record is not replaced
        commit_dir(again, tmp_path / "rec")
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["a.dat"]
