"""Tests for edge.imageio: real files on disk, each bad kind gives its BadInputError code."""

import cv2
import numpy as np
import pytest

from edge.errors import BadInputError
from edge.imageio import load_image


def _page(h=400, w=600):
    img = np.full((h, w, 3), 245, np.uint8)
    cv2.line(img, (10, 200), (590, 200), (0, 0, 0), 3)
    return img


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".bmp"])
def test_reads_common_formats_as_bgr8(tmp_path, ext):
    p = tmp_path / f"page{ext}"
    cv2.imwrite(str(p), _page())
    img = load_image(p)
    assert img.dtype == np.uint8 and img.shape == (400, 600, 3)
    assert img[200, 300].mean() < 100 and img[50, 50].mean() > 200


def test_gray_and_16bit_and_alpha_are_converted(tmp_path):
    g = cv2.cvtColor(_page(), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "g.png"), g)
    cv2.imwrite(str(tmp_path / "g16.png"), g.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(_page(), cv2.COLOR_BGR2BGRA))
    for name in ("g.png", "g16.png", "a.png"):
        img = load_image(tmp_path / name)
        assert img.shape == (400, 600, 3) and img.dtype == np.uint8
        assert abs(int(img[50, 50, 0]) - 245) <= 1


@pytest.mark.parametrize(
    "make,code",
    [
        (lambda p: p.write_bytes(b""), "empty_file"),
        (lambda p: p.write_bytes(b"this is a text file, not a photo\n" * 20), "unreadable_image"),
        (lambda p: None, "file_missing"),
    ],
)
def test_bad_files(tmp_path, make, code):
    p = tmp_path / "x.jpg"
    make(p)
    with pytest.raises(BadInputError) as ei:
        load_image(p)
    assert ei.value.code == code
    assert ei.value.hint


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_file(tmp_path, ext):
    ok, buf = cv2.imencode(ext, _page())
    p = tmp_path / f"t{ext}"
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(BadInputError) as ei:
        load_image(p)
    assert ei.value.code == "truncated_file"


def test_huge_image_rejected_from_header_without_decoding(tmp_path):
    # A real PNG header claiming 20000x20000 pixels (400 MP) followed by a tiny body.
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    p = tmp_path / "huge.png"
    p.write_bytes(data)
    with pytest.raises(BadInputError) as ei:
        load_image(p)
    assert ei.value.code == "image_too_large"


def test_tiny_image_rejected(tmp_path):
    p = tmp_path / "tiny.png"
    cv2.imwrite(str(p), np.zeros((50, 80, 3), np.uint8))
    with pytest.raises(BadInputError) as ei:
        load_image(p)
    assert ei.value.code == "image_too_small"


def test_directory_rejected(tmp_path):
    with pytest.raises(BadInputError) as ei:
        load_image(tmp_path)
    assert ei.value.code == "not_a_file"
