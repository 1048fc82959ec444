"""`ecg-edge list`, `ecg-edge show` and `ecg-edge bench` as real processes on a real store."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge.store import RecordStore

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


@pytest.fixture()
def store(tmp_path):
    s = RecordStore(tmp_path / "records")
    rng = np.random.default_rng(0)
    for i, hr in enumerate((72, 110)):
        report = {
            "source": "folder:/inbox",
            "capture": {"name": f"page{i}.jpg"},
            "digitization": {"layout": "3x4+1", "confidence": 0.8, "lead_confidence": {"I": 0.9}},
            "interpretation": {
                "measurements": {"heart_rate_bpm": hr, "qrs_ms": 90},
                "statements": ["Sinus rhythm"],
                "probabilities": {"NORM": 0.7},
                "summary": f"Sinus rhythm {hr}/min. Automated reading.",
            },
        }
        s.save(
            signals=rng.normal(0, 0.1, (5000, 12)),
            fs=500,
            report=report,
            capture=f"img{i}".encode(),
            capture_ext=".jpg",
            created=datetime(2026, 1, 1 + i, 9, 0, tzinfo=timezone.utc),
        )
    return s


def test_list_shows_records_and_sync_state(store):
    root = str(store.root)
    r = _cli("list", "--data-root", root)
    assert r.returncode == 0, r.stderr
    ids = [rec.id for rec in store.list()]
    assert all(i in r.stdout for i in ids) and "2 record(s), 2 not yet synced" in r.stdout
    assert " 110  Sinus rhythm 110/min" in r.stdout
    store.mark_synced(ids[0], "STICK/ECG-EXPORT/box1")
    r = _cli("list", "--data-root", root, "--unsynced", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["id"] for row in rows] == [ids[1]]
    r = _cli("list", "--data-root", root)
    assert "synced" in r.stdout and "1 not yet synced" in r.stdout


def test_show_by_prefix_last_and_clear_errors(store, tmp_path):
    root = str(store.root)
    ids = [rec.id for rec in store.list()]
    r = _cli("show", ids[0][:12], "--data-root", root)
    assert r.returncode == 0, r.stderr
    assert (
        ids[0] in r.stdout
        and "intact" in r.stdout
        and "72 bpm" in r.stdout
        and "Sinus rhythm" in r.stdout
    )
    r = _cli("show", "last", "--data-root", root, "--json")
    data = json.loads(r.stdout)
    assert data["record"]["id"] == ids[1] and data["problems"] == []
    r = _cli("show", "2026", "--data-root", root)
    assert r.returncode == 2 and "matches 2 records" in r.stderr
    r = _cli("show", "nope", "--data-root", root)
    assert r.returncode == 2 and "no record 'nope'" in r.stderr
    (store.root / ids[0] / "report.json").write_text("{}")  # damaged on disk
    r = _cli("show", ids[0], "--data-root", root)
    assert r.returncode == 1 and "report.json does not match" in r.stdout
    r = _cli("list", "--data-root", str(tmp_path / "absent"))
    assert r.returncode == 2 and "no record store" in r.stderr


def test_bench_prints_stage_latency_and_peak_memory():
    pytest.importorskip("edge.digitize", reason="the digitizer (issue 4) is not in this tree yet")
    example = REPO / "examples" / "photo.jpg"
    if not example.exists():
        pytest.skip("examples/photo.jpg (synthesizer, issue 3) not in this tree yet")
    r = _cli("bench", str(example), "--repeat", "1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for stage in ("decode", "preview_guidance", "digitize", "save_record", "draw_result"):
        assert out["stages"][stage]["median_s"] > 0
    assert out["peak_rss_mb"] > 50 and out["capture_to_result_s"] > 0
    r = _cli("bench", "/nonexistent.jpg")
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.benchmark
def test_memory_stays_flat_over_hundreds_of_captures():
    """Long run (tens of minutes on 2 cores): 200 captures through the daemon loop; prints the
    RSS checkpoints and fails if memory keeps growing in the second half."""
    pytest.importorskip("edge.digitize")
    example = REPO / "examples" / "photo.jpg"
    r = _cli("bench", str(example), "--soak", "200", "--json", timeout=4 * 3600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    print(json.dumps(out, indent=2))
    assert out["captures"] == 200 and out["stats"]["saved"] == 200
    assert out["second_half_growth_mb_per_100"] < 5.0
