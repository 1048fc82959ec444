"""Write `models/manifest.json` entries (workstation side): `make_entry` describes a `.tflite` file
from the file itself (sha256, size, tensors, quantization) and `upsert_entry` adds or replaces it
atomically. The device reads the same file with `edge.models.read_manifest`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from edge.models import SCHEMA, sha256_file


def tensor_specs(
    tflite_path: str | Path, layouts: list[str] | None = None, *, which: str = "inputs"
) -> list[dict]:
    """Input or output tensor descriptions of a `.tflite` file (name, shape, dtype, layout, quantization)."""
    from edge.models import TFLiteModel

    m = TFLiteModel(tflite_path, num_threads=1)
    qs = m.inputs if which == "inputs" else m.outputs
    out = []
    for i, q in enumerate(qs):
        quant = {"scale": q.scale, "zero_point": q.zero_point} if q.scale else None
        out.append(
            {
                "name": q.name,
                "shape": list(q.shape),
                "dtype": q.dtype.name,
                "layout": (layouts[i] if layouts and i < len(layouts) else ""),
                "quantization": quant,
            }
        )
    return out


def make_entry(
    name: str,
    tflite_path: str | Path,
    *,
    task: str,
    models_dir: str | Path | None = None,
    input_layouts: list[str] | None = None,
    output_layouts: list[str] | None = None,
    labels: list[str] | None = None,
    thresholds: Any = None,
    metrics: dict | None = None,
    training_data: str | dict | None = None,
    card: str | None = None,
    extra: dict | None = None,
) -> dict[str, Any]:
    """A manifest entry for `tflite_path` (or another model file, without tensor specs); `file` is
    relative to `models_dir` (default: the file's dir)."""
    p = Path(tflite_path).resolve()
    mdir = Path(models_dir).resolve() if models_dir is not None else p.parent
    tflite = p.suffix == ".tflite"  # other model files (a JSON feature model) have no tensors
    try:
        rel = p.relative_to(mdir).as_posix()
    except ValueError:
        rel = p.name
    entry: dict[str, Any] = {
        "name": name,
        "file": rel,
        "sha256": sha256_file(p),
        "size_bytes": p.stat().st_size,
        "task": task,
        "inputs": tensor_specs(p, input_layouts, which="inputs") if tflite else [],
        "outputs": tensor_specs(p, output_layouts, which="outputs") if tflite else [],
        "labels": list(labels) if labels is not None else None,
        "thresholds": thresholds,
        "metrics": metrics or {},
        "training_data": training_data,
        "card": card,
    }
    if extra:
        entry.update(extra)
    return entry


def read(manifest_path: str | Path) -> dict[str, Any]:
    """The manifest as a dict (an empty schema-1 manifest if the file does not exist yet)."""
    p = Path(manifest_path)
    if not p.exists():
        return {"schema": SCHEMA, "models": []}
    data = json.loads(p.read_text(encoding="utf-8"))
    data.setdefault("schema", SCHEMA)
    data.setdefault("models", [])
    return data


def write_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write JSON to a temp file in the same directory, fsync, rename over `path`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the manifest is public metadata
        os.replace(tmp, p)
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def upsert_entry(manifest_path: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Add `entry` to the manifest, replacing any entry of the same name; returns the new manifest."""
    data = read(manifest_path)
    models = [m for m in data["models"] if m.get("name") != entry["name"]]
    models.append(entry)
    models.sort(key=lambda m: m.get("name", ""))
    data["models"] = models
    write_atomic(manifest_path, data)
    return data


def remove_entry(manifest_path: str | Path, name: str) -> dict[str, Any]:
    """Drop the entry called `name` (no error if absent); returns the new manifest."""
    data = read(manifest_path)
    data["models"] = [m for m in data["models"] if m.get("name") != name]
    write_atomic(manifest_path, data)
    return data
