"""Training pages from a second generator: ecg-image-kit (through ../shared/tools/kit-render) renders
PTB-XL records with randomized options (resolution, grid colour, black-and-white, header text,
calibration pulses, columns, wrinkles); the trace target is drawn from the page's JSON (every
lead's plotted pixel positions, at the kit's printed line width, calibration pulses included like
the synthesizer's masks), and page and mask are rescaled to the digitizer's working resolution
and cached in the same (image, mask) .npz form as `data.build_cache`, so training mixes both.

The kit's own --augment (rotation, crop) is not used: it moves the page away from the JSON's
coordinates. Geometry and photo effects come from `data.augment` instead."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .data import RecordRef, fold_records

log = logging.getLogger(__name__)

KIT_COMMON = ("--mask_unplotted_samples", "--store_config", "2")
KIT_LINE_WIDTH_PT = 0.75  # ecg_plot.py standard_values['line_width'] (matplotlib points)
KIT_PULSE_WIDTH_FACTOR = 1.5  # calibration pulses are plotted at 1.5 x the trace width
PULSE_S = 0.2  # ecg_plot.py dc_offset_length: the pulse is 0.2 s wide ...
PULSE_MV = 1.0  # ... and 1 mV high
MM_PER_S = 25.0  # the kit's paper speed
MM_PER_MV = 10.0  # the kit's gain
MASK_THRESHOLD = 96 / 255  # area-downsampled ink fraction kept as trace (as data.rectify)
ROW_START_TOL_MM = 2.0  # a lead whose first sample lies this close to the leftmost one starts a row
RESOLUTIONS = (120, 150, 200, 250, 300)  # dpi drawn from for a group of pages


SUPERSAMPLE = 2  # masks are drawn at 2x the working resolution, then area-downsampled


def kit_px_per_mm(config: dict) -> float:
    """The kit page's resolution in px/mm (its JSON's dpi)."""
    return float(config.get("resolution") or 200) / 25.4


def working_shape(shape: tuple[int, int], kit_ppmm: float, px_per_mm: float) -> tuple[int, int]:
    """(h, w) of a kit page of `shape` rescaled from `kit_ppmm` to `px_per_mm`."""
    f = px_per_mm / kit_ppmm
    return max(1, int(round(shape[0] * f))), max(1, int(round(shape[1] * f)))


def _xy(pts_yx: np.ndarray) -> np.ndarray:
    """Finite [y, x] points (float px) as (N, 2) [x, y] for drawing."""
    pts = np.asarray(pts_yx, np.float64).reshape(-1, 2)
    return pts[np.isfinite(pts).all(axis=1)][:, ::-1].copy()


def pulse_polyline(x_start: float, baseline_y: float, px_per_mm: float) -> np.ndarray:
    """[y, x] corners of a kit calibration pulse whose lead trace starts at `x_start`: 0.2 s at the
    baseline-raised level 1 mV, drawn just left of the lead (ecg_plot.py: x_offset + x_gap up to
    the trace's dc_offset)."""
    w = PULSE_S * MM_PER_S * px_per_mm
    h = PULSE_MV * MM_PER_MV * px_per_mm
    x0 = x_start - w
    edge = 0.01 * w  # two samples at the baseline on either side (500 Hz: 2 ms of 200 ms)
    xs = [x0, x0 + edge, x0 + edge, x_start - edge, x_start - edge, x_start]
    ys = [baseline_y, baseline_y, baseline_y - h, baseline_y - h, baseline_y, baseline_y]
    return np.stack([ys, xs], axis=1)


def kit_trace_mask(
    config: dict,
    shape: tuple[int, int],
    lead_values_mv: dict[str, float] | None = None,
    px_per_mm: float = 6.0,
) -> np.ndarray:
    """0/1 trace mask, at `px_per_mm`, of a kit page of `shape` (its own px) described by its
    JSON (`--store_config 2`).

    `config['leads'][i]['plotted_pixels']` are [y, x] page px of every plotted sample; they are
    drawn as polylines at the printed width (0.75 pt), at SUPERSAMPLE x `px_per_mm`, then
    area-downsampled and cut like the synthesizer's masks (`data.rectify`). When the page has
    calibration pulses (`dc_pulse`) and `lead_values_mv` gives the signal (mV) at each
    row-starting lead's first plotted sample, the row's pulse is drawn too (its baseline is the
    trace's zero level); without the values no pulse is guessed."""
    from convert.synth.mask import draw_mask, thickness_for_width

    k = kit_px_per_mm(config)
    out_h, out_w = working_shape(shape, k, px_per_mm)
    f = SUPERSAMPLE * px_per_mm / k  # page px -> drawing px
    ink = KIT_LINE_WIDTH_PT / 72.0 * 25.4 * SUPERSAMPLE * px_per_mm  # drawing px
    lines, thick, starts = [], [], []
    for lead in config.get("leads", []):
        pts = _xy(np.asarray(lead.get("plotted_pixels") or [], np.float64))
        if len(pts) == 0:
            continue
        lines.append(f * (pts if len(pts) > 1 else np.repeat(pts, 2, axis=0)))
        thick.append(thickness_for_width(ink))
        starts.append((float(pts[0, 0]), float(pts[0, 1]), lead.get("lead_name")))
    if config.get("dc_pulse") and starts and lead_values_mv is not None:
        left = min(s[0] for s in starts)
        for x, y, name in starts:
            v = lead_values_mv.get(str(name))
            if x - left > ROW_START_TOL_MM * k or v is None or not np.isfinite(v):
                continue
            baseline = y + v * MM_PER_MV * k  # image y grows downwards
            lines.append(f * _xy(pulse_polyline(x, baseline, k)))
            thick.append(thickness_for_width(ink * KIT_PULSE_WIDTH_FACTOR))
    big = (SUPERSAMPLE * out_h, SUPERSAMPLE * out_w)
    mask = draw_mask(big, lines, thick) if lines else np.zeros(big, np.uint8)
    small = cv2.resize(mask, (out_w, out_h), interpolation=cv2.INTER_AREA)
    return (small >= MASK_THRESHOLD * 255).astype(np.uint8)


def first_plotted_values(config: dict, signals: np.ndarray, lead_names: list[str]) -> dict:
    """Signal value (mV) at each lead's `start_sample` (the first plotted sample) by lead name.
    The kit's full-length rhythm strip is named like its lead; its start is sample 0 too."""
    out: dict[str, float] = {}
    idx = {n.upper(): i for i, n in enumerate(lead_names)}
    for lead in config.get("leads", []):
        name = str(lead.get("lead_name"))
        i = idx.get(name.upper())
        s = int(lead.get("start_sample") or 0)
        if i is None or s >= len(signals):
            continue
        if name in out and s != 0:
            continue
        out[name] = float(signals[s, i])
    return out


def to_working_resolution(image: np.ndarray, kit_ppmm: float, px_per_mm: float) -> np.ndarray:
    """Rescale a kit page from `kit_ppmm` to `px_per_mm` (area when shrinking, else linear)."""
    h, w = working_shape(image.shape[:2], kit_ppmm, px_per_mm)
    interp = cv2.INTER_AREA if px_per_mm < kit_ppmm else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def group_options(rng: np.random.Generator) -> list[str]:
    """Randomized kit options for one group of pages (the kit draws the per-page details)."""
    opts = ["-r", str(int(rng.choice(RESOLUTIONS)))]
    opts += ["--num_columns", str(int(rng.choice([4, 4, 2, 1])))]
    opts += ["--full_mode", str(rng.choice(["II", "II", "None"]))]
    opts += ["--calibration_pulse", f"{rng.choice([0.0, 0.7, 1.0]):.1f}"]
    if rng.random() < 0.6:
        opts.append("--random_grid_color")
    opts += ["--random_bw", f"{rng.choice([0.0, 0.2, 0.4]):.1f}"]
    opts += ["--random_print_header", f"{rng.choice([0.0, 0.5, 1.0]):.1f}"]
    if rng.random() < 0.4:
        opts.append("--wrinkles")
    return opts


def _read_truth(stem: Path) -> tuple[np.ndarray, list[str]]:
    """The kit's truth record (mV, NaN where unplotted) and its lead names."""
    from edge.wfdb_io import read_record

    rec = read_record(stem)
    return np.asarray(rec.signals, np.float64), list(rec.lead_names)


def page_from_kit_output(folder: Path, name: str, px_per_mm: float):
    """(image, mask 0/1) at `px_per_mm`, the page's JSON and the lead values the pulses were drawn
    from, for one rendered kit page in `folder`; None when the kit wrote no page."""
    img_p, cfg_p = folder / f"{name}-0.png", folder / f"{name}-0.json"
    if not (img_p.is_file() and cfg_p.is_file()):
        return None
    image = cv2.imread(str(img_p), cv2.IMREAD_COLOR)
    if image is None:
        return None
    config = json.loads(cfg_p.read_text())
    config["_shape"] = list(image.shape[:2])  # the kit page's own size, for redrawing the mask
    values = None
    if config.get("dc_pulse") and (folder / f"{name}.hea").is_file():
        sig, names = _read_truth(folder / name)
        values = first_plotted_values(config, sig, names)
    mask = kit_trace_mask(config, image.shape[:2], values, px_per_mm)
    return to_working_resolution(image, kit_px_per_mm(config), px_per_mm), mask, config, values


def build_kit_cache(
    data_dir: str | Path,
    folds: tuple[int, ...],
    out_dir: str | Path,
    n_pages: int,
    *,
    px_per_mm: float,
    kit_render: str | Path = "../shared/tools/kit-render",
    seed: int = 0,
    group: int = 8,
    progress: bool = True,
) -> list[Path]:
    """Render `n_pages` kit pages (groups of `group` records sharing random options) into
    `out_dir`/kit_XXXXX.npz at `px_per_mm`; existing files are kept, so a build resumes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    refs = fold_records(data_dir, folds)
    if not refs:
        raise FileNotFoundError(f"no records of folds {folds} in {data_dir}")
    order = np.random.default_rng(seed).permutation(len(refs))
    paths = [out_dir / f"kit_{i:05d}.npz" for i in range(n_pages)]
    for g0 in range(0, n_pages, group):
        idx = [i for i in range(g0, min(n_pages, g0 + group)) if not paths[i].exists()]
        if not idx:
            continue
        rng = np.random.default_rng([seed, g0])
        opts = group_options(rng)
        refs_g = [refs[order[i % len(refs)]] for i in idx]
        _render_group(
            refs_g, [paths[i] for i in idx], opts, seed * 1009 + g0, px_per_mm, kit_render
        )
        if progress:
            print(f"  kit pages {g0 + len(idx)}/{n_pages} ({' '.join(opts)})", flush=True)
    return [p for p in paths if p.exists()]


def _render_group(
    refs: list[RecordRef],
    outs: list[Path],
    opts: list[str],
    seed: int,
    px_per_mm: float,
    kit_render: str | Path,
) -> None:
    with tempfile.TemporaryDirectory(prefix="kit-train-") as tmp:
        in_dir, out_dir = Path(tmp) / "in", Path(tmp) / "out"
        in_dir.mkdir()
        for ref in refs:
            for ext in (".hea", ".dat"):
                shutil.copyfile(ref.path.with_suffix(ext), in_dir / f"{ref.path.name}{ext}")
        cmd = [str(Path(kit_render).resolve()), str(in_dir), str(out_dir), "-se", str(seed)]
        proc = subprocess.run(
            [*cmd, *KIT_COMMON, *opts], capture_output=True, text=True, timeout=1800
        )
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            log.warning("kit-render failed (%s): %s", " ".join(opts), tail)
            return
        for ref, out in zip(refs, outs):
            page = page_from_kit_output(out_dir, ref.path.name, px_per_mm)
            if page is None:
                log.warning("kit-render wrote no page for %s", ref.path.name)
                continue
            img, mask, config, values = page
            tmp_p = out.with_name(out.stem + ".tmp.npz")
            np.savez_compressed(
                tmp_p,
                image=img,
                mask=mask,
                ecg_id=ref.ecg_id,
                mode="kit",
                # what the mask is drawn from, so it can be redrawn without rendering again
                kit_json=json.dumps(config),
                kit_shape=np.array(config.get("_shape", (0, 0))),
                lead_values_mv=json.dumps(values or {}),
                options=" ".join(opts),
            )
            os.replace(tmp_p, out)
