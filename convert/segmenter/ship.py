"""Install a trained segmenter run as the device's `segmenter` model: quantize `segmenter.onnx` with
the run's calibration tiles, copy `segmenter_int8.tflite` into the models directory, write its
manifest entry (tensors, quantization, layout, preprocessing, metrics) and model card."""

from __future__ import annotations

import json
from pathlib import Path

from edge.atomic import write_file_atomic
from edge.errors import ModelError

MODEL_NAME = "segmenter"  # the name edge.digitize's "learned"/"auto" stage loads
EXPERIMENTAL_NAME = "segmenter_experimental"  # shipped but not picked up by default
MODEL_FILE = "segmenter_int8.tflite"
CARD_FILE = "segmenter.md"
MAX_BYTES = 1_000_000

TRAINING_DATA = {
    "dataset": "PTB-XL 1.0.3 subset (500 records), Wagner et al., Scientific Data 7, 154 (2020), CC BY 4.0",
    "pages": "synthetic printouts rendered by convert.synth (randomized styles; clean, scan and photo modes), "
    "rectified to the digitizer's working resolution with the recorded homography",
    "train_folds": list(range(1, 9)),
    "validation_fold": 9,
    "test_fold": 10,
}
KIT_PAGES = (
    "pages rendered by ecg-image-kit (the PhysioNet Challenge 2024 generator, BSD-3-Clause) with "
    "randomized options (resolution, grid colour, black and white, header text, calibration pulses, "
    "columns, wrinkles), the trace target drawn from the kit's recorded pixel positions, rescaled to "
    "the digitizer's working resolution"
)
PHOTO_EFFECTS = (
    "thin grey fast (QRS) strokes and faint toner, a printer's fine pink/red grid, folds and "
    "crumples (brightness facets, ridges, slight local displacement), phone sharpening halos, "
    "uneven white balance"
)


def training_data(cfg: dict) -> dict:
    """The manifest's training_data for a run's config (kit pages and photo effects when used)."""
    data = dict(TRAINING_DATA)
    if cfg.get("kit_pages"):
        data["kit_pages"] = KIT_PAGES
        data["photo_effects"] = PHOTO_EFFECTS
    if str(cfg.get("init", "")).endswith(".tflite"):
        data["warm_start"] = (
            "weights recovered from the previously shipped int8 segmenter (dequantized, BatchNorm "
            "folded; convert.segmenter.from_tflite)"
        )
    return data


def ship(
    run_dir: str | Path,
    models_dir: str | Path,
    *,
    metrics: dict | None = None,
    per_tensor: bool = False,
    name: str = MODEL_NAME,
    status: str | None = None,
) -> dict:
    """Quantize and install the run's exported model as `name`; returns the manifest entry.
    Ship as EXPERIMENTAL_NAME while the model does not beat the classical stage end to end, so the
    digitizer's default ("auto") keeps using the better stage."""
    from convert.manifest import make_entry, upsert_entry
    from convert.quantize import quantize

    run = Path(run_dir)
    mdir = Path(models_dir)
    mdir.mkdir(parents=True, exist_ok=True)
    hist = json.loads((run / "history.json").read_text()) if (run / "history.json").exists() else {}
    cfg = hist.get("config", {})
    res = quantize(
        run / "segmenter.onnx",
        run / "calib.npy",
        run / MODEL_FILE,
        per_tensor=per_tensor,
        keep_float=True,
    )
    size = res.tflite_path.stat().st_size
    if size > MAX_BYTES:
        raise ModelError(
            "model_too_big",
            f"int8 segmenter is {size} bytes (limit {MAX_BYTES})",
            "train a smaller model (narrower widths)",
        )
    write_file_atomic(mdir / MODEL_FILE, res.tflite_path.read_bytes())
    best = max(hist.get("history", []), key=lambda h: h.get("f1", 0), default={})
    m = {"validation_fold9_crops": {k: round(float(v), 4) for k, v in best.items()}} if best else {}
    m.update({k: v for k, v in _old_metrics(mdir, name).items() if k != "validation_fold9_crops"})
    m.update(metrics or {})
    entry = make_entry(
        name,
        mdir / MODEL_FILE,
        task="trace_segmentation",
        models_dir=mdir,
        input_layouts=["NHWC"],
        output_layouts=["NHWC"],
        labels=["trace"],
        thresholds={"trace": 0.5},
        metrics=m,
        training_data=training_data(cfg),
        card=CARD_FILE,
        extra={
            "preprocessing": "rectified page at the digitizer's working resolution, BGR uint8 / 255, "
            "tiled (edge.digitize.traceprob_tflite)",
            "px_per_mm": cfg.get("px_per_mm", 5.0),
            "tile": cfg.get("tile", 256),
            "architecture": f"TraceUNet widths {cfg.get('widths')}",
            "quantization": "per-tensor" if per_tensor else "per-channel",
            "float_reference": "segmenter.onnx (workstation run directory)",
            **({"status": status} if status else {}),
        },
    )
    upsert_entry(mdir / "manifest.json", entry)
    write_card(mdir / CARD_FILE, entry)
    return entry


def _old_metrics(mdir: Path, name: str = MODEL_NAME) -> dict:
    try:
        data = json.loads((mdir / "manifest.json").read_text())
        for e in data.get("models", []):
            if e.get("name") == name:
                return dict(e.get("metrics") or {})
    except (OSError, ValueError):
        pass
    return {}


def update_metrics(models_dir: str | Path, metrics: dict, name: str = MODEL_NAME) -> dict:
    """Merge measured metrics (e.g. fold-10 SNR) into the segmenter's manifest entry and card."""
    from convert.manifest import read, upsert_entry

    mdir = Path(models_dir)
    data = read(mdir / "manifest.json")
    for e in data["models"]:
        if e.get("name") == name:
            e["metrics"] = {**(e.get("metrics") or {}), **metrics}
            upsert_entry(mdir / "manifest.json", e)
            write_card(mdir / CARD_FILE, e)
            return e
    raise ModelError(
        "model_unknown", f"no {name!r} entry in {mdir / 'manifest.json'}", "ship the model first"
    )


def write_card(path: Path, entry: dict) -> None:
    """The Markdown model card, generated from the manifest entry so the two never disagree."""
    i, o = entry["inputs"][0], entry["outputs"][0]
    lines = [
        f"# {entry['name']} — learned ECG trace segmentation (int8 TFLite)",
        "",
        "Per-pixel probability that a pixel of a rectified ECG printout belongs to a printed trace, run over "
        'the page in tiles (`edge.digitize.traceprob_tflite`). With `trace_model="auto"` (the default) the '
        "digitizer reads camera photos (a page found inside a wider frame) with the geometric mean of this "
        "map and the classical colour-based estimate (`fused_trace_probability`): the segmenter vetoes dark "
        "marks that are not trace (shadow edges, stains, handwriting, grid residue) and the classical estimate "
        "keeps the ink's sharp profile. Scans and flat prints keep the classical estimate. "
        '`trace_model="learned"` reads with this map alone.',
        "",
        "## Model",
        f"- File `{entry['file']}`, {entry['size_bytes']} bytes, sha256 `{entry['sha256']}`.",
        f"- Architecture: {entry.get('architecture', 'TraceUNet')} — a 5-level U-Net with depthwise-separable "
        "convolutions, written in PyTorch, exported to ONNX (opset 17) and converted with `ecg-convert quantize` "
        f"(onnx2tf, full-integer int8, {entry.get('quantization', 'per-channel')} weights).",
        f"- Input `{i['name']}` {i['shape']} {i['dtype']} {i['layout']}, quantization {i['quantization']}: "
        f"{entry.get('preprocessing', '')}; {entry.get('px_per_mm')} px/mm.",
        f"- Output `{o['name']}` {o['shape']} {o['dtype']} {o['layout']}, quantization {o['quantization']}: "
        "trace probability in [0, 1].",
        "",
        "## Training data",
        "- Signals: PTB-XL (Wagner, P., Strodthoff, N., Bousseljot, R.-D. et al. *PTB-XL, a large publicly available "
        "electrocardiography dataset.* Scientific Data 7, 154 (2020); CC BY 4.0), the 500-record subset, "
        "stratified folds 1–8 for training, fold 9 for validation, fold 10 held out for testing.",
        "- Images: **synthetic** printouts rendered from those signals by the project's synthesizer "
        "(`convert.synth`): randomized paper, grid colours, pens, layouts, labels; clean, scanned and "
        "phone-photo renderings, rectified with their known homography, plus augmentation (shadows, glare, "
        "stains, handwriting, colour swaps, grey copies, blur, noise, JPEG). No real photographs were used.",
        *(
            [
                f"- Also {entry['training_data']['kit_pages']}; with photo effects modelled on phone "
                f"photos of printouts: {entry['training_data'].get('photo_effects', '')}.",
            ]
            if entry.get("training_data", {}).get("kit_pages")
            else []
        ),
        *(
            [f"- Warm start: {entry['training_data']['warm_start']}."]
            if entry.get("training_data", {}).get("warm_start")
            else []
        ),
        "",
        "## Metrics",
        "```json",
        json.dumps(entry.get("metrics", {}), indent=2),
        "```",
        "",
        *(["## Status", "", entry["status"], ""] if entry.get("status") else []),
        "## Limits",
        "- Trained only on generated renderings; real phone photos of crumpled or heavily stained paper may "
        "differ. The digitizer falls back to the classical stage when this model is missing or fails its sha256 check.",
        "- Not a medical device; for research and screening support only.",
        "",
    ]
    write_file_atomic(path, "\n".join(lines).encode("utf-8"))
