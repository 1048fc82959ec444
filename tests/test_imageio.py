"""Tests for edge.imageio: real files on disk, each bad kind gives its BadInputError code."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import BadInputError
from edge.imageio import MAX_PIXELS, check_image_bytes, check_image_file, decode_image, load_image
from tests import hostile_files as hf


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

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

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


# ---- hostile files (issue 26): every limit is checked from the header, before decoding ------

REPO = Path(__file__).resolve().parents[1]
BOMB_CODES = {
    "png_chunk_bomb.png": "truncated_file",
    "jpeg_many_scans.jpg": "unreadable_image",
    "apng_frame_outside.png": "unreadable_image",
}


@pytest.mark.parametrize("name", sorted(hf.BOMBS))
def test_bomb_is_refused_from_its_header(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(hf.BOMBS[name]())
    with pytest.raises(BadInputError) as ei:
        check_image_file(p)
    assert ei.value.code == BOMB_CODES.get(name, "image_too_large"), str(ei.value)
    with pytest.raises(BadInputError) as ei2:
        load_image(p)
    assert ei2.value.code == ei.value.code


_MEASURE = """
import json, sys, time
from edge.errors import BadInputError
from edge.imageio import load_image
out = {}
for path in sys.argv[1:]:
    t = time.perf_counter()
    try:
        load_image(path)
        code = None
    except BadInputError as exc:
        code = exc.code
    except MemoryError:
        code = "MemoryError"
    out[path] = [code, time.perf_counter() - t]
# VmHWM: this process's own peak (ru_maxrss would keep the forking parent's across exec)
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
out["maxrss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""


def test_bombs_cost_under_a_second_and_100_mb(tmp_path):
    """Each bomb of every format is refused in a fresh process that never exceeds 100 MB (the
    interpreter, numpy and OpenCV included); a 2 GB address-space limit keeps a regression from
    taking the test machine's memory."""
    paths = []
    for name, make in hf.BOMBS.items():
        (tmp_path / name).write_bytes(make())
        paths.append(str(tmp_path / name))

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *paths],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        preexec_fn=limit,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out.pop("maxrss_mb") < 100
    for path, (code, seconds) in out.items():
        assert code is not None and code != "MemoryError", path
        assert seconds < 0.5, (path, seconds)


@pytest.mark.parametrize(
    "make,what",
    [
        (lambda p: hf.make_fifo(p), "FIFO"),
        (lambda p: hf.make_symlink(p, "/dev/zero"), "device"),
        (lambda p: hf.make_symlink(p, "/dev/urandom"), "device"),
        (lambda p: hf.make_socket(p), "socket"),
    ],
)
def test_special_files_are_refused_without_reading_them(tmp_path, make, what):
    p = tmp_path / "x.jpg"
    make(p)
    with pytest.raises(BadInputError) as ei:  # a FIFO would block here, /dev/zero never end
        load_image(p)
    assert ei.value.code == "not_a_file" and what in str(ei.value)
    with pytest.raises(BadInputError):
        check_image_file(p)


def test_directory_named_like_an_image_and_dangling_link_are_refused(tmp_path):
    (tmp_path / "d.jpg").mkdir()
    with pytest.raises(BadInputError) as ei:
        load_image(tmp_path / "d.jpg")
    assert ei.value.code == "not_a_file"
    os.symlink(tmp_path / "gone.jpg", tmp_path / "link.jpg")
    with pytest.raises(BadInputError) as ei:
        load_image(tmp_path / "link.jpg")
    assert ei.value.code == "file_missing"


def test_symlink_to_a_regular_image_is_read(tmp_path):
    cv2.imwrite(str(tmp_path / "page.png"), _page())
    os.symlink(tmp_path / "page.png", tmp_path / "link.png")
    assert load_image(tmp_path / "link.png").shape == (400, 600, 3)


def test_motion_photo_jpeg_with_bytes_after_its_end_marker_is_read(tmp_path):
    p = tmp_path / "motion.jpg"
    p.write_bytes(hf.jpeg_with_trailer(_page()))
    img = load_image(p)
    assert img.shape == (400, 600, 3) and img[200, 300].mean() < 100
    hdr = check_image_file(p)
    assert hdr.image_bytes < hdr.file_bytes  # the trailer is not passed to the decoder


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_cut_short_with_an_end_marker_appended_is_truncated(tmp_path, progressive):
    img = np.random.default_rng(3).integers(0, 255, (600, 800, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])[1]
    data = data.tobytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: int(len(data) * 0.6)] + b"\xff\xd9")  # lower part missing, EOI added
    with pytest.raises(BadInputError) as ei:
        load_image(p)
    assert ei.value.code == "truncated_file"


@pytest.mark.parametrize(
    "make,code",
    [
        (hf.png_truncated, "truncated_file"),
        (hf.jpeg_truncated, "truncated_file"),
        (hf.webp_truncated, "truncated_file"),
        (hf.pnm_huge, "unreadable_image"),
        (hf.gif, "unreadable_image"),
        (lambda: os.urandom(5000), "unreadable_image"),
        (lambda: b"\xff\xd8\xff" + os.urandom(5000), "unreadable_image"),
        (lambda: b"\x89PNG\r\n\x1a\n" + os.urandom(500), "unreadable_image"),
    ],
)
def test_damaged_and_unknown_files(make, code):
    with pytest.raises(BadInputError) as ei:
        decode_image(make(), "x")
    assert ei.value.code in (code, "truncated_file", "unreadable_image")
    if code != "unreadable_image":
        assert ei.value.code == code


def test_small_ppm_that_opencv_reads_is_refused_as_unsupported():
    data = b"P6\n400 300\n255\n" + bytes(400 * 300 * 3)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    with pytest.raises(BadInputError) as ei:
        decode_image(data, "scan.ppm")
    assert ei.value.code == "unreadable_image" and "JPEG, PNG, TIFF, WebP or BMP" in str(ei.value)


@pytest.mark.parametrize(
    "ext,params",
    [
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        (".tif", [cv2.IMWRITE_TIFF_COMPRESSION, 1]),
    ],
)
def test_other_valid_encodings_are_read(tmp_path, ext, params):
    p = tmp_path / f"page{ext}"
    assert cv2.imwrite(str(p), _page(), params)
    hdr = check_image_file(p)
    assert (hdr.width, hdr.height) == (600, 400)
    assert load_image(p).shape == (400, 600, 3)


def test_header_reports_size_and_format(tmp_path):
    cv2.imwrite(str(tmp_path / "g16.png"), np.zeros((300, 500), np.uint16))
    hdr = check_image_file(tmp_path / "g16.png")
    assert (hdr.kind, hdr.width, hdr.height, hdr.channels, hdr.bytes_per_sample) == (
        "png",
        500,
        300,
        1,
        2,
    )
    assert hdr.pixels == 150_000 and hdr.pixels < MAX_PIXELS
    assert check_image_bytes((tmp_path / "g16.png").read_bytes()) == hdr


_OPENCV_LIMIT = """
import edge.imageio  # sets OpenCV's own limit before cv2 loads
import cv2, numpy as np
from tests import hostile_files as hf
try:
    img = cv2.imdecode(np.frombuffer(hf.png_huge_dims(12000, 11000), np.uint8), cv2.IMREAD_COLOR)
    print("decoded" if img is not None else "none")
except cv2.error as exc:
    print("refused by OpenCV" if "CV_IO_MAX_IMAGE_PIXELS" in str(exc) else exc)
"""


def test_opencv_pixel_limit_is_the_second_line_of_defence():
    """A 132 MP image that got past the header checks would still be refused by OpenCV itself."""
    proc = subprocess.run(
        [sys.executable, "-c", _OPENCV_LIMIT], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.stdout.strip() == "refused by OpenCV", proc.stdout + proc.stderr
