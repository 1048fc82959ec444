"""Printed paper speed and gain (edge.digitize.textcues): words found outside the trace rows, read
by the shipped int8 word model, and used by the digitizer where nothing else on the page says
the speed (50 mm/s) or the gain (no calibration pulse)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.digitize import digitize
from edge.digitize.textcues import (
    CLASSES,
    WORD_H,
    WORD_W,
    _pairs,
    default_classifier,
    find_words,
    normalise_word,
)
from edge.layouts import LEAD_NAMES
from edge.snr import mean_snr, record_snr

FS = 500


def _words(*items):
    """[(box, name, p)] with boxes laid out left to right on one line, 12 px tall."""
    out, x = [], 10
    for name, p, gap in items:
        w = 8 * max(1, len(name))
        out.append(((x, 100, x + w, 112), name, p))
        x += w + gap
    return out


def test_number_and_unit_on_one_line_give_speed_and_gain():
    s = _pairs(_words(("50", 0.99, 8), ("mm/s", 0.98, 30), ("20", 0.97, 8), ("mm/mV", 0.99, 30)))
    assert (s.speed_mm_s, s.gain_mm_mv) == (50.0, 20.0)
    s = _pairs(_words(("25mm/s", 0.99, 20), ("5mm/mV", 0.95, 20)))
    assert (s.speed_mm_s, s.gain_mm_mv) == (25.0, 5.0)


def test_unsure_conflicting_or_unitless_numbers_give_nothing():
    # "50 Hz" (the mains filter) is not a speed; a number far from its unit is not paired.
    assert _pairs(_words(("50", 0.99, 8), ("other", 0.99, 8))).speed_mm_s is None
    assert _pairs(_words(("50", 0.99, 200), ("mm/s", 0.99, 8))).speed_mm_s is None
    assert _pairs(_words(("50", 0.6, 8), ("mm/s", 0.99, 8))).speed_mm_s is None
    assert _pairs(_words(("25mm/s", 0.99, 20), ("50mm/s", 0.99, 20))).speed_mm_s is None
    # A unit whose number cannot be read leaves the value unknown, whatever is read elsewhere
    # (a measurement such as "340/385" misread as "50mm/s" in the header).
    assert (
        _pairs(_words(("other", 0.99, 8), ("mm/s", 0.99, 40), ("50mm/s", 0.95, 8))).speed_mm_s
        is None
    )
    # A gain value before a speed unit is neither.
    s = _pairs(_words(("10", 0.99, 8), ("mm/s", 0.99, 8)))
    assert (s.speed_mm_s, s.gain_mm_mv) == (None, None)


def test_words_are_found_outside_the_trace_rows():
    ink = np.zeros((300, 900), np.float32)
    cv2.putText(
        ink, "25 mm/s   10 mm/mV", (20, 260), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1.0, 2, cv2.LINE_AA
    )
    cv2.putText(
        ink, "aVR V1", (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1.0, 2, cv2.LINE_AA
    )  # in a row band
    boxes = find_words(ink, [(90, 150)], 6.0)
    assert len(boxes) == 4
    assert all(b[1] > 150 for b in boxes)
    xs = sorted(b[0] for b in boxes)
    assert xs[0] < 30 and xs[-1] > 150


def test_text_printed_close_under_a_row_is_not_cut():
    """A footer whose top reaches into the last row's band keeps its full height."""
    ink = np.zeros((300, 900), np.float32)
    cv2.putText(ink, "50 mm/s", (20, 160), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1.0, 2, cv2.LINE_AA)
    cv2.putText(ink, "50 mm/s", (20, 260), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1.0, 2, cv2.LINE_AA)
    near = sorted(b for b in find_words(ink, [(90, 150)], 6.0) if b[1] < 200)
    far = sorted(b for b in find_words(ink, [(90, 150)], 6.0) if b[1] > 200)
    assert len(near) == len(far) == 2
    assert [b[3] - b[1] for b in near] == [b[3] - b[1] for b in far]


def test_a_unit_split_in_two_is_read_whole():
    """A dark grid line or a wide letter gap splits "mm/mV" into "mm/m" and "V": the word read
    whole at the wider join replaces the pieces."""
    from edge.digitize.textcues import merge_split_units

    pieces = [
        ((10, 100, 30, 112), "20", 0.99),
        ((40, 100, 80, 112), "mm/s", 0.95),
        ((86, 100, 96, 112), "other", 0.99),
    ]
    whole = [((40, 99, 96, 113), "mm/mV", 0.99), ((10, 99, 96, 113), "other", 0.99)]
    words = merge_split_units(pieces, whole)
    assert sorted(n for _, n, _ in words) == ["20", "mm/mV"]
    assert _pairs(words).gain_mm_mv == 20.0 and _pairs(pieces).gain_mm_mv is None
    # A whole that is not confidently a unit leaves the pieces alone.
    assert merge_split_units(pieces, [((40, 99, 96, 113), "mm/mV", 0.6)]) == pieces


def test_normalised_word_fills_the_model_input():
    ink = np.zeros((40, 200), np.float32)
    cv2.putText(ink, "mm/mV", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 0.6, 2, cv2.LINE_AA)
    w = normalise_word(ink, (8, 12, 90, 32))
    assert w.shape == (WORD_H, WORD_W) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0) and w[:, -20:].max() == 0.0


needs_model = pytest.mark.skipif(
    default_classifier() is None, reason="textcues model not installed"
)


@needs_model
def test_shipped_word_model_reads_the_synthesizers_fonts():
    """The synthesizer draws with Hershey fonts, which the model never saw in training."""
    classify = default_classifier()
    X, y = [], []
    for font in (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX):
        for text, name in (
            ("25", "25"),
            ("50", "50"),
            ("mm/s", "mm/s"),
            ("mm/mV", "mm/mV"),
            ("20", "20"),
            ("Hz", "other"),
            ("10mm/mV", "10mm/mV"),
        ):
            img = np.zeros((60, 260), np.float32)
            cv2.putText(img, text, (10, 40), font, 1.0, 1.0, 2, cv2.LINE_AA)
            img = cv2.GaussianBlur(
                cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), (0, 0), 0.6
            )
            ys, xs = np.nonzero(img > 0.5 * img.max())
            X.append(normalise_word(img, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)))
            y.append(CLASSES.index(name))
    P = classify(np.stack(X))
    assert P.shape == (len(X), len(CLASSES))
    assert (P.argmax(1) == np.array(y)).mean() >= 0.85


@needs_model
@pytest.mark.parametrize("mode", ["clean", "photo"])
def test_page_at_50_mm_s_without_pulse_is_read_at_its_printed_speed_and_gain(mode):
    """50 mm/s and 20 mm/mV, no calibration pulse: only the footer says either. Read at the
    default 25 mm/s and 10 mm/mV the page would score below 0 dB."""
    sig = synthetic_ecg(seed=7, fs=FS)
    page = render_page(
        sig,
        FS,
        layout="3x4+1",
        mode=mode,
        seed=7,
        speed_mm_s=50.0,
        gain_mm_mv=20.0,
        calibration=False,
    )
    r = digitize(page.image, fs=FS, trace_model="classical")
    assert r.speed_mm_s == 50.0 and r.gain_mm_mv == 20.0
    assert (
        r.details["speed_source"] == "printed text" and r.details["gain_source"] == "printed text"
    )
    assert mean_snr(record_snr(page.truth, r.signals.astype(float), FS, LEAD_NAMES)) > 10.0


def test_training_words_cover_every_class_in_fonts_the_synthesizer_does_not_use():
    """The workstation renders training words in its TrueType fonts (never the Hershey fonts the
    synthesizer prints with), in the same 24x144 normalisation the device uses."""
    from convert.textcues.words import find_fonts, make_dataset

    fonts = find_fonts()
    if not fonts:
        pytest.skip("no TrueType fonts on this machine")
    assert all(f.endswith((".ttf", ".otf")) for f in fonts)
    X, y = make_dataset(400, 3, fonts)
    assert X.shape == (400, WORD_H, WORD_W) and X.dtype == np.float32
    assert set(np.unique(y)) == set(range(len(CLASSES)))
    assert (y == 0).mean() > 0.3  # most words on a page are not scale words
    assert 0.9 < float(np.median(X.reshape(len(X), -1).max(axis=1))) <= 1.0
