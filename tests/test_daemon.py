"""The capture daemon as a real process: folder inbox and replay sources, headless screen, real
digitizer/interpretation, real record store; bad frames, SIGKILL at random moments, systemd
notify protocol, SIGTERM, the sync banner."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.snr import mean_snr, record_snr
from edge.store import RecordStore, sha256_file
from edge.wfdb_io import read_record

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("edge.digitize", reason="the digitizer (issue 4) is not in this tree yet")
pytest.importorskip("convert.synth", reason="the synthesizer (issue 3) is not in this tree yet")


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _cmd(inbox: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "edge.cli",
        "run",
        "--source",
        f"folder:{inbox}",
        "--display",
        f"headless:{tmp / 'screen.png'}",
        "--data-root",
        str(tmp / "store"),
        *extra,
    ]


def _run(cmd: list[str], timeout: float = 240, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=kw.pop("env", _env()),
        cwd=REPO,
        **kw,
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two synthesizer photos (JPEG bytes, 4 MP phone-like shots without glare or shake) with
    their true signals."""
    from convert.synth import render_page, synthetic_ecg

    out = []
    for seed in (1, 3):
        page = render_page(
            synthetic_ecg(seed=seed),
            500,
            mode="photo",
            seed=100 + seed,
            photo_size=(2400, 1800),
            distortion={"glare": [], "motion_len": 0.0, "defocus_sigma": 0.3},
        )
        ok, buf = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        out.append((buf.tobytes(), page.truth))
    return out


def _drop(inbox: Path, name: str, data: bytes, mtime: float | None = None) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    p = inbox / name
    p.write_bytes(data)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


def test_end_to_end_folder_inbox_saves_records_that_match_the_truth(tmp_path, photos):
    inbox = tmp_path / "inbox"
    t0 = time.time() - 100
    for i, (data, _) in enumerate(photos):
        _drop(inbox, f"page{i}.jpg", data, t0 + i)
    r = _run(_cmd(inbox, tmp_path, "--exit-when-idle"))
    assert r.returncode == 0, r.stderr
    store = RecordStore(tmp_path / "store")
    recs = store.list()
    assert len(recs) == 2, r.stderr
    assert sorted(p.name for p in inbox.iterdir()) == [".done"]
    assert sorted(p.name for p in (inbox / ".done").iterdir()) == ["page0.jpg", "page1.jpg"]
    by_capture = {data: truth for data, truth in photos}
    for rec in recs:
        files = {p.name for p in rec.path.iterdir()}
        assert {
            f"{rec.id}.hea",
            f"{rec.id}.dat",
            "capture.jpg",
            "rectified.png",
            "overlay.png",
            "report.json",
        } <= files
        assert store.verify(rec.id) == []
        capture = (rec.path / "capture.jpg").read_bytes()
        truth = by_capture[capture]  # the capture is kept byte for byte
        ecg = read_record(rec.wfdb_stem)
        assert ecg.signals.shape[1] == 12 and ecg.fs == 500
        snr = mean_snr(record_snr(truth, ecg.signals, 500, ecg.lead_names))
        assert snr > 5.0, f"{rec.id}: SNR {snr:.1f} dB"
        report = rec.read_report()
        assert report["record_id"] == rec.id
        assert report["capture"]["sha256"] == rec.capture_sha256
        assert report["digitization"]["layout"]
        assert "measurements" in (report["interpretation"] or {})
        assert cv2.imread(str(rec.path / "rectified.png")) is not None
    screen = cv2.imread(str(tmp_path / "screen.png"))
    assert screen.shape == (480, 800, 3)
    info = json.loads((tmp_path / "screen.json").read_text())
    assert info["screen"] == "result" and info["saved"] is True and info["record_id"] == recs[-1].id
    # processing the same inbox again is a no-op, and the same capture is never saved twice
    _drop(inbox, "again.jpg", photos[0][0])
    r = _run(_cmd(inbox, tmp_path, "--exit-when-idle"))
    assert r.returncode == 0 and RecordStore(tmp_path / "store").count() == 2
    assert not (inbox / "again.jpg").exists() and (inbox / ".done" / "again.jpg").exists()


def _bad_frames(photo: bytes, tmp: Path) -> dict[str, bytes]:
    img = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    rng = np.random.default_rng(0)
    # "a cat": a natural-looking picture with shapes, shading and fur-like texture, no ECG
    cat = np.zeros((900, 1200, 3), np.float32)
    for _ in range(40):
        cv2.circle(
            cat,
            (int(rng.integers(0, 1200)), int(rng.integers(0, 900))),
            int(rng.integers(20, 300)),
            rng.uniform(0, 255, 3).tolist(),
            -1,
        )
    cat = (
        cv2.GaussianBlur(cat, (0, 0), 15)
        + cv2.GaussianBlur(rng.normal(0, 40, (900, 1200)).astype(np.float32), (0, 0), 1.2)[
            ..., None
        ]
    )
    table = np.clip(
        rng.normal(0, 8, (1200, 1600, 3)) + (70, 110, 150), 0, 255
    )  # a wooden table, no page
    big = np.zeros((10000, 10000), np.uint8)  # 100 MP
    enc = {
        "blank.png": cv2.imencode(".png", np.full((1200, 1600, 3), 255, np.uint8))[1].tobytes(),
        "no_page.jpg": cv2.imencode(".jpg", table.astype(np.uint8))[1].tobytes(),
        "blurred.jpg": cv2.imencode(".jpg", cv2.GaussianBlur(img, (0, 0), 25))[1].tobytes(),
        "cat.jpg": cv2.imencode(".jpg", np.clip(cat, 0, 255).astype(np.uint8))[1].tobytes(),
        "truncated.jpg": photo[: len(photo) // 3],
        "huge.png": cv2.imencode(".png", big)[1].tobytes(),
        "empty.jpg": b"",
        "notes.txt": b"this is not an image\n",
    }
    return enc


def test_bad_frames_never_stop_the_daemon_never_make_records_and_show_guidance(tmp_path, photos):
    inbox = tmp_path / "inbox"
    t0 = time.time() - 100
    bad = _bad_frames(photos[0][0], tmp_path)
    for i, (name, data) in enumerate(bad.items()):
        _drop(inbox, name, data, t0 + i)
    _drop(inbox, "zz_good.jpg", photos[1][0], t0 + 50)  # after all the bad ones
    os.mkfifo(inbox / "pipe.jpg")  # read as a file it would hang the inbox
    (inbox / "zero.jpg").symlink_to("/dev/zero")  # read as a file it would fill the memory
    for name in ("pipe.jpg", "zero.jpg"):
        os.utime(inbox / name, (t0 + 20, t0 + 20), follow_symlinks=False)
    r = _run(_cmd(inbox, tmp_path, "--exit-when-idle"))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for name in ("pipe.jpg", "zero.jpg"):  # moved aside themselves, never opened
        assert os.path.lexists(inbox / ".rejected" / name), name
        assert "not" in (inbox / ".rejected" / f"{name}.reason.txt").read_text()
    recs = RecordStore(tmp_path / "store").list()
    assert len(recs) == 1 and (recs[0].path / "capture.jpg").read_bytes() == photos[1][0]
    rejected = inbox / ".rejected"
    for name in bad:
        assert (rejected / name).exists(), f"{name} not set aside: {r.stderr[-2000:]}"
        reason = (rejected / f"{name}.reason.txt").read_text()
        assert len(reason.strip()) > 20 and ":" in reason, reason
    assert "100 MP" in (rejected / "huge.png.reason.txt").read_text()
    assert "truncated" in (rejected / "truncated.jpg.reason.txt").read_text()
    assert not [p for p in inbox.iterdir() if p.is_file()]
    # a bad frame alone leaves its guidance on the screen
    _drop(inbox, "cat2.jpg", bad["cat.jpg"])
    r = _run(_cmd(inbox, tmp_path, "--exit-when-idle"))
    info = json.loads((tmp_path / "screen.json").read_text())
    assert info["screen"] == "guidance" and info["message"] and info["hint"], info
    assert RecordStore(tmp_path / "store").count() == 1


KILLS_INSIDE_A_SAVE = 3  # kills that must land between "saving the record" and "saved record"


def _wait_for_line(log: Path, pattern: str, after: int, proc, timeout: float) -> int | None:
    """Offset just past the first line containing `pattern` written to `log` after `after`, or
    None when the process ended or `timeout` passed first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        text = log.read_text(errors="replace")
        k = text.find(pattern, after)
        if k >= 0:
            return text.find("\n", k) + 1 or len(text)
        time.sleep(0.005)
    return None


@pytest.mark.slow
@pytest.mark.timeout(900)  # minutes of captures and kills on a 2-core machine
def test_sigkill_inside_saves_loses_nothing_and_duplicates_nothing(tmp_path, photos):
    """Kill -9 the daemon at random moments inside its saves (a random delay after it logs
    "saving the record for X") until KILLS_INSIDE_A_SAVE kills have landed inside one - counted
    from the log: no "saved record" after the marker. After each kill the store, reopened, is
    consistent; at the end every capture is saved exactly once and none is left or set aside."""
    inbox = tmp_path / "inbox"
    base = cv2.imdecode(np.frombuffer(photos[0][0], np.uint8), cv2.IMREAD_COLOR)
    captures: dict[str, str] = {}  # name -> sha256
    t0 = time.time() - 100
    for i in range(4):
        img = base.copy()
        img[0, 0] = (i, i, i)  # a distinct capture each
        data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90 + i])[1].tobytes()
        p = _drop(inbox, f"cap{i}.jpg", data, t0 + i)
        captures[p.name] = sha256_file(p)
    rng = np.random.default_rng(7)
    landed, missed = 0, 0
    kills_per_capture: dict[str, int] = {}
    for run in range(12):
        if landed >= KILLS_INSIDE_A_SAVE:
            break
        log = tmp_path / f"daemon-{run}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                _cmd(inbox, tmp_path), env=_env(), cwd=REPO, stdout=err, stderr=err
            )
        try:
            pos = 0
            while True:  # the next save of a capture not killed twice yet (MAX_ATTEMPTS is 3)
                pos = _wait_for_line(log, "saving the record for ", pos, proc, 180)
                assert pos is not None, log.read_text()[-3000:]
                name = log.read_text()[:pos].rsplit("saving the record for ", 1)[1].strip()
                if kills_per_capture.get(name, 0) < 2:
                    break
            time.sleep(float(rng.uniform(0.0, 0.25)))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        after = log.read_text(errors="replace")[pos:]
        if "saved record" in after or "already saved" in after:
            missed += 1
        else:
            landed += 1
            kills_per_capture[name] = kills_per_capture.get(name, 0) + 1
        store = _check_consistent(tmp_path, inbox, captures)
        shas = [rec.capture_sha256 for rec in store.list()]
        assert len(shas) == len(set(shas)), "a capture was saved twice"
        store.close()
    assert landed >= KILLS_INSIDE_A_SAVE, f"only {landed} of {landed + missed} kills in a save"
    r = _run(_cmd(inbox, tmp_path, "--exit-when-idle"))
    assert r.returncode == 0, r.stderr
    store = _check_consistent(tmp_path, inbox, captures)
    assert sorted(rec.capture_sha256 for rec in store.list()) == sorted(captures.values())
    assert not [p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")]
    assert not (inbox / ".rejected").exists()


def _check_consistent(tmp: Path, inbox: Path, captures: dict[str, str]) -> RecordStore:
    store = RecordStore(tmp / "store")  # opening repairs what the kill left behind
    assert not [p for p in (tmp / "store").iterdir() if p.name.startswith(".tmp-")]
    saved = set()
    for rec in store.list():
        assert rec.status == "saved"
        assert store.verify(rec.id) == [], rec.id
        read_record(rec.wfdb_stem)
        rec.read_report()
        saved.add(rec.capture_sha256)
    waiting = {sha256_file(p) for p in inbox.iterdir() if p.is_file()}
    for name, sha in captures.items():
        assert sha in saved or sha in waiting, f"{name} was lost"
    return store


def _notify_socket(tmp: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp / "notify.sock"))
    s.settimeout(30)
    return s


def test_systemd_notify_watchdog_sigterm_and_sync_banner(tmp_path, photos):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "store").mkdir()
    sock = _notify_socket(tmp_path)
    env = _env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="400000")
    proc = subprocess.Popen(
        _cmd(inbox, tmp_path),
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        msgs: list[str] = []
        deadline = time.time() + 60
        while time.time() < deadline and not (
            any("READY=1" in m for m in msgs) and sum("WATCHDOG=1" in m for m in msgs) >= 2
        ):
            msgs.append(sock.recv(4096).decode())
        assert any("READY=1" in m for m in msgs), msgs
        assert sum("WATCHDOG=1" in m for m in msgs) >= 2, msgs
        # the sync unit reports; the daemon shows it as a banner
        status = {"time": "2026-01-01T00:00:00Z", "state": "error", "message": "USB stick is full"}
        tmp = tmp_path / "store" / "sync-status.json.tmp"
        tmp.write_text(json.dumps(status))
        os.replace(tmp, tmp_path / "store" / "sync-status.json")
        _drop(inbox, "page.jpg", photos[0][0])
        deadline = time.time() + 120
        info: dict = {}
        while time.time() < deadline:
            try:
                info = json.loads((tmp_path / "screen.json").read_text())
            except (OSError, ValueError):
                info = {}
            if info.get("screen") == "result":
                break
            time.sleep(0.2)
        assert info.get("screen") == "result" and info["saved"], info
        assert info["banner"] == ["error", "USB stick is full"]
        # a later sync outcome replaces the banner on the screen that is up, without a capture
        status = {"time": "2026-01-01T00:05:00Z", "state": "ok", "message": "3 records copied"}
        tmp.write_text(json.dumps(status))
        os.replace(tmp, tmp_path / "store" / "sync-status.json")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                info = json.loads((tmp_path / "screen.json").read_text())
            except (OSError, ValueError):
                pass
            if info.get("banner") == ["ok", "3 records copied"]:
                break
            time.sleep(0.2)
        assert info.get("banner") == ["ok", "3 records copied"] and info["screen"] == "result", info
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        rest = []
        sock.settimeout(1)
        try:
            while True:
                rest.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
        assert any("STOPPING=1" in m for m in rest), rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def test_replay_source_captures_each_held_page_once(tmp_path, photos):
    """The live path: preview frames -> page found, sharp and still -> capture -> record."""
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "a.jpg").write_bytes(photos[0][0])
    (frames / "b.jpg").write_bytes(photos[1][0])
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[display]\nresult_seconds = 0\n[capture]\nhold_still_seconds = 0.5\n"
        "[source]\npreview_width = 640\nfps = 5\n"
    )
    r = _run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            "--config",
            str(cfg),
            "--source",
            f"replay:{frames}",
            "--display",
            f"headless:{tmp_path / 'screen.png'}",
            "--data-root",
            str(tmp_path / "store"),
            "--exit-when-idle",
        ]
    )
    assert r.returncode == 0, r.stderr
    recs = RecordStore(tmp_path / "store").list()
    assert sorted((rec.path / "capture.jpg").read_bytes() for rec in recs) == sorted(
        d for d, _ in photos
    )
    assert all(rec.read_report()["quality"]["page_found"] for rec in recs)


def test_bad_config_and_bad_flags_give_one_line_errors(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[display]\nwidht = 800\n")
    r = _run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)])
    assert r.returncode == 2 and "display.widht" in r.stderr and "Traceback" not in r.stderr
    r = _run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            "--source",
            "webcam",
            "--data-root",
            str(tmp_path / "s"),
        ]
    )
    assert (
        r.returncode == 2
        and "unknown source" in r.stderr
        and len(r.stderr.strip().splitlines()) == 1
    )
    r = _run([sys.executable, "-m", "edge.cli", "run", "--config", str(tmp_path / "absent.toml")])
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_an_internal_error_on_one_capture_does_not_stop_the_loop(tmp_path):
    """A frame the pipeline cannot even encode (a broken camera driver) is set aside with a
    reason; the daemon stays up and the next capture is processed."""
    from edge.config import Config
    from edge.daemon import Daemon
    from edge.screen.sinks import HeadlessSink
    from edge.sources.base import Frame
    from edge.sources.folder import FolderSource

    cfg = Config()
    cfg.data_root = str(tmp_path / "store")
    src = FolderSource(tmp_path / "inbox", stable_seconds=0.0)
    d = Daemon(cfg, src, HeadlessSink(tmp_path / "screen.png"), RecordStore(cfg.data_root))
    weird = Frame(image=np.zeros((300, 400, 5), np.float64), name="weird")  # 5 channels, no bytes
    assert d.safe_handle(weird) is None
    assert d.stats["rejected"] == 1
    info = json.loads((tmp_path / "screen.json").read_text())
    assert info["screen"] == "guidance" and info["code"] == "internal_error"
    assert RecordStore(cfg.data_root).count() == 0


def test_a_failed_save_keeps_the_capture_in_the_inbox_and_says_not_saved(tmp_path, photos):
    """Writes larger than 1 MB fail (RLIMIT_FSIZE, like a full card): no record, no temp dir
    left, the capture stays in the inbox for a retry, the screen says NOT SAVED, exit code 1."""
    import resource

    inbox = tmp_path / "inbox"
    p = _drop(inbox, "page.jpg", photos[0][0], time.time() - 100)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    r = subprocess.run(
        _cmd(inbox, tmp_path, "--exit-when-idle"),
        capture_output=True,
        text=True,
        timeout=240,
        env=_env(),
        cwd=REPO,
        preexec_fn=limit,
    )
    assert r.returncode == 1, r.stderr
    assert p.exists() and p.read_bytes() == photos[0][0]
    store = RecordStore(tmp_path / "store")
    assert store.count() == 0
    assert not [q for q in (tmp_path / "store").iterdir() if q.name.startswith(".tmp-")]
    info = json.loads((tmp_path / "screen.json").read_text())
    assert info["screen"] == "result" and info["saved"] is False and "NOT SAVED" in info["error"]
    # once there is room again the same capture is saved
    r = _run(_cmd(inbox, tmp_path, "--exit-when-idle"))
    assert r.returncode == 0 and RecordStore(tmp_path / "store").count() == 1 and not p.exists()


@pytest.mark.slow
def test_a_capture_that_kills_the_daemon_at_every_start_is_set_aside_and_the_rest_is_read(
    tmp_path, photos
):
    """What the OOM killer does to a memory bomb: the daemon is killed -9 while it reads the
    oldest file, at every start. After MAX_ATTEMPTS such starts the file goes to .rejected/ with
    its reason and the photo behind it is saved (on main it was read again at every start)."""
    from edge.sources.folder import MAX_ATTEMPTS

    inbox = tmp_path / "inbox"
    t0 = time.time() - 100
    _drop(inbox, "a_poison.jpg", photos[1][0], t0)
    _drop(inbox, "b_good.jpg", photos[0][0], t0 + 1)
    attempts = inbox / ".attempts.json"
    for k in range(1, MAX_ATTEMPTS + 1):
        proc = subprocess.Popen(
            _cmd(inbox, tmp_path),
            env=_env(),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            end = time.monotonic() + 120
            while time.monotonic() < end and proc.poll() is None:
                try:
                    if json.loads(attempts.read_text()).get("a_poison.jpg") == k:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.01)
            assert proc.poll() is None, "the daemon ended before reading the file"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    r = _run(_cmd(inbox, tmp_path, "--exit-when-idle"))
    assert r.returncode == 0, r.stderr
    reason = (inbox / ".rejected" / "a_poison.jpg.reason.txt").read_text()
    assert f"stopped ecg-edge {MAX_ATTEMPTS} times" in reason
    store = RecordStore(tmp_path / "store")
    assert store.count() == 1 and (inbox / ".done" / "b_good.jpg").exists()


def test_a_full_store_says_what_to_do_and_the_retry_saves_once(tmp_path, photos):
    """The data root on a real, full filesystem (a small tmpfs): the screen says "NOT SAVED:
    storage full: sync to USB to free space" (no errno), the capture stays in the inbox; with
    space freed the next run saves it once."""
    from tests.fsfaults import fill, tmpfs

    inbox = tmp_path / "inbox"
    p = _drop(inbox, "page.jpg", photos[0][0], time.time() - 100)
    with tmpfs(tmp_path / "data", 24 << 20) as data:
        cmd = _cmd(inbox, tmp_path, "--exit-when-idle")
        cmd[cmd.index("--data-root") + 1] = str(data / "store")
        RecordStore(data / "store").close()
        filler = fill(data, 256 << 10)
        r = _run(cmd)
        assert r.returncode == 1, r.stderr
        info = json.loads((tmp_path / "screen.json").read_text())
        assert info["error"] == "NOT SAVED: storage full: sync to USB to free space", info
        assert p.exists() and RecordStore(data / "store").count() == 0
        filler.unlink()
        r = _run(cmd)
        assert r.returncode == 0, r.stderr
        assert RecordStore(data / "store").count() == 1 and not p.exists()
