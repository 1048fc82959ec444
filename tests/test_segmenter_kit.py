"""Segmenter training data from ecg-image-kit pages (the trace mask drawn from the kit's JSON), the
photo effects, and the warm start from the shipped int8 model. Synthetic inputs made here; no
../shared needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convert.segmenter import photo_effects
from convert.segmenter.kit_data import (
    first_plotted_values,
    kit_trace_mask,
    to_working_resolution,
)

MODELS = Path(__file__).resolve().parents[1] / "models"
DPI = 254.0  # 10 px/mm: easy arithmetic below


def _config(dc_pulse: bool = True) -> dict:
    """A tiny kit page: lead I starts a row at x=100 (baseline y=200 at 0 mV); lead aVR starts at
    x=300 on the same row (not a row start); a steep stroke in lead I at x=150."""
    xs = np.arange(100.0, 250.0, 1.0)
    ys = np.full_like(xs, 200.0)
    ys[(xs >= 150) & (xs < 152)] = [150.0, 250.0]  # QRS: up 5 mm, down 10 mm
    lead_i = [[float(y), float(x)] for y, x in zip(ys, xs)]
    lead_avr = [[210.0, float(x)] for x in np.arange(300.0, 400.0, 1.0)]
    return {
        "resolution": DPI,
        "dc_pulse": dc_pulse,
        "leads": [
            {"lead_name": "I", "start_sample": 0, "end_sample": 150, "plotted_pixels": lead_i},
            {
                "lead_name": "aVR",
                "start_sample": 150,
                "end_sample": 250,
                "plotted_pixels": lead_avr,
            },
        ],
    }


def test_kit_mask_follows_the_plotted_pixels_at_the_printed_width():
    m = kit_trace_mask(_config(dc_pulse=False), (400, 500), px_per_mm=10.0) > 0
    assert m.shape == (400, 500)
    # on the polylines (0.75 pt is 0.26 mm: 2.6 px at 10 px/mm)
    assert m[200, 120] and m[210, 350]
    assert m[170, 150] and m[230, 151]  # the QRS stroke between its samples
    width = int(m[:, 120].sum())
    assert 2 <= width <= 4
    # nothing elsewhere: not between the leads' rows, not before the first sample
    assert not m[100, 120] and not m[300, 350] and not m[200, 60]
    assert not m[:, :95].any()


def test_kit_mask_adds_the_calibration_pulse_of_a_row_start_only():
    cfg = _config(dc_pulse=True)
    sig = np.zeros((250, 12))
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    sig[0, 0] = 0.5  # lead I's first plotted sample is 0.5 mV above its baseline
    values = first_plotted_values(cfg, sig, names)
    assert values == {"I": 0.5, "aVR": 0.0}
    m = kit_trace_mask(cfg, (400, 500), values, px_per_mm=10.0) > 0
    # baseline at y = 200 + 0.5 mV * 10 mm/mV * 10 px/mm = 250; pulse 1 mV (100 px) high, 0.2 s
    # (5 mm, 50 px) wide, just left of x = 100
    assert m[250, 52] and m[150, 75] and m[200, 51] and m[200, 99]
    assert not m[200, 75]  # inside the pulse: paper
    # aVR does not start a row: no pulse left of it
    assert not m[:, 255:295].any()
    # without the signal values no pulse is guessed
    assert not kit_trace_mask(cfg, (400, 500), None, px_per_mm=10.0)[:, :95].any()


def test_kit_page_rescaled_to_the_working_resolution_keeps_the_trace():
    cfg = _config(dc_pulse=False)
    ink = kit_trace_mask(cfg, (400, 500), px_per_mm=10.0)
    img = np.full((400, 500, 3), 255, np.uint8)
    img[ink > 0] = 0
    small = to_working_resolution(img, 10.0, 6.0)
    mask = kit_trace_mask(cfg, (400, 500), px_per_mm=6.0)
    assert small.shape == (240, 300, 3) and mask.shape == (240, 300)
    assert set(np.unique(mask)) == {0, 1}
    # a 2 px line at 6 px/mm (like the synthesizer's ink masks) where the rescaled ink is dark
    col = mask[:, 72]  # x = 120 px at 10 px/mm -> 72 at 6 px/mm
    assert 1 <= col.sum() <= 3 and small[:, 72][col > 0].mean() < 128
    assert small[mask > 0].mean() < 100 and small[mask == 0].mean() > 240


def test_photo_effects_keep_shapes_and_the_mask_on_the_ink():
    rng = np.random.default_rng(0)
    full = kit_trace_mask(_config(dc_pulse=False), (256, 456), px_per_mm=10.0)
    mask = full[:, 100:356].astype(np.uint8)
    img = np.full((256, 256, 3), 240, np.uint8)
    img[mask > 0] = 30
    steep = photo_effects.steep_strokes(mask)
    assert steep[170, 50] == 1 and steep[200, 20] == 0  # the QRS, not the flat baseline
    f = photo_effects.faint_fast_strokes(img, mask, rng)
    assert f[170, 50, 0] > 60 and f[200, 20, 0] == 30  # QRS ink lightened, baseline kept
    for fn in (
        photo_effects.fine_grid,
        photo_effects.creases,
        photo_effects.sharpen_halo,
        photo_effects.uneven_white_balance,
    ):
        out = fn(img.astype(np.float32), rng)
        assert out.shape == img.shape and np.isfinite(out).all()
    moved, mmask = photo_effects.displace(img, mask, rng)
    assert moved.shape == img.shape and mmask.shape == mask.shape
    assert moved[mmask > 0, 0].mean() < 128  # the displaced mask still sits on the ink


def test_warm_start_from_the_shipped_segmenter_matches_it():
    torch = pytest.importorskip("torch")
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    from convert.segmenter.from_tflite import model_from_tflite, recalibrate_bn

    path = MODELS / "segmenter_int8.tflite"
    ink = kit_trace_mask(_config(dc_pulse=False), (256, 456), px_per_mm=10.0)
    tile = np.full((256, 256, 3), 235, np.float32)
    tile[ink[:, 100:356] > 0] = 20
    tile /= 255.0
    model = model_from_tflite(path)
    x = torch.from_numpy(tile.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        before = torch.sigmoid(model(x)).numpy()[0, 0]
    recalibrate_bn(model, x.numpy())
    with torch.no_grad():
        after = torch.sigmoid(model.eval()(x)).numpy()[0, 0]
    assert np.abs(after - before).max() < 1e-4  # recalibration keeps the eval-mode function
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    s, z = i["quantization"]
    it.set_tensor(i["index"], np.clip(np.round(tile / s + z), -128, 127).astype(np.int8)[None])
    it.invoke()
    s2, z2 = o["quantization"]
    ref = (it.get_tensor(o["index"]).astype(np.float32) - z2) * s2
    assert np.mean((before > 0.5) == (ref[0, :, :, 0] > 0.5)) > 0.97


def test_model_card_names_the_kit_pages_and_the_warm_start(tmp_path):
    from convert.segmenter.ship import TRAINING_DATA, training_data, write_card

    assert training_data({}) == TRAINING_DATA  # a synthesizer-only run is described as before
    data = training_data({"kit_pages": 240, "init": "models/segmenter_int8.tflite"})
    assert "ecg-image-kit" in data["kit_pages"] and "QRS" in data["photo_effects"]
    tensor = {"name": "t", "shape": [1, 256, 256, 3], "dtype": "int8", "layout": "NHWC"}
    entry = {
        "name": "segmenter",
        "file": "segmenter_int8.tflite",
        "size_bytes": 1,
        "sha256": "0" * 64,
        "inputs": [{**tensor, "quantization": {}}],
        "outputs": [{**tensor, "quantization": {}}],
        "training_data": data,
        "metrics": {},
    }
    write_card(tmp_path / "card.md", entry)
    card = (tmp_path / "card.md").read_text()
    assert "ecg-image-kit" in card and "Warm start" in card
