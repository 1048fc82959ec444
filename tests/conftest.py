"""Helpers and fixtures shared by several test modules: record stores for the sync and stick
tests, and a models directory for the bundle tests."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from edge.store import RecordStore


def store_signals(seed: int) -> np.ndarray:
    try:
        from convert.synth import synthetic_ecg

        return synthetic_ecg(seconds=10, fs=500, seed=seed)
    except ImportError:  # the synthesizer is optional for these tests
        t = np.arange(5000) / 500
        return np.sin(2 * np.pi * 1.2 * t)[:, None] * np.linspace(0.2, 1.5, 12)[None] + 0.01 * seed


def make_store(
    root: Path, n: int, *, capture_bytes: int = 2000, start_seed: int = 0
) -> RecordStore:
    store = RecordStore(root)
    rng = np.random.default_rng(start_seed)
    for i in range(n):
        store.save(
            signals=store_signals(start_seed + i),
            fs=500,
            report={"summary": f"record {i}"},
            capture=rng.integers(0, 256, capture_bytes, dtype=np.uint8).tobytes(),
            capture_ext=".jpg",
            created=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=start_seed + i),
        )
    return store


def check_target(target: Path, store: RecordStore, device_id: str = "box1") -> list[str]:
    """Ids of records fully and correctly on the target (every SHA256SUMS line verified)."""
    good = []
    base = target / "ECG-EXPORT" / device_id
    for rec in store.list():
        d = base / rec.id
        sums = d / "SHA256SUMS"
        if not sums.exists():
            continue
        lines = [ln.split("  ", 1) for ln in sums.read_text().splitlines()]
        ok = all(
            (d / name).is_file() and hashlib.sha256((d / name).read_bytes()).hexdigest() == digest
            for digest, name in lines
        )
        ok = ok and {name for _, name in lines} >= set(rec.sha256)
        if ok:
            good.append(rec.id)
    return good


def no_bad_final_files(target: Path, store: RecordStore, device_id: str = "box1") -> None:
    """Every file on the target under a real (non-temp) name is a complete, correct copy."""
    base = target / "ECG-EXPORT" / device_id
    if not base.exists():
        return
    for rec in store.list():
        d = base / rec.id
        if not d.exists():
            continue
        for f in d.iterdir():
            if f.name.startswith(".") or f.name == "SHA256SUMS":
                continue
            assert hashlib.sha256(f.read_bytes()).hexdigest() == rec.sha256[f.name], f


@pytest.fixture()
def template(tmp_path_factory):
    """A store with 2 records, copied per test so each starts from the same state."""
    root = tmp_path_factory.mktemp("tpl") / "records"
    make_store(root, 2).close()
    return root


def fresh_store(template: Path, tmp: Path) -> RecordStore:
    root = tmp / f"records-{uuid.uuid4().hex[:6]}"
    shutil.copytree(template, root)
    return RecordStore(root)


def models_dir(tmp: Path, payload: bytes = b"TFL3-model-bytes", name: str = "classifier") -> Path:
    d = tmp / "models"
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"{name}.tflite"
    f.write_bytes(payload)
    man = {
        "schema": 1,
        "models": [
            {
                "name": name,
                "file": f.name,
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_bytes": len(payload),
                "task": "classify",
                "inputs": [],
                "outputs": [],
            }
        ],
    }
    (d / "manifest.json").write_text(json.dumps(man))
    return d
