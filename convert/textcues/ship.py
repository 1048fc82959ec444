"""Install a trained printed-scale word classifier as the device's `textcues` model: export ONNX,
quantize to int8 with training words as calibration, check int8 against float on held-out words,
copy the model into the models directory with its manifest entry and model card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.atomic import write_file_atomic
from edge.digitize.textcues import CLASSES, MIN_PROB, MODEL_NAME, WORD_H, WORD_W
from edge.errors import ModelError

MODEL_FILE = "textcues_int8.tflite"
CARD_FILE = "textcues.md"
MAX_BYTES = 300_000


def _int8_vs_float(run: Path, tflite: Path) -> dict:
    """Agreement of the int8 model with the float net on held-out words (TrueType and Hershey)."""
    import torch

    from edge.models import load_tflite

    from .train import build_net, hershey_words
    from .words import find_fonts, make_dataset

    net = build_net()
    net.load_state_dict(torch.load(run / "textcues.pt"))
    net.eval()
    m = load_tflite(tflite)
    out = {}
    for name, (X, y) in {
        "truetype_held_out": make_dataset(1000, 12345, find_fonts()),
        "hershey_held_out": hershey_words(1000, 54321),
    }.items():
        with torch.no_grad():
            pf = torch.softmax(net(torch.from_numpy(X[:, None])), dim=1).numpy()
        pq = np.concatenate([m.run(X[i : i + 50, :, :, None]) for i in range(0, len(X), 50)])
        kq = pq.argmax(1)
        conf = pq.max(1) >= MIN_PROB
        scale = y != 0
        out[name] = {
            "float_accuracy": round(float((pf.argmax(1) == y).mean()), 4),
            "int8_accuracy": round(float((kq == y).mean()), 4),
            "int8_float_agreement": round(float((kq == pf.argmax(1)).mean()), 4),
            "int8_scale_words_read": round(float(((kq == y) & conf)[scale].mean()), 4),
            "int8_confident_wrong_value": round(float(((kq != y) & (kq != 0) & conf).mean()), 5),
        }
    return out


def ship(run_dir: str | Path, models_dir: str | Path, *, metrics: dict | None = None) -> dict:
    """Quantize the run's net and install it as `textcues`; returns the manifest entry."""
    from convert.manifest import make_entry, upsert_entry
    from convert.quantize import quantize

    from .train import export_onnx

    run = Path(run_dir)
    mdir = Path(models_dir)
    hist = json.loads((run / "history.json").read_text())
    onnx_path = export_onnx(run)
    res = quantize(onnx_path, run / "calib.npy", run / MODEL_FILE)
    size = res.tflite_path.stat().st_size
    if size > MAX_BYTES:
        raise ModelError(
            "model_too_big",
            f"int8 word model is {size} bytes (limit {MAX_BYTES})",
            "train a smaller net",
        )
    m = {
        "training_last_epoch": hist["history"][-1],
        **_int8_vs_float(run, res.tflite_path),
        **(metrics or {}),
    }
    write_file_atomic(mdir / MODEL_FILE, res.tflite_path.read_bytes())
    entry = make_entry(
        MODEL_NAME,
        mdir / MODEL_FILE,
        task="word_classification",
        models_dir=mdir,
        input_layouts=["NHWC"],
        output_layouts=["NC"],
        labels=CLASSES,
        thresholds={"min_probability": MIN_PROB},
        metrics=m,
        card=CARD_FILE,
        training_data={
            "words": "rendered on the workstation in its TrueType fonts: "
            + ", ".join(hist["fonts"]),
            "held_out": "OpenCV Hershey fonts (the synthesizer's); PTB-XL pages synthesized by "
            "convert.synth for the end-to-end check",
            "n_train": hist["config"]["n_train"],
            "seed": hist["config"]["seed"],
        },
        extra={
            "preprocessing": f"ink darkness (0 paper .. 1 ink) of a word box, scaled to {WORD_H} rows, "
            f"left-aligned on {WORD_H}x{WORD_W} (edge.digitize.textcues.normalise_word)",
            "architecture": "WordNet: 4 conv stages (16-64 channels), global average+max pooling, linear, "
            "softmax",
            "quantization": "per-channel",
        },
    )
    upsert_entry(mdir / "manifest.json", entry)
    write_card(mdir / CARD_FILE, entry)
    return entry


def write_card(path: Path, entry: dict) -> None:
    """The Markdown model card, generated from the manifest entry."""
    i, o = entry["inputs"][0], entry["outputs"][0]
    lines = [
        f"# {entry['name']}: printed paper speed and gain (int8 TFLite word classifier)",
        "",
        "Reads the words an electrocardiograph prints beside its traces (`25 mm/s`, `10mm/mV`, ...) so the "
        "digitizer knows the paper speed (nothing else on a page shows 50 mm/s) and, on pages without a "
        "calibration pulse, the gain. Used by `edge.digitize.textcues`: words are found as lines of small ink "
        "blobs outside the trace rows. Every unit printed on the page (`mm/s`, `mm/mV`, or a joined token such "
        "as `25mm/s`) must be explained by a number read just before it on its line, each with probability "
        f">= {entry['thresholds']['min_probability']}, and all of them must agree; otherwise no value is "
        "taken (the speed defaults to 25 mm/s, the gain comes from the calibration pulse or defaults to "
        "10 mm/mV, with a warning). A calibration pulse still sets the gain where one is found.",
        "",
        "## Model",
        f"- File `{entry['file']}`, {entry['size_bytes']} bytes, sha256 `{entry['sha256']}`.",
        f"- Architecture: {entry.get('architecture')}; PyTorch, ONNX (opset 17), `ecg-convert quantize` "
        "(onnx2tf, full-integer int8, per-channel weights).",
        f"- Input `{i['name']}` {i['shape']} {i['dtype']} {i['layout']}: {entry.get('preprocessing')}.",
        f"- Output `{o['name']}` {o['shape']} {o['dtype']}: probabilities of {', '.join(entry['labels'])}.",
        "",
        "## Training data",
        f"- {entry['training_data']['words']}.",
        "- Words: the speed and gain values alone, their units (`mm/s`, `mm/sec`, `mm/mV`, ...), both joined "
        "with or without a space, and everything else a printout carries (names, dates, filter settings, "
        "measurements, lead names, random strings), with grid lines behind, blur, noise, faint ink, slight "
        "rotation and jittered boxes.",
        f"- Held out: {entry['training_data']['held_out']}.",
        "",
        "## Metrics",
        "```json",
        json.dumps(entry.get("metrics", {}), indent=2),
        "```",
        "",
        "## Limits",
        "- Only the common forms are known (`25 mm/s`, `10 mm/mV`); a printout that writes `Speed: 25` with the "
        "unit elsewhere, or another language's abbreviation, is read without the cue (speed 25 mm/s, gain from "
        "the pulse or 10 mm/mV, with a warning).",
        "- Handwriting, very small (< 1.5 mm) or heavily blurred text is not read.",
        "- Not a medical device; for research and screening support only.",
        "",
    ]
    write_file_atomic(path, "\n".join(lines).encode("utf-8"))
