"""Capture sources on real files: the folder inbox (stability, hand-over, rejects), replay of
image folders and videos, and clear errors for cameras that are not there."""

from __future__ import annotations

import importlib.util
import os
import time

import cv2
import numpy as np
import pytest

from edge.config import Config
from edge.errors import BadInputError
from edge.sources import open_source
from edge.sources.decode import decode_frame
from edge.sources.folder import FolderSource
from edge.sources.replay import ReplaySource


def _jpeg(seed: int = 0, size=(600, 800)) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _old(p, age: float = 10.0):
    t = time.time() - age
    os.utime(p, (t, t))
    return p


def test_folder_inbox_hands_over_complete_files_oldest_first_and_moves_them(tmp_path):
    inbox = tmp_path / "inbox"
    src = FolderSource(inbox, stable_seconds=0.3)  # creates the inbox
    assert inbox.is_dir() and src.next_capture() is None and src.idle()
    b = inbox / "b.jpg"
    b.write_bytes(_jpeg(1))
    _old(b, 20)
    a = inbox / "a.jpg"
    a.write_bytes(_jpeg(2))
    _old(a, 30)
    (inbox / ".hidden.jpg").write_bytes(_jpeg(3))
    (inbox / "c.jpg.part").write_bytes(_jpeg(4))
    (inbox / "sub").mkdir()
    f = src.next_capture()
    assert f.name == "a.jpg" and f.image is not None and f.image.shape == (600, 800, 3)
    assert f.data == a.read_bytes() and f.ext == ".jpg" and f.error is None
    src.done(f, "rec-1")
    assert not a.exists() and (inbox / ".done" / "a.jpg").read_bytes() == f.data
    f = src.next_capture()
    assert f.name == "b.jpg"
    src.reject(f, "no ECG page found: point the camera at the printout")
    assert (inbox / ".rejected" / "b.jpg").exists()
    assert "no ECG page" in (inbox / ".rejected" / "b.jpg.reason.txt").read_text()
    assert src.next_capture() is None  # hidden, partial and directories are ignored
    # same name again: nothing is overwritten
    (inbox / "a.jpg").write_bytes(_jpeg(5))
    _old(inbox / "a.jpg")
    f = src.next_capture()
    src.done(f, "rec-2")
    assert sorted(p.name for p in (inbox / ".done").iterdir()) == ["a.1.jpg", "a.jpg"]


def test_folder_inbox_waits_until_a_file_stops_changing(tmp_path):
    src = FolderSource(tmp_path, stable_seconds=0.4)
    p = tmp_path / "scan.jpg"
    data = _jpeg(7)
    p.write_bytes(data[:1000])  # a scanner still writing
    assert src.next_capture() is None
    time.sleep(0.2)
    with open(p, "ab") as f:
        f.write(data[1000:])
    assert src.next_capture() is None  # changed since last look
    time.sleep(0.5)
    f = src.next_capture()
    assert f is not None and f.data == data and f.error is None


def test_bad_files_come_back_as_frames_with_an_error(tmp_path):
    src = FolderSource(tmp_path, stable_seconds=0.0)
    data = _jpeg(8)
    (tmp_path / "1_trunc.jpg").write_bytes(data[: len(data) // 2])
    _old(tmp_path / "1_trunc.jpg")
    f = src.next_capture()
    assert f.image is None and f.error.code == "truncated_file" and f.error.hint
    src.reject(f, str(f.error))
    (tmp_path / "2_empty.jpg").write_bytes(b"")
    _old(tmp_path / "2_empty.jpg")
    f = src.next_capture()
    assert f.error.code == "empty_file"


def test_deferred_capture_stays_in_the_inbox(tmp_path):
    src = FolderSource(tmp_path, stable_seconds=0.0, retry_seconds=60)
    p = tmp_path / "x.jpg"
    p.write_bytes(_jpeg(9))
    _old(p)
    f = src.next_capture()
    src.defer(f)
    assert p.exists() and src.next_capture() is None and src.idle() and src.waiting() == 1


def test_oversized_image_is_refused_from_its_header_before_decoding():
    big = cv2.imencode(".png", np.zeros((8000, 8000), np.uint8))[1].tobytes()  # 64 MP
    f = decode_frame(big, "big.png", ext=".png", max_pixels=60_000_000)
    assert f.image is None and f.error.code == "image_too_large" and "64 MP" in f.error.message
    ok = decode_frame(_jpeg(1), "ok.jpg", ext=".jpg")
    assert ok.image is not None and ok.error is None


def test_replay_folder_plays_each_image_as_a_held_still_view_in_virtual_time(tmp_path):
    for i in range(2):
        (tmp_path / f"{i}.jpg").write_bytes(_jpeg(i, (1200, 1600)))
    src = ReplaySource(tmp_path, fps=10, preview_width=640, seconds_per_image=0.5)
    frames = []
    while (f := src.preview()) is not None:
        frames.append(f)
        if len(frames) == 3:
            still = src.capture()
            assert (
                still.image.shape == (1200, 1600, 3)
                and still.data == (tmp_path / "0.jpg").read_bytes()
            )
    assert src.exhausted and len(frames) == 10
    assert frames[0].image.shape == (480, 640, 3)
    assert np.allclose(np.diff([f.timestamp for f in frames]), 0.1)
    assert [f.name for f in frames] == ["0.jpg"] * 5 + ["1.jpg"] * 5


def test_replay_video(tmp_path):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    assert w.isOpened()
    for i in range(6):
        w.write(np.full((240, 320, 3), i * 40, np.uint8))
    w.release()
    src = ReplaySource(path, fps=10)
    frames = []
    while (f := src.preview()) is not None:
        frames.append(f)
    assert len(frames) == 6 and frames[0].image.shape == (240, 320, 3)
    assert frames[-1].image.mean() > frames[0].image.mean()
    src.close()


def test_factory_and_clear_errors_for_missing_cameras(tmp_path):
    cfg = Config()
    assert isinstance(open_source(f"folder:{tmp_path / 'in'}", cfg), FolderSource)
    assert isinstance(open_source(f"replay:{tmp_path}", cfg), ReplaySource)
    with pytest.raises(BadInputError, match="does not exist"):
        open_source(f"replay:{tmp_path / 'nope'}", cfg)
    from edge.sources.opencv_camera import gstreamer_available

    if not gstreamer_available():
        with pytest.raises(BadInputError, match="GStreamer"):
            open_source("gst:videotestsrc ! appsink", cfg)
    if importlib.util.find_spec("picamera2") is None:
        with pytest.raises(BadInputError, match="picamera2"):
            open_source("picamera2", cfg)
    if not os.path.exists("/dev/video9"):
        with pytest.raises(BadInputError, match="cannot open camera"):
            open_source("v4l2:/dev/video9", cfg)


def test_resilient_camera_retries_until_the_camera_is_back(tmp_path):
    from edge.sources.resilient import ResilientCamera

    for i in range(2):
        (tmp_path / f"{i}.jpg").write_bytes(_jpeg(i))
    attempts = []

    def opener():  # the camera is unplugged for the first two attempts
        attempts.append(1)
        if len(attempts) < 3:
            raise BadInputError("camera_unavailable", "cannot open camera test", "check the cable")
        return ReplaySource(tmp_path, fps=10, seconds_per_image=0.2)

    cam = ResilientCamera(opener, "test", retry_seconds=0.05, stall_seconds=0.1)
    frames = [cam.preview() for _ in range(4)]
    assert frames[0].image is None and frames[0].error.code == "camera_unavailable"
    assert any(f is not None and f.image is not None for f in frames), attempts
    # the replay runs out = the camera stops sending: it is dropped and reopened
    seen_stall = False
    for _ in range(30):
        f = cam.preview()
        if f is not None and f.error is not None and f.error.code == "camera_stalled":
            seen_stall = True
            break
        time.sleep(0.02)
    assert seen_stall
    cam.close()


def test_daemon_under_systemd_keeps_running_without_a_camera_and_says_so(tmp_path):
    import json
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "n.sock"))
    sock.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "n.sock"), "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            "--source",
            "v4l2:/dev/video99",
            "--display",
            f"headless:{tmp_path / 'screen.png'}",
            "--data-root",
            str(tmp_path / "store"),
        ],
        env=env,
        cwd=repo,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "READY=1" in sock.recv(4096).decode()
        deadline = time.time() + 20
        info = {}
        while time.time() < deadline:
            try:
                info = json.loads((tmp_path / "screen.json").read_text())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        assert info.get("screen") == "error" and "camera" in info.get("message", ""), info
        assert proc.poll() is None  # still running: no restart loop
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


def test_every_source_and_sink_meets_the_protocol_the_daemon_uses():
    """The daemon calls sources and sinks through the `Source` and `Sink` protocols (no name or
    hasattr checks): every implementation must carry every member, callable where it is a
    method."""
    import inspect

    from edge.screen.sinks import HeadlessSink, NullSink, PygameSink, Sink
    from edge.sources.base import Source
    from edge.sources.opencv_camera import OpenCVCamera
    from edge.sources.picamera2_camera import Picamera2Camera
    from edge.sources.resilient import ResilientCamera

    def members(proto: type) -> set[str]:
        return {n for n in dir(proto) if not n.startswith("_")} | set(
            getattr(proto, "__annotations__", {})
        )

    for proto, impls in (
        (Source, (FolderSource, ReplaySource, OpenCVCamera, Picamera2Camera, ResilientCamera)),
        (Sink, (NullSink, HeadlessSink, PygameSink)),
    ):
        want = members(proto)
        assert len(want) >= 5
        for cls in impls:
            missing = {n for n in want if not hasattr(cls, n)}
            assert not missing, f"{cls.__name__} lacks {sorted(missing)}"
            for n in want:
                if inspect.isfunction(getattr(proto, n, None)):
                    assert callable(getattr(cls, n)), (cls.__name__, n)
    assert HeadlessSink.preview_interval_s > NullSink.preview_interval_s == 0.0


def _png_header_only(w: int, h: int) -> bytes:
    """A tiny PNG that declares w x h pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def test_files_that_cannot_be_read_safely_are_refused_before_decoding_and_moved_aside(tmp_path):
    """A link to /dev/zero, a FIFO named .jpg, a link to a photo outside the inbox and a PNG whose
    header declares 400 MP come back as refused frames at once (nothing blocks, nothing is
    decoded) and move to .rejected/ with their reason - the links and the FIFO themselves, never
    what they point at; the photo behind them is then read."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(_jpeg(3))
    (inbox / "1_zero.jpg").symlink_to("/dev/zero")
    os.mkfifo(inbox / "2_fifo.jpg")
    (inbox / "3_link.jpg").symlink_to(outside)
    (inbox / "4_bomb.png").write_bytes(_png_header_only(20000, 20000))
    (inbox / "5_good.jpg").write_bytes(_jpeg(4))
    (inbox / "6_dir.jpg").mkdir()  # a folder is not a capture: left alone
    for i, p in enumerate(sorted(inbox.iterdir())):
        t = time.time() - 100 + i
        os.utime(p, (t, t), follow_symlinks=False)
    src = FolderSource(inbox, stable_seconds=0.0)
    codes = []
    t0 = time.monotonic()
    for _ in range(4):
        f = src.next_capture()
        assert f is not None and f.image is None and f.error is not None
        assert f.error.message and f.error.hint
        codes.append((f.name, f.error.code))
        src.reject(f, str(f.error))
    assert time.monotonic() - t0 < 2.0
    assert codes == [
        ("1_zero.jpg", "not_a_file"),
        ("2_fifo.jpg", "not_a_file"),
        ("3_link.jpg", "not_a_file"),
        ("4_bomb.png", "image_too_large"),
    ]
    rej = inbox / ".rejected"
    assert os.readlink(rej / "1_zero.jpg") == "/dev/zero"
    assert (rej / "2_fifo.jpg").is_fifo() and outside.read_bytes() == _jpeg(3)
    assert "400 MP" in (rej / "4_bomb.png.reason.txt").read_text()
    good = src.next_capture()
    assert good.name == "5_good.jpg" and good.image is not None and good.error is None
    src.done(good, "rec")
    assert src.next_capture() is None and (inbox / "6_dir.jpg").is_dir()


def test_a_capture_whose_reading_keeps_killing_the_reader_is_set_aside(tmp_path):
    """Each hand-out is counted on disk before decoding; a file handed out MAX_ATTEMPTS times
    without an outcome (the process died each time) is refused - with its bytes, so a capture
    saved just before a kill is still recognised - and the next file is read."""
    from edge.sources.folder import MAX_ATTEMPTS

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a_poison.jpg").write_bytes(_jpeg(5))
    (inbox / "b_good.jpg").write_bytes(_jpeg(6))
    _old(inbox / "a_poison.jpg", 20)
    _old(inbox / "b_good.jpg", 10)
    for _ in range(MAX_ATTEMPTS):  # a fresh source each time: a restarted daemon
        f = FolderSource(inbox, stable_seconds=0.0).next_capture()
        assert f.name == "a_poison.jpg" and f.image is not None
    src = FolderSource(inbox, stable_seconds=0.0)
    f = src.next_capture()
    assert f.name == "a_poison.jpg" and f.image is None and f.error.code == "stopped_the_reader"
    assert f.data == _jpeg(5) and f"{MAX_ATTEMPTS} times" in f.error.message
    src.reject(f, str(f.error))
    g = src.next_capture()
    assert g.name == "b_good.jpg" and g.image is not None
    src.done(g, "rec")
    assert not (inbox / ".attempts.json").exists()  # every outcome clears its count
