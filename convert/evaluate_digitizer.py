"""Digitizer benchmark: render PTB-XL records as pages (clean, scanned, photographed) with the
synthesizer, digitize them with edge.digitize, and score with the Challenge 2024 SNR (edge.snr).
Synthesizer metadata is used only here, to score - never inside the digitizer."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.layouts import LEAD_NAMES

FAMILIES = ("clean", "scan", "photo")
FAMILY_INDEX = {f: i for i, f in enumerate(FAMILIES)}


@dataclass
class PageScore:
    ecg_id: int
    family: str
    snr_db: float  # mean over scored leads (failed image: 0 for every lead)
    lead_snr: dict[str, float]
    seconds: float
    layout_true: str
    layout_found: str
    error: str = ""
    meta: dict = field(default_factory=dict)


def load_fold_records(data_dir: str | os.PathLike, folds: list[int], limit: int | None = None):
    """Yield (ecg_id, signals (n, 12) mV in LEAD_NAMES order, fs) for records of `folds`."""
    from edge.wfdb_io import read_record

    data = Path(data_dir)
    db = data / "ptbxl_database.csv"
    if not db.exists():
        raise FileNotFoundError(f"{db} not found: give --data pointing at the ptbxl500 directory")
    rows = []
    with open(db, newline="") as f:
        for row in csv.DictReader(f):
            if int(float(row["strat_fold"])) in folds:
                rows.append(row)
    rows.sort(key=lambda r: int(float(r["ecg_id"])))
    if limit:
        rows = rows[:limit]
    for row in rows:
        rec = read_record(data / row["filename_hr"])
        idx = [rec.lead_names.index(n) for n in LEAD_NAMES]
        yield int(float(row["ecg_id"])), rec.signals[:, idx], rec.fs


def render_for_family(
    signals: np.ndarray,
    fs: float,
    family: str,
    ecg_id: int,
    *,
    photo_size: tuple[int, int] | None = None,
):
    """The benchmark page for one record and family, fully determined by (ecg_id, family)."""
    from convert.synth import render_page

    seed = int(ecg_id) * 10 + FAMILY_INDEX[family]
    if family == "clean":
        return render_page(signals, fs, layout="3x4+1", mode="clean", seed=seed)
    kw = {"photo_size": photo_size} if (family == "photo" and photo_size) else {}
    return render_page(signals, fs, layout="3x4+1", mode=family, seed=seed, randomize=True, **kw)


def score_page(
    ecg_id: int,
    family: str,
    signals: np.ndarray,
    fs: float,
    trace_model: str,
    save_dir: str | None = None,
) -> PageScore:
    """Render, digitize and score one page (failures count as 0 dB, as in the Challenge)."""
    from edge.digitize import digitize
    from edge.errors import EcgEdgeError
    from edge.snr import record_snr
    from edge.wfdb_io import write_record

    page = render_for_family(signals, fs, family, ecg_id)
    truth = page.truth
    t = time.perf_counter()
    try:
        res = digitize(page.image, fs=fs, trace_model=trace_model)
    except EcgEdgeError as exc:
        dt = time.perf_counter() - t
        scored = [n for j, n in enumerate(LEAD_NAMES) if np.isfinite(truth[:, j]).any()]
        return PageScore(
            ecg_id,
            family,
            0.0,
            {n: 0.0 for n in scored},
            dt,
            page.meta["layout"],
            "",
            f"{exc.code}: {exc.message}",
        )
    dt = time.perf_counter() - t
    est = res.signals.astype(np.float64)
    n = min(len(est), len(truth))
    scores = record_snr(truth[:n], est[:n], fs, LEAD_NAMES)
    lead = {k: float(v.snr_db) for k, v in scores.items()}
    if save_dir:
        out = Path(save_dir) / family
        out.mkdir(parents=True, exist_ok=True)
        write_record(out / str(ecg_id), res.signals, res.fs, list(res.lead_names))
        doc = res.to_dict()
        doc["snr_db"] = lead
        doc["truth"] = {
            "layout": page.meta["layout"],
            "speed_mm_s": page.meta.get("speed_mm_s"),
            "gain_mm_mv": page.meta.get("gain_mm_mv"),
        }
        (out / f"{ecg_id}.json").write_text(json.dumps(doc, indent=2))
    meta = {
        "speed_true": page.meta.get("speed_mm_s"),
        "speed_found": res.speed_mm_s,
        "gain_true": page.meta.get("gain_mm_mv"),
        "gain_found": res.gain_mm_mv,
    }
    return PageScore(
        ecg_id,
        family,
        float(np.mean(list(lead.values()))) if lead else 0.0,
        lead,
        dt,
        page.meta["layout"],
        res.layout,
        "",
        meta,
    )


def _job(args):
    ecg_id, family, signals, fs, trace_model, save_dir = args
    try:
        return score_page(ecg_id, family, signals, fs, trace_model, save_dir)
    except Exception as exc:  # a crash is a benchmark result too, never the end of the run
        return PageScore(
            ecg_id, family, 0.0, {}, 0.0, "", "", f"crash: {type(exc).__name__}: {exc}"
        )


def evaluate(
    data_dir: str,
    folds: list[int],
    families: list[str],
    *,
    limit: int | None = None,
    trace_model: str = "auto",
    save_dir: str | None = None,
    jobs: int = 1,
    progress=None,
) -> list[PageScore]:
    """Score every (record, family) pair; `jobs` > 1 uses worker processes."""
    tasks = [
        (eid, fam, sig, fs, trace_model, save_dir)
        for eid, sig, fs in load_fold_records(data_dir, folds, limit)
        for fam in families
    ]
    results: list[PageScore] = []
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(jobs) as pool:
            for r in pool.imap(_job, tasks):
                results.append(r)
                if progress:
                    progress(r)
    else:
        for t in tasks:
            r = _job(t)
            results.append(r)
            if progress:
                progress(r)
    return results


def summarize(results: list[PageScore], families: list[str]) -> str:
    """Table: mean SNR per family and per lead, failures, median seconds per image."""
    lines = []
    head = f"{'family':<8}{'pages':>6}{'failed':>7}{'mean SNR dB':>13}{'median dB':>11}{'median s':>10}"
    lines.append(head)
    for fam in families:
        rs = [r for r in results if r.family == fam]
        if not rs:
            continue
        snrs = [r.snr_db for r in rs]
        failed = sum(1 for r in rs if r.error)
        secs = [r.seconds for r in rs if not r.error] or [0.0]
        lines.append(
            f"{fam:<8}{len(rs):>6}{failed:>7}{np.mean(snrs):>13.2f}{np.median(snrs):>11.2f}"
            f"{statistics.median(secs):>10.2f}"
        )
    lines.append("")
    lines.append(f"{'lead':<6}" + "".join(f"{f:>9}" for f in families))
    for lead in LEAD_NAMES:
        row = f"{lead:<6}"
        for fam in families:
            v = [r.lead_snr[lead] for r in results if r.family == fam and lead in r.lead_snr]
            row += f"{np.mean(v):>9.2f}" if v else f"{'-':>9}"
        lines.append(row)
    errs = [r for r in results if r.error]
    if errs:
        lines.append("")
        lines.append("failures:")
        for r in errs[:20]:
            lines.append(f"  {r.family} {r.ecg_id}: {r.error}")
    return "\n".join(lines)


_TIMING_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from edge.memory import limit_malloc_arenas
limit_malloc_arenas()  # as `ecg-edge digitize` and `ecg-edge run` do at start
from edge.digitize import digitize
from edge.imageio import load_image
from edge.memory import max_rss_mb, status_mb
path, reps, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = []
err = ""
for _ in range(reps):
    t = time.perf_counter()
    try:
        r = digitize(load_image(path), trace_model=model)
    except Exception as exc:
        err = f"{type(exc).__name__}: {exc}"
    times.append(time.perf_counter() - t)
def peak_mb():
    # VmHWM is this process's own high-water mark; ru_maxrss can carry the parent's from fork.
    hwm = status_mb("VmHWM")
    return hwm if hwm is not None else max_rss_mb()
print(json.dumps({"times": times, "peak_rss_mb": peak_mb(), "error": err}))
"""


def photo_timing(
    signals: np.ndarray,
    fs: float,
    ecg_id: int,
    *,
    size=(4000, 3000),
    reps: int = 5,
    trace_model: str = "auto",
) -> dict:
    """Median seconds (load JPEG + digitize) and peak RSS of a fresh process for one 12 MP photo."""
    page = render_for_family(signals, fs, "photo", ecg_id, photo_size=size)
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo12mp.jpg"
        cv2.imwrite(str(path), page.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        out = subprocess.run(
            [sys.executable, "-c", _TIMING_SNIPPET, str(path), str(reps), trace_model],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
    if out.returncode != 0:
        return {
            "error": out.stderr.strip().splitlines()[-1]
            if out.stderr.strip()
            else "timing run failed"
        }
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["median_s"] = float(np.median(d["times"]))
    d["image_size"] = list(page.image.shape[1::-1])
    return d
