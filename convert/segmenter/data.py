"""Training pages for the segmenter: PTB-XL records rendered by the synthesizer (clean, scan and
photo modes, randomized styles), rectified back to the flat page at the digitizer's working
resolution with the recorded homography, cached as (image, mask) pairs; then random crops with
heavy photometric augmentation (shadows, glare, stains, handwriting, colour swaps, blur, JPEG) and
the photo effects of `photo_effects` (thin grey QRS strokes, printer grid, folds, halos)."""

from __future__ import annotations

import contextlib
import csv
import logging
import multiprocessing as mp
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from . import photo_effects

log = logging.getLogger(__name__)

DEFAULT_DATA = "../shared/data/ptbxl500"
LAYOUTS = ("3x4+1", "3x4+1", "3x4", "3x4+3", "6x2", "12x1")
# Probability of each photo effect (convert.segmenter.photo_effects) per training crop; set all to
# 0 to train with the original augmentation only.
PHOTO_EFFECTS = {
    "displace": 0.3,  # crumpled page: slight local displacement of page and mask
    "faint_strokes": 0.45,  # thin grey QRS strokes (and sometimes faint toner everywhere)
    "fine_grid": 0.15,  # an office printer's pink/red fine grid over the crop
    "creases": 0.3,  # folds: brightness facets and ridges
    "white_balance": 0.3,  # per-channel gains drifting over the crop
    "sharpen": 0.25,  # phone sharpening halos
}


def work_px_per_mm() -> float:
    """The digitizer's working resolution (edge.digitize.page.WORK_PX_PER_MM), else 5 px/mm."""
    try:
        from edge.digitize.page import WORK_PX_PER_MM

        return float(WORK_PX_PER_MM)
    except Exception:
        return 5.0


@dataclass
class RecordRef:
    ecg_id: int
    path: Path  # WFDB record stem (500 Hz)
    fold: int


def is_signal_pack(path: str | Path) -> bool:
    """A signal pack written by pack_records (rather than a PTB-XL directory)."""
    path = Path(path)
    return path.suffix == ".npz" and path.is_file()


def fold_records(data_dir: str | Path, folds: list[int] | tuple[int, ...]) -> list[RecordRef]:
    """Records of `ptbxl_database.csv` in the given strat_folds whose 500 Hz files exist, or of a
    signal pack (`pack_records`) when `data_dir` is an .npz file."""
    data_dir = Path(data_dir)
    if is_signal_pack(data_dir):
        pack = _open_pack(str(data_dir))
        return [
            RecordRef(int(e), data_dir, int(f))
            for e, f in zip(pack["ecg_id"], pack["fold"])
            if int(f) in folds
        ]
    csv_path = data_dir / "ptbxl_database.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"no ptbxl_database.csv in {data_dir}")
    out = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            fold = int(float(row["strat_fold"]))
            if fold not in folds:
                continue
            stem = data_dir / row["filename_hr"]
            if stem.with_suffix(".hea").is_file():
                out.append(RecordRef(int(float(row["ecg_id"])), stem, fold))
    return out


def pack_records(data_dir: str | Path, folds: tuple[int, ...], out: str | Path) -> Path:
    """Write the folds' 500 Hz signals into one compressed .npz (int16 uV, LEAD_NAMES order), so
    training can run on a machine without wfdb or the WFDB files (a rented GPU box)."""
    refs = fold_records(data_dir, folds)
    sigs, fs_all = [], set()
    for ref in refs:
        sig, fs = load_signals(ref)
        fs_all.add(fs)
        sigs.append(
            np.clip(
                np.round(np.nan_to_num(sig[: int(round(10 * fs))]) * 1000), -32767, 32767
            ).astype(np.int16)
        )
    if len(fs_all) != 1 or len({s.shape for s in sigs}) != 1:
        raise ValueError(f"records differ in rate or length ({sorted(fs_all)}); cannot pack them")
    out = Path(out)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(
        tmp,
        ecg_id=np.array([r.ecg_id for r in refs]),
        fold=np.array([r.fold for r in refs]),
        signals_uv=np.stack(sigs),
        fs=np.float64(fs_all.pop()),
    )
    os.replace(tmp, out)
    return out


@lru_cache(maxsize=2)
def _open_pack(path: str) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def load_signals(ref: RecordRef) -> tuple[np.ndarray, float]:
    """(n, 12) mV in LEAD_NAMES order and fs for a PTB-XL record (WFDB files or a signal pack)."""
    if is_signal_pack(ref.path):
        pack = _open_pack(str(ref.path))
        i = int(np.flatnonzero(pack["ecg_id"] == ref.ecg_id)[0])
        return pack["signals_uv"][i].astype(np.float32) / 1000.0, float(pack["fs"])
    from edge.wfdb_io import read_record

    rec = read_record(ref.path)
    return np.asarray(rec.signals, np.float32), float(rec.fs)


def rectify(
    image: np.ndarray, mask: np.ndarray, meta: dict, px_per_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Warp a rendered page (any mode) to the flat page at `px_per_mm` using its homography."""
    H = np.asarray(meta["distortion"]["homography"], np.float64)  # flat page px -> image px
    k_flat = float(meta["px_per_mm"])
    w_mm, h_mm = meta["page_mm"]
    W, Hh = int(round(w_mm * px_per_mm)), int(round(h_mm * px_per_mm))
    S = np.diag([px_per_mm / k_flat, px_per_mm / k_flat, 1.0])  # flat px -> working px
    M = H @ np.linalg.inv(S)  # working px -> image px
    flags = (
        cv2.INTER_AREA
        if k_flat > px_per_mm * 1.5 and meta["distortion"].get("mode") == "clean"
        else cv2.INTER_LINEAR
    )
    if meta["distortion"].get("mode", "clean") == "clean" and np.allclose(H, np.eye(3)):
        img = cv2.resize(image, (W, Hh), interpolation=cv2.INTER_AREA)
        m = cv2.resize(mask, (W, Hh), interpolation=cv2.INTER_AREA)
    else:
        img = cv2.warpPerspective(
            image, M, (W, Hh), flags=flags | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        m = cv2.warpPerspective(
            mask,
            M,
            (W, Hh),
            flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return img, (m >= 96).astype(np.uint8)


def render_training_page(
    signals: np.ndarray,
    fs: float,
    seed: int,
    px_per_mm: float,
    modes: tuple[str, ...] = ("clean", "scan", "photo"),
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One randomized synthesizer page, rectified: (BGR uint8, mask 0/1 uint8, info)."""
    from convert.synth import render_page

    rng = np.random.default_rng([seed, 77])
    layout = str(rng.choice(LAYOUTS))
    mode = str(rng.choice(modes))
    n = int(round(10 * fs))
    sig = signals[:n]
    kw = {}
    if mode == "photo":
        kw["photo_size"] = (2016, 1512) if rng.random() < 0.5 else (3264, 2448)
    try:
        page = render_page(sig, fs, layout=layout, mode=mode, seed=seed, randomize=True, **kw)
    except ImportError as exc:  # a mode's optional dependency missing: never hide a rendering bug
        log.debug("mode %s unavailable (%s); rendering clean", mode, exc)
        mode = "clean"
        page = render_page(sig, fs, layout=layout, mode="clean", seed=seed, randomize=True)
    img, mask = rectify(page.image, page.mask, page.meta, px_per_mm)
    return (
        img,
        mask,
        {
            "mode": mode,
            "layout": layout,
            "seed": seed,
            "grid": page.meta.get("style", {}).get("grid"),
        },
    )


def _render_cached(job: tuple) -> str:
    """Render one cache page (a worker's job); returns a progress line."""
    p, ref, seed, px_per_mm, modes = job
    sig, fs = load_signals(ref)
    img, mask, info = render_training_page(sig, fs, seed, px_per_mm, modes)
    tmp = p.with_name(p.stem + ".tmp.npz")
    np.savez_compressed(tmp, image=img, mask=mask, ecg_id=ref.ecg_id, mode=info["mode"])
    os.replace(tmp, p)
    return f"{info['mode']}, {info['layout']}, record {ref.ecg_id}"


def build_cache(
    data_dir: str | Path,
    folds: tuple[int, ...],
    out_dir: str | Path,
    n_pages: int,
    *,
    px_per_mm: float,
    seed: int = 0,
    modes: tuple[str, ...] = ("clean", "scan", "photo"),
    progress: bool = True,
    jobs: int = 1,
) -> list[Path]:
    """Render `n_pages` rectified training pages into `out_dir` (page_XXXXX.npz) with `jobs`
    processes; existing files are kept, so an interrupted build resumes. Records cycle through
    the folds' records; page i is the same whatever `jobs` is."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    refs = fold_records(data_dir, folds)
    if not refs:
        raise FileNotFoundError(f"no records of folds {folds} in {data_dir}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(refs))
    paths = [out_dir / f"page_{i:05d}.npz" for i in range(n_pages)]
    todo = [
        (p, refs[order[i % len(refs)]], seed * 100003 + i, px_per_mm, tuple(modes))
        for i, p in enumerate(paths)
        if not p.exists()
    ]
    parallel = jobs > 1 and len(todo) > 1
    with mp.get_context("fork").Pool(jobs) if parallel else contextlib.nullcontext() as pool:
        done = pool.imap_unordered(_render_cached, todo) if parallel else map(_render_cached, todo)
        every = 50 if parallel else 10
        for i, line in enumerate(done):
            if progress and (i % every == 0 or i == len(todo) - 1):
                print(f"  page {i + 1}/{len(todo)} ({line})", flush=True)
    return paths


def load_cache(paths: list[Path], dilate: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cached (image, mask) pairs; `dilate` px grows the masks (a cross, so lines thicken evenly)."""
    out = []
    k = (
        cv2.getStructuringElement(cv2.MORPH_CROSS, (2 * dilate + 1, 2 * dilate + 1))
        if dilate > 0
        else None
    )
    for p in paths:
        with np.load(p) as z:
            m = z["mask"]
            out.append((z["image"], cv2.dilate(m, k) if k is not None else m))
    return out


# ---------------------------------------------------------------------------------------------
# augmentation


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    f = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC)


def _handwriting(img: np.ndarray, rng: np.random.Generator) -> None:
    """Pen strokes (random smooth scribbles, words, circles) that are NOT trace."""
    h, w = img.shape[:2]
    colour = [(30, 30, 30), (140, 50, 20), (160, 60, 30), (40, 40, 160), (20, 20, 20)][
        rng.integers(5)
    ]
    for _ in range(rng.integers(1, 4)):
        n = rng.integers(6, 30)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        ang = rng.uniform(0, 2 * np.pi)
        pts = []
        step = rng.uniform(2, 8)
        for _ in range(n):
            ang += rng.normal(0, 0.7)
            x += step * np.cos(ang) * 2
            y += step * np.sin(ang)
            pts.append((x, y))
        pts = np.array(pts, np.float32)
        cv2.polylines(
            img,
            [np.round(pts * 16).astype(np.int32)],
            False,
            colour,
            int(rng.integers(1, 3)),
            cv2.LINE_AA,
            4,
        )
    if rng.random() < 0.3:
        cv2.circle(
            img,
            (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
            int(rng.uniform(8, 40)),
            colour,
            int(rng.integers(1, 3)),
            cv2.LINE_AA,
        )


def augment(
    img: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Photometric/geometric augmentation of one crop (uint8 BGR, 0/1 mask), in place where possible."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        img, mask = img[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.3:
        img, mask = img[::-1], mask[::-1]
    img = np.ascontiguousarray(img)
    mask = np.ascontiguousarray(mask)
    if rng.random() < PHOTO_EFFECTS["displace"]:
        img, mask = photo_effects.displace(img, mask, rng)
    if rng.random() < 0.25:
        _handwriting(img, rng)
    if rng.random() < PHOTO_EFFECTS["faint_strokes"]:
        faint = rng.uniform(0.0, 0.5) if rng.random() < 0.4 else 0.0
        f = photo_effects.faint_fast_strokes(img, mask, rng, everywhere=faint)
    else:
        f = img.astype(np.float32)
    if rng.random() < PHOTO_EFFECTS["fine_grid"]:
        f = photo_effects.fine_grid(f, rng)
    if rng.random() < PHOTO_EFFECTS["creases"]:
        f = photo_effects.creases(f, rng)
    if rng.random() < PHOTO_EFFECTS["white_balance"]:
        f = photo_effects.uneven_white_balance(f, rng)
    if rng.random() < 0.3:  # channel permutation: any grid colour
        f = f[:, :, rng.permutation(3)]
    if rng.random() < 0.15:  # grey copy: colour gives nothing away
        g = f.mean(axis=2, keepdims=True)
        f = np.repeat(g, 3, axis=2)
    if rng.random() < 0.6:  # white balance / paper tint
        f *= rng.uniform(0.8, 1.1, size=3).astype(np.float32)
    if rng.random() < 0.5:  # shadows / uneven light
        s = _smooth_field(rng, h, w, int(rng.integers(2, 5)))
        lo = rng.uniform(0.35, 0.9)
        f *= (lo + (1 - lo) * s)[:, :, None]
    if rng.random() < 0.2:  # hard-edged shadow (hand, phone)
        a, b, c = rng.normal(size=3)
        yy, xx = np.mgrid[0:h, 0:w]
        side = (a * (xx - w / 2) + b * (yy - h / 2) + c * 30) > 0
        edge = cv2.GaussianBlur(side.astype(np.float32), (0, 0), rng.uniform(1, 8))
        f *= (1 - rng.uniform(0.2, 0.55) * edge)[:, :, None]
    if rng.random() < 0.25:  # glare
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.1, 0.5) * max(h, w)
        yy, xx = np.mgrid[0:h, 0:w]
        g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)).astype(np.float32)
        amt = rng.uniform(0.3, 0.9)
        f = f + (255 - f) * (amt * g)[:, :, None]
    if rng.random() < 0.2:  # stains (coffee, water)
        s = _smooth_field(rng, h, w, int(rng.integers(3, 8)))
        blob = np.clip((s - rng.uniform(0.6, 0.8)) * 8, 0, 1)
        tint = np.array(
            [rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.95), rng.uniform(0.8, 1.0)], np.float32
        )
        f *= 1 - blob[:, :, None] * (1 - tint)
    if rng.random() < 0.4:  # contrast / gamma
        gmm = rng.uniform(0.6, 1.6)
        f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** gmm
    if rng.random() < 0.35:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.4, 1.1))
    if rng.random() < PHOTO_EFFECTS["sharpen"]:
        f = photo_effects.sharpen_halo(f, rng)
    if rng.random() < 0.4:
        f += rng.normal(0, rng.uniform(2, 10), size=f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return out, mask


def sample_batch(
    pages: list[tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    batch: int,
    size: int,
    *,
    train: bool = True,
    scale_jitter: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, size, size) float32 in [0, 1] (BGR) and (N, 1, size, size) float32 targets.
    Crops are biased towards the gridded area so most contain trace."""
    xs = np.empty((batch, 3, size, size), np.float32)
    ys = np.empty((batch, 1, size, size), np.float32)
    for b in range(batch):
        img, mask = pages[int(rng.integers(len(pages)))]
        s = float(np.exp(rng.uniform(-scale_jitter, scale_jitter))) if train else 1.0
        cs = int(round(size / s))
        h, w = img.shape[:2]
        cs = min(cs, h, w)
        for _ in range(5):
            y0 = int(rng.integers(0, h - cs + 1))
            x0 = int(rng.integers(0, w - cs + 1))
            if mask[y0 : y0 + cs, x0 : x0 + cs].any() or rng.random() < 0.1:
                break
        ci = img[y0 : y0 + cs, x0 : x0 + cs]
        cm = mask[y0 : y0 + cs, x0 : x0 + cs]
        if cs != size:
            ci = cv2.resize(
                ci, (size, size), interpolation=cv2.INTER_AREA if cs > size else cv2.INTER_LINEAR
            )
            cm = (
                cv2.resize(cm.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
                >= 0.4
            ).astype(np.uint8)
        if train:
            ci, cm = augment(ci, cm, rng)
        xs[b] = ci.transpose(2, 0, 1).astype(np.float32) / 255.0
        ys[b, 0] = cm
    return xs, ys
