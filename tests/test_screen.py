"""The device screen: every screen drawn at the panel size, the result re-plots the signals,
saved/not-saved and the sync banner are visible; headless PNG sink and a real pygame sink."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge.layouts import LEAD_NAMES
from edge.screen import HeadlessSink, ResultView, Screens, open_sink
from edge.screen.render import GREEN, RED


def _signals(n: int = 5000) -> np.ndarray:
    t = np.arange(n) / 500.0
    beat = np.exp(-(((t % 0.8) - 0.3) ** 2) / 0.0004)  # an R wave every 0.8 s
    sig = np.stack([beat * (0.5 + 0.1 * i) for i in range(12)], axis=1)
    sig[:, 6] = np.nan  # V1 not read
    return sig


def _view(saved: bool = True, **kw) -> ResultView:
    base = dict(
        record_id="20260101-120000-0123abcd",
        saved=saved,
        signals=_signals(),
        fs=500.0,
        lead_names=list(LEAD_NAMES),
        lead_quality={n: 0.9 for n in LEAD_NAMES},
        confidence=0.8,
        measurements={
            "heart_rate_bpm": 75,
            "pr_ms": 160,
            "qrs_ms": 90,
            "qt_ms": 380,
            "qtc_ms": 424,
            "axis_deg": 30,
        },
        statements=["Sinus rhythm", "Normal ECG"],
        probabilities={"NORM": 0.9, "MI": 0.05},
        summary="Sinus rhythm 75/min. No abnormality detected.",
    )
    base.update(kw)
    return ResultView(**base)


@pytest.mark.parametrize("size", [(800, 480), (1024, 600)])
def test_every_screen_has_the_panel_size(size):
    s = Screens(*size)
    frame = np.full((720, 1280, 3), 200, np.uint8)
    outline = np.array([[100, 100], [1100, 120], [1080, 650], [120, 630]], np.float32)
    shots = [
        s.preview(frame, outline, "Hold still", True, 0.5),
        s.preview(None),
        s.processing(frame),
        s.idle(),
        s.message("No ECG page found", "Point the camera at the printout.", "guidance"),
        s.result(_view()),
        s.result(ResultView(None, False, error="disk full")),
    ]
    for img in shots:
        assert img.shape == (size[1], size[0], 3) and img.dtype == np.uint8


def test_result_replots_the_leads_and_shows_saved_state():
    s = Screens()
    saved = s.result(_view(True))
    assert tuple(int(v) for v in saved[10, 10]) == GREEN
    not_saved = s.result(_view(False, error="NOT SAVED: disk full"))
    assert tuple(int(v) for v in not_saved[10, 10]) == RED
    # traces are drawn: the plot differs from one without signals, mostly by dark pixels
    empty = s.result(_view(True, signals=None))
    diff = np.abs(saved.astype(int) - empty.astype(int)).sum(axis=2) > 60
    assert diff[50:400, :540].sum() > 2000
    dark = (saved[50:400, :540].max(axis=2) < 80).sum()
    assert dark > 1000


def test_sync_banner_is_drawn_across_the_bottom():
    s = Screens()
    plain = s.idle()
    ok = s.idle(banner=("ok", "12 records copied"))
    err = s.idle(banner=("error", "USB stick is full"))
    assert tuple(int(v) for v in ok[-5, 400]) == GREEN
    assert tuple(int(v) for v in err[-5, 400]) == RED
    assert not np.array_equal(plain[-30:], ok[-30:])


def test_headless_sink_writes_png_and_description_atomically(tmp_path):
    sink = open_sink(f"headless:{tmp_path / 'screen.png'}")
    assert isinstance(sink, HeadlessSink)
    img = Screens().result(_view())
    sink.show_info(img, {"screen": "result", "record_id": "x"})
    back = cv2.imread(str(tmp_path / "screen.png"))
    assert np.array_equal(back, img)
    info = json.loads((tmp_path / "screen.json").read_text())
    assert info["screen"] == "result" and info["frame"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "screen.json",
        "screen.png",
    ]  # no temp files left
    assert not sink.poll_trigger() and not sink.poll_quit()


def test_pygame_sink_shows_frames_and_reports_key_and_touch(monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("DISPLAY", ":dummy")  # keep the sink from choosing kmsdrm
    from edge.screen.sinks import PygameSink

    sink = PygameSink(800, 480, fullscreen=False)
    try:
        pg = sink.pg
        img = Screens().result(_view())
        sink.show(img)
        shown = pg.surfarray.array3d(sink.surface).transpose(1, 0, 2)[:, :, ::-1]
        assert np.abs(shown.astype(int) - img.astype(int)).max() <= 1
        pg.event.post(pg.event.Event(pg.KEYDOWN, key=pg.K_SPACE, mod=0, unicode=" ", scancode=44))
        assert sink.poll_trigger() and not sink.poll_trigger()
        pg.event.post(pg.event.Event(pg.MOUSEBUTTONDOWN, button=1, pos=(400, 240)))
        assert sink.poll_trigger()
        pg.event.post(pg.event.Event(pg.KEYDOWN, key=pg.K_ESCAPE, mod=0, unicode="", scancode=41))
        sink.poll_trigger()
        assert sink.poll_quit()
    finally:
        sink.close()
