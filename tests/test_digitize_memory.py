"""The digitizer's memory savings compute exactly what the whole-page arithmetic they replaced
computed (edge.digitize: grid suppression by tile vectors, the unsharp mask per channel, the
outline search in chunks of lines, maps released and computed again, the word model in fixed
batches), and the word model's interpreter keeps one batch size whatever a page holds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.digitize import page as page_mod
from edge.digitize.maps import PageMaps
from edge.digitize.numeric import percentile
from edge.digitize.sharpness import unsharp
from edge.digitize.textcues import WORD_BATCH, WORD_H, WORD_W, classify_in_batches
from edge.digitize.traceprob import suppress_grid_lines


def _suppress_with_page_maps(d: np.ndarray, px_per_mm: float = 6.0, q: float = 25.0):
    """Grid suppression as it was written first: whole-page level maps (the reference)."""
    h, w = d.shape
    t = max(16, int(40.0 * px_per_mm))
    out = d.copy()
    row_level = np.zeros_like(d)
    for x0 in range(0, w, t):
        x1 = min(w, x0 + t) if w - (x0 + t) > t // 2 else w
        row_level[:, x0:x1] = percentile(d[:, x0:x1:3], q, axis=1)[:, None]
        if x1 == w:
            break
    col_level = np.zeros_like(d)
    for y0 in range(0, h, t):
        y1 = min(h, y0 + t) if h - (y0 + t) > t // 2 else h
        col_level[y0:y1, :] = percentile(d[y0:y1:3, :], q, axis=0)[None, :]
        if y1 == h:
            break
    row_level = np.maximum(row_level, percentile(d[:, ::4], q, axis=1)[:, None])
    col_level = np.maximum(col_level, percentile(d[::4, :], q, axis=0)[None, :])
    out -= np.maximum(row_level, col_level)
    return np.clip(out, 0.0, 1.0)


@pytest.mark.parametrize("shape", [(130, 90), (600, 1000), (731, 1337)])
def test_grid_suppression_by_tiles_equals_whole_page_levels(shape):
    rng = np.random.default_rng(shape[0])
    d = rng.random(shape, dtype=np.float32) * 0.3
    d[::6, :] += 0.2  # grid-like rows and columns, so the levels differ between tiles
    d[:, ::6] += 0.1
    d[: shape[0] // 3, : shape[1] // 4] *= 0.2  # a margin without grid
    got = suppress_grid_lines(d)
    assert got.dtype == np.float32
    assert np.array_equal(got, _suppress_with_page_maps(d))


def test_unsharp_mask_per_channel_equals_the_whole_image_formula():
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 256, (120, 170, 3), dtype=np.uint8), (0, 0), 1.5)
    f = img.astype(np.float32)
    want = np.clip(f + 0.7 * (f - cv2.GaussianBlur(f, (0, 0), 1.0)), 0, 255).astype(np.uint8)
    assert np.array_equal(unsharp(img, 0.7), want)


def test_outline_support_in_chunks_equals_all_lines_at_once(monkeypatch):
    rng = np.random.default_rng(2)
    img = cv2.GaussianBlur(rng.random((200, 300), dtype=np.float32) * 255, (0, 0), 3)
    p0 = rng.random((2500, 2)) * [300, 200]
    p1 = rng.random((2500, 2)) * [300, 200]
    chunked = page_mod._side_support(img, p0, p1, 3.0, n=48)
    monkeypatch.setattr(page_mod, "SUPPORT_CHUNK", 10_000)
    assert np.array_equal(chunked, page_mod._side_support(img, p0, p1, 3.0, n=48))


def test_a_released_map_is_computed_again_to_the_same_values():
    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (0, 0), 2)
    maps = PageMaps(img)
    first = maps.ink_without_grid.copy()
    maps.release("ink_without_grid", "ink_darkness")
    assert "ink_without_grid" not in maps.__dict__ and "ink_darkness" not in maps.__dict__
    assert np.array_equal(maps.ink_without_grid, first)


def test_word_model_runs_in_fixed_batches_with_the_same_probabilities():
    from edge.models import load_model

    try:
        model = load_model("textcues")
    except Exception as exc:  # a checkout without the shipped word model
        pytest.skip(f"word model not installed: {exc}")
    rng = np.random.default_rng(4)
    X = rng.random((2 * WORD_BATCH + 5, WORD_H, WORD_W), dtype=np.float32)
    whole = np.asarray(model.run(X[..., None]), np.float64)  # one call with every word
    got = classify_in_batches(model, X)
    assert np.array_equal(got, whole)
    assert model.inputs[0].shape[0] == WORD_BATCH  # the interpreter keeps one batch size
    assert classify_in_batches(model, X[:0]).shape == (0, whole.shape[1])
