"""Device config: defaults, TOML loading, errors that name the bad key, flag overrides."""

from __future__ import annotations

import pytest

from edge.config import Config, apply_overrides, load_config, parse_display, parse_source
from edge.errors import BadInputError


def _write(tmp_path, text: str):
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_defaults_work_without_a_file(tmp_path):
    cfg = load_config(tmp_path / "absent.toml", required=False)
    assert cfg == Config()
    assert cfg.data_root == "/var/lib/ecg-edge/records"
    assert cfg.display.width == 800 and cfg.display.height == 480
    assert cfg.sync_status_path.name == "sync-status.json"


def test_file_values_are_read_and_typed(tmp_path):
    cfg = load_config(
        _write(
            tmp_path,
            'data_root = "/data/ecg"\nlog_level = "debug"\n'
            '[source]\nspec = "v4l2:/dev/video2"\nfps = 15\n'
            '[display]\nspec = "headless:/run/s.png"\nresult_seconds = 5\n'
            '[capture]\ntrigger = "button"\ngpio_pin = 27\n'
            '[processing]\nlayout = "6x2"\n',
        )
    )
    assert cfg.data_root == "/data/ecg" and cfg.source.spec == "v4l2:/dev/video2"
    assert cfg.source.fps == 15.0 and isinstance(cfg.source.fps, float)
    assert (
        cfg.display.result_seconds == 5.0
        and cfg.capture.trigger == "button"
        and cfg.capture.gpio_pin == 27
    )
    assert cfg.processing.layout == "6x2"


@pytest.mark.parametrize(
    "text, names",
    [
        ("[display]\nwidht = 800\n", ["display.widht", "width"]),
        ("dataroot = '/x'\n", ["dataroot", "data_root"]),
        ("[display]\nwidth = 'wide'\n", ["display.width", "integer"]),
        ("[capture]\ntrigger = 'foot pedal'\n", ["capture.trigger", "auto"]),
        ("[source]\nspec = 'webcam'\n", ["webcam", "v4l2"]),
        ("[processing]\nlayout = '5x5'\n", ["processing.layout", "3x4"]),
        ("[display]\nheight = -1\n", ["display.height", "positive"]),
        ("[capture]\nautofocus = true\n", ["capture.autofocus"]),
        ("display = 3\n", ["display", "table"]),
        ("[source]\nautofocus = 'yes'\n", ["source.autofocus", "true or false"]),
        ("[display\n", ["not valid TOML"]),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, names):
    with pytest.raises(BadInputError) as e:
        load_config(_write(tmp_path, text))
    msg = str(e.value)
    assert "config.toml" in msg or "unknown source" in msg
    for n in names:
        assert n in msg, msg
    assert "\n" not in msg


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_flags_override_the_file(tmp_path):
    cfg = load_config(_write(tmp_path, '[source]\nspec = "picamera2"\n'))
    cfg = apply_overrides(
        cfg,
        source="folder:/in",
        display="headless:/s.png",
        data_root="/d",
        exit_when_idle=True,
        trigger="key",
    )
    assert (
        cfg.source.spec,
        cfg.display.spec,
        cfg.data_root,
        cfg.exit_when_idle,
        cfg.capture.trigger,
    ) == ("folder:/in", "headless:/s.png", "/d", True, "key")
    with pytest.raises(BadInputError, match="unknown display"):
        apply_overrides(cfg, display="hdmi")


def test_source_and_display_specs():
    assert parse_source("folder:/a/b") == ("folder", "/a/b")
    assert parse_source("gst:nvarguscamerasrc ! appsink") == ("gst", "nvarguscamerasrc ! appsink")
    assert parse_source("v4l2:/dev/video0") == ("v4l2", "/dev/video0")
    assert parse_source("picamera2") == ("picamera2", "")
    assert parse_display("headless:/tmp/x.png") == ("headless", "/tmp/x.png")
    with pytest.raises(BadInputError, match="needs an argument"):
        parse_source("folder")


def test_run_print_config_shows_the_effective_settings(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    cfg = _write(tmp_path, "[display]\nwidth = 1024\nheight = 600\n")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            "--config",
            str(cfg),
            "--source",
            "folder:/srv/inbox",
            "--print-config",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["display"]["width"] == 1024 and out["source"]["spec"] == "folder:/srv/inbox"
    assert out["data_root"] == "/var/lib/ecg-edge/records"
