"""Fuzz `ecg-edge digitize` with odd and hostile files (issue 26); not part of the pytest run.

    PYTHONPATH=. nice python tests/fuzz_inputs.py [--work DIR] [--json REPORT] [--only KIND]

Generates 200+ files (decompression bombs of every format, truncated and corrupt images,
zero-byte and random files with image extensions, links to /dev/zero and /dev/urandom, FIFOs,
sockets, directories named .jpg, non-ECG scenes, noise, text pages, damaged ECG pages, valid
pages under odd names), runs `ecg-edge digitize` on each in its own process under
/usr/bin/time, and counts: tracebacks, records written from non-ECG or damaged images, peak RSS
per file, seconds (wall clock and CPU) per refused file, exit codes and the number of stderr lines per file.
Exit status 1 when a target is missed (0 tracebacks, 0 records from non-ECG or damaged images,
<= 300 MB and <= 2 s (CPU: the wall clock of a shared machine is reported too) per
file refused before digitizing, exit code 2 and one line for each refused file)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import hostile_files as hf  # noqa: E402

MAX_RSS_MB = 300  # targets from issue 26
MAX_REFUSE_S = 2.0
TIMEOUT_S = 300  # one file; a hang is a failure, not a wait

# kinds: "refuse" must be refused before digitizing; "no_record" (non-ECG, damaged ECG) must
# give exit 2 and no record; "valid" should give a record (exit 0)
REFUSE, NO_RECORD, VALID = "refuse", "no_record", "valid"


@dataclass
class Case:
    name: str  # file name as given to the CLI
    kind: str
    group: str


@dataclass
class Outcome:
    name: str
    kind: str
    group: str
    rc: int
    seconds: float  # wall clock, process start to exit (the machine may be shared)
    cpu_seconds: float  # user + system: what the file cost, whatever the load
    rss_mb: float
    stderr_lines: int
    records: int
    traceback: bool
    message: str


def _enc(img: np.ndarray, ext: str, params=()) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok, ext
    return buf.tobytes()


def _scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((900, 1200, 3), int(rng.integers(60, 230)), np.uint8)
    for k in range(40):
        c = tuple(int(x) for x in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, 1200)), int(rng.integers(0, 900))
        shape = k % 4
        if shape == 0:
            cv2.circle(img, (x, y), int(rng.integers(10, 200)), c, -1)
        elif shape == 1:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 300)), y + 80), c, -1)
        elif shape == 2:
            cv2.putText(img, f"Clinic {k} ward", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.4, c, 3)
        else:
            cv2.ellipse(img, (x, y), (90, 40), float(k * 7), 0, 360, c, -1)
    return img


def _text_page(seed: int) -> np.ndarray:
    img = np.full((1100, 850, 3), 250, np.uint8)
    for i in range(22):
        line = f"Patient notes line {i * (seed + 1)}: the quick brown fox jumps over the lazy dog"
        cv2.putText(img, line, (30, 50 + 46 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (25, 25, 25), 2)
    return img


def _grid_only(h: int = 900, w: int = 1270) -> np.ndarray:
    img = np.full((h, w, 3), 250, np.uint8)
    for x in range(0, w, 8):
        img[:, x] = (200, 200, 255) if x % 40 else (140, 140, 240)
    for y in range(0, h, 8):
        img[y, :] = (200, 200, 255) if y % 40 else (140, 140, 240)
    return img


def make_cases(d: Path) -> list[Case]:  # noqa: C901 - one flat list of generators, by group
    from convert.synth import render_page, synthetic_ecg

    cases: list[Case] = []

    def put(name: str, data: bytes, kind: str, group: str) -> None:
        (d / name).write_bytes(data)
        cases.append(Case(name, kind, group))

    rng = np.random.default_rng(26)
    page = render_page(synthetic_ecg(seed=5, fs=500), 500, layout="3x4+1", mode="clean", seed=5)
    ecg = page.image
    noise = rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)

    # bombs, each format, several sizes
    for name, make in hf.BOMBS.items():
        put(f"bomb_{name}", make(), REFUSE, "bomb")
    for w, h in [(12_000, 12_000), (65_535, 2_000), (70_000, 300), (11_000, 11_000)]:
        put(f"bomb_png_{w}x{h}.png", hf.png_huge_dims(w, h), REFUSE, "bomb")
        put(f"bomb_jpeg_{w}x{h}.jpg", hf.jpeg_huge_dims(min(w, 65_535), h), REFUSE, "bomb")
        put(f"bomb_tiff_{w}x{h}.tif", hf.tiff_huge_dims(w, h), REFUSE, "bomb")
        put(f"bomb_bmp_{w}x{h}.bmp", hf.bmp_huge_dims(w, h), REFUSE, "bomb")
        put(f"bomb_jpeg64k_{w}x{h}.jpg", hf.jpeg_size_past_64k(min(w, 65_535), h), REFUSE, "bomb")
    put("bomb_png_as.jpg", hf.png_huge_dims(), REFUSE, "bomb")  # wrong extension
    put("bomb_jpeg_scans_2000.jpg", hf.jpeg_many_scans(2000), REFUSE, "bomb")
    put("bomb_pnm.ppm", hf.pnm_huge(), REFUSE, "bomb")
    put("bomb_pnm_as.jpg", hf.pnm_huge(), REFUSE, "bomb")
    put("bomb_gif.gif", hf.gif(), REFUSE, "bomb")
    put("bomb_gif_as.png", hf.gif(), REFUSE, "bomb")

    # truncated images of every format, at several points
    small = cv2.GaussianBlur(noise, (0, 0), 2)
    encoded = {
        ".jpg": _enc(small, ".jpg"),
        ".png": _enc(small, ".png"),
        ".tif": _enc(small, ".tif"),
        ".webp": _enc(small, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
        ".bmp": _enc(small, ".bmp"),
        "p.jpg": _enc(small, ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    }
    for ext, data in encoded.items():
        for frac in (0.05, 0.3, 0.6, 0.9, 0.99):
            put(
                f"trunc_{frac}_{ext.replace('.', '')}.{ext.rsplit('.', 1)[-1]}",
                data[: max(1, int(len(data) * frac))],
                REFUSE,
                "truncated",
            )
    for frac in (0.3, 0.6, 0.9):  # JPEG cut short with an end marker appended
        for prog in (0, 1):
            data = _enc(small, ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, prog])
            put(
                f"cut_eoi_{frac}_{prog}.jpg",
                data[: int(len(data) * frac)] + b"\xff\xd9",
                REFUSE,
                "truncated",
            )
    # corrupt images (bytes flipped in the body of a non-ECG image): refused, or decoded and
    # then found not to be an ECG; either way no record
    for ext, data in encoded.items():
        for k in range(4):
            b = bytearray(data)
            for pos in rng.integers(len(b) // 4, len(b), 6 + 20 * k):
                b[int(pos)] ^= 0xFF
            put(
                f"corrupt_{k}_{ext.replace('.', '')}.{ext.rsplit('.', 1)[-1]}",
                bytes(b),
                NO_RECORD,
                "corrupt",
            )

    # empty, random and not-an-image files with image extensions
    for ext in ("jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp", "JPG"):
        put(f"zero.{ext}", b"", REFUSE, "zero")
        put(f"random_1k.{ext}", rng.bytes(1024), REFUSE, "random")
        put(f"random_300k.{ext}", rng.bytes(300_000), REFUSE, "random")
    put("text.jpg", b"this is a text file, not a photo\n" * 50, REFUSE, "random")
    put("html.png", b"<html><body>404 not found</body></html>\n", REFUSE, "random")
    put("pdf.jpg", b"%PDF-1.4\n" + rng.bytes(4000), REFUSE, "random")
    put("zip.jpg", b"PK\x03\x04" + rng.bytes(4000), REFUSE, "random")
    put("jpeg_magic_only.jpg", b"\xff\xd8\xff", REFUSE, "random")
    put("png_magic_only.png", b"\x89PNG\r\n\x1a\n", REFUSE, "random")
    put("jpeg_random_body.jpg", b"\xff\xd8\xff\xe0" + rng.bytes(50_000), REFUSE, "random")
    put("png_random_body.png", b"\x89PNG\r\n\x1a\n" + rng.bytes(50_000), REFUSE, "random")
    put("tiny.png", _enc(noise[:50, :80], ".png"), REFUSE, "random")
    put("tiny.jpg", _enc(noise[:120, :900], ".jpg"), REFUSE, "random")
    for n in (1, 2, 7, 33):
        put(f"random_{n}b.jpg", rng.bytes(n), REFUSE, "random")
    put(
        "riff_not_webp.webp",
        b"RIFF" + (1000).to_bytes(4, "little") + b"WAVE" + rng.bytes(990),
        REFUSE,
        "random",
    )
    put("tiff_header_only.tif", b"II*\x00\x08\x00\x00\x00", REFUSE, "random")
    put(
        "tiff_ifd_past_end.tif",
        b"II*\x00" + (10**9).to_bytes(4, "little") + rng.bytes(100),
        REFUSE,
        "random",
    )
    put("bmp_header_only.bmp", b"BM" + rng.bytes(10), REFUSE, "random")
    put("webp_header_only.webp", b"RIFF\x04\x00\x00\x00WEBP", REFUSE, "random")
    vp8l = bytearray(hf.webp(lossless=True))
    vp8l[21:25] = (0x3FFF | (0x3FFF << 14)).to_bytes(4, "little")  # 16384 x 16384
    put("bomb_webp_vp8l.webp", bytes(vp8l), REFUSE, "bomb")

    # special files
    for name, target in [
        ("zero.jpg.lnk.jpg", "/dev/zero"),
        ("urandom.png", "/dev/urandom"),
        ("urandom.jpg", "/dev/urandom"),
        ("null.jpg", "/dev/null"),
        ("zero.tif", "/dev/zero"),
        ("dangling.jpg", str(d / "does-not-exist.jpg")),
    ]:
        hf.make_symlink(d / f"special_{name}", target)
        cases.append(Case(f"special_{name}", REFUSE, "special"))
    os.symlink(d / "special_loop_b.jpg", d / "special_loop_a.jpg")
    os.symlink(d / "special_loop_a.jpg", d / "special_loop_b.jpg")
    cases.append(Case("special_loop_a.jpg", REFUSE, "special"))
    for name in ("special_fifo.jpg", "special_fifo.png"):
        hf.make_fifo(d / name)
        cases.append(Case(name, REFUSE, "special"))
    hf.make_socket(d / "special_socket.png")
    cases.append(Case("special_socket.png", REFUSE, "special"))
    for name in ("special_dir.jpg", "special_dir.png"):
        (d / name).mkdir()
        cases.append(Case(name, REFUSE, "special"))

    # not ECGs: scenes, noise, text, blank, gradients, grids without traces
    for seed in range(8):
        put(f"scene_{seed}.jpg", _enc(_scene(seed), ".jpg"), NO_RECORD, "not_ecg")
    for seed in range(3):
        put(f"text_{seed}.png", _enc(_text_page(seed), ".png"), NO_RECORD, "not_ecg")
    for sigma in (0, 1, 3, 8):
        img = rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)
        if sigma:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        put(f"noise_s{sigma}.png", _enc(img, ".png"), NO_RECORD, "not_ecg")
        put(f"noise_s{sigma}.jpg", _enc(img, ".jpg"), NO_RECORD, "not_ecg")
    put(
        "blank_white.png",
        _enc(np.full((900, 1200, 3), 255, np.uint8), ".png"),
        NO_RECORD,
        "not_ecg",
    )
    put("blank_black.jpg", _enc(np.zeros((900, 1200, 3), np.uint8), ".jpg"), NO_RECORD, "not_ecg")
    grad = np.tile(np.linspace(0, 255, 1200, dtype=np.uint8), (900, 1))
    put("gradient.png", _enc(cv2.cvtColor(grad, cv2.COLOR_GRAY2BGR), ".png"), NO_RECORD, "not_ecg")
    checker = ((np.indices((900, 1200)).sum(axis=0) // 40) % 2 * 255).astype(np.uint8)
    put(
        "checker.png", _enc(cv2.cvtColor(checker, cv2.COLOR_GRAY2BGR), ".png"), NO_RECORD, "not_ecg"
    )
    put("grid_only.png", _enc(_grid_only(), ".png"), NO_RECORD, "not_ecg")
    stripes = np.full((900, 1200, 3), 245, np.uint8)
    for y in range(100, 900, 150):
        cv2.line(stripes, (0, y), (1200, y + 30), (20, 20, 20), 3)
    put("straight_lines.png", _enc(stripes, ".png"), NO_RECORD, "not_ecg")

    # damaged ECG pages
    h = ecg.shape[0]
    jpg = _enc(ecg, ".jpg")
    for frac in (0.4, 0.6):
        g = ecg.copy()
        g[int((1 - frac) * h) :] = 128
        put(f"ecg_grey_lower_{int(frac * 100)}.png", _enc(g, ".png"), NO_RECORD, "damaged_ecg")
        cut = jpg[: int(len(jpg) * (1 - frac))] + b"\xff\xd9"  # data cut, end marker added
        put(f"ecg_cut_eoi_{int(frac * 100)}.jpg", cut, NO_RECORD, "damaged_ecg")
    g = ecg.copy()
    g[: h // 2] = 255
    put("ecg_top_half_white.png", _enc(g, ".png"), NO_RECORD, "damaged_ecg")
    put("ecg_top_third_only.png", _enc(ecg[: h // 3], ".png"), NO_RECORD, "damaged_ecg")
    put("ecg_truncated.jpg", jpg[: len(jpg) // 2], NO_RECORD, "damaged_ecg")
    png = _enc(ecg, ".png")
    put("ecg_truncated.png", png[: len(png) // 2], NO_RECORD, "damaged_ecg")

    # valid pages: other encodings, and odd names
    put("valid_page.webp", _enc(ecg, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 90]), VALID, "valid")
    put("valid_page.tif", _enc(ecg, ".tif"), VALID, "valid")
    put("valid_page.bmp", _enc(ecg, ".bmp"), VALID, "valid")
    put(
        "valid_progressive.jpg",
        _enc(ecg, ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        VALID,
        "valid",
    )
    put("valid_motion_photo.jpg", hf.jpeg_with_trailer(ecg), VALID, "valid")
    odd = [
        "scan 2024.png",
        "ECG (1).png",
        "a;b.png",
        "ЭКГ пациента.png",
        "Électro.png",
        "scan\n2024.png",
        "WhatsApp Image 2024-03-01 at 10.15.32.jpeg",
        "z" * 247 + ".png",
        "#12.png",
        "$(reboot).png",
        "-dash.png",
        "tab\there.png",
        "a.png",
        "a.jpg",
    ]
    for name in odd:
        put(
            name,
            _enc(ecg, ".jpg" if name.endswith((".jpg", ".jpeg")) else ".png"),
            VALID,
            "odd_name",
        )
    return cases


def run_case(case: Case, d: Path, out_root: Path) -> Outcome:
    out = out_root / f"{len(list(out_root.iterdir())):04d}"
    timing = out.with_suffix(".time")
    cmd = [
        "/usr/bin/time", "-f", "%M %e %U %S", "-o", str(timing),
        sys.executable, "-m", "edge.cli", "digitize", "--out", str(out), "--", case.name,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=d, capture_output=True, env=env, timeout=TIMEOUT_S)
        rc, err = proc.returncode, proc.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        rc, err = -9, f"TIMEOUT after {TIMEOUT_S} s\n" + (exc.stderr or b"").decode()
    seconds = time.perf_counter() - t
    rss, cpu = 0.0, seconds
    try:
        fields = timing.read_text().split()
        rss, seconds = int(fields[-4]) / 1024, float(fields[-3])
        cpu = float(fields[-2]) + float(fields[-1])
    except (OSError, ValueError, IndexError):
        pass
    lines = [ln for ln in err.splitlines() if ln.strip()]
    records = len(list(out.glob("*.hea"))) if out.is_dir() else 0
    return Outcome(
        case.name, case.kind, case.group, rc, round(seconds, 2), round(cpu, 2), round(rss, 1),
        len(lines),
        records, "Traceback" in err, lines[0][:300] if lines else "",
    )  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write every outcome to this JSON file")
    ap.add_argument("--only", default=None, help="run only cases of this group")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="ecg-fuzz-"))
    if work.exists():
        shutil.rmtree(work)
    d, out_root = work / "in", work / "out"
    d.mkdir(parents=True)
    out_root.mkdir()
    cases = make_cases(d)
    if args.only:
        cases = [c for c in cases if c.group == args.only]
    print(f"{len(cases)} cases in {d}", flush=True)
    outcomes = []
    for i, case in enumerate(cases):
        o = run_case(case, d, out_root)
        outcomes.append(o)
        print(
            f"[{i + 1}/{len(cases)}] {o.group:11s} rc={o.rc} {o.seconds:5.2f}s "
            f"cpu {o.cpu_seconds:5.2f}s {o.rss_mb:6.1f}MB "
            f"rec={o.records} lines={o.stderr_lines} {ascii(o.name)[:50]}: {o.message[:110]}",
            flush=True,
        )
    refused = [o for o in outcomes if o.kind in (REFUSE, NO_RECORD)]
    early = [o for o in outcomes if o.kind == REFUSE]
    summary = {
        "files": len(outcomes),
        "tracebacks": sum(o.traceback for o in outcomes),
        "internal_errors": sum("internal error" in o.message for o in outcomes),
        "timeouts": sum(o.rc == -9 for o in outcomes),
        "records_from_non_ecg_or_damaged": sum(o.records for o in refused),
        "refused_not_exit_2": sum(o.rc != 2 for o in refused),
        "refused_not_one_line": sum(o.stderr_lines != 1 for o in refused),
        "peak_rss_mb_max": max(o.rss_mb for o in outcomes),
        "peak_rss_mb_max_refused": max((o.rss_mb for o in refused), default=0),
        "refused_over_300_mb": sum(o.rss_mb > MAX_RSS_MB for o in refused),
        "seconds_max_refused_before_digitizing": max((o.seconds for o in early), default=0),
        "seconds_median_refused_before_digitizing": float(
            np.median([o.seconds for o in early]) if early else 0
        ),
        "cpu_seconds_max_refused_before_digitizing": max((o.cpu_seconds for o in early), default=0),
        "refused_before_digitizing_over_2_s_wall": sum(o.seconds > MAX_REFUSE_S for o in early),
        "refused_before_digitizing_over_2_s_cpu": sum(o.cpu_seconds > MAX_REFUSE_S for o in early),
        "seconds_max_refused_after_digitizing": max(
            (o.seconds for o in refused if o.kind == NO_RECORD), default=0
        ),
        "valid_read": sum(o.rc == 0 and o.records == 1 for o in outcomes if o.kind == VALID),
        "valid_total": sum(o.kind == VALID for o in outcomes),
        "exit_codes": dict(Counter(o.rc for o in outcomes)),
        "groups": dict(Counter(o.group for o in outcomes)),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"summary": summary, "outcomes": [asdict(o) for o in outcomes]}, indent=1)
        )
    bad = (
        summary["tracebacks"]
        or summary["internal_errors"]
        or summary["timeouts"]
        or summary["records_from_non_ecg_or_damaged"]
        or summary["refused_not_exit_2"]
        or summary["refused_not_one_line"]
        or summary["refused_over_300_mb"]
        or summary["refused_before_digitizing_over_2_s_cpu"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
