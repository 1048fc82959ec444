"""Digitizer benchmark. Families:

- `clean`, `scan`, `photo`: PTB-XL records rendered by the project's own synthesizer;
- `kit-clean`, `kit-distorted`: the same records rendered by ecg-image-kit (convert.kit_pages),
  a second generator, plain or with wrinkles, rotation, noise and a colour cast;
- `real`: real phone photos of printed PTB-XL pages (convert.real_photos), all of them each time.

Every page is digitized with edge.digitize and scored with the Challenge 2024 SNR (edge.snr) over
the samples its ground truth shows. Generator metadata is used only here, to score - never inside
the digitizer. Each family runs in its own fresh worker processes so that its peak RSS (measured
around each page's load and digitize) is the digitizer's own, not the benchmark's."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edge.layouts import LEAD_NAMES

SYNTH_FAMILIES = ("clean", "scan", "photo")
KIT_FAMILIES = ("kit-clean", "kit-distorted")
REAL_FAMILY = "real"
FAMILIES = (*SYNTH_FAMILIES, *KIT_FAMILIES, REAL_FAMILY)
FAMILY_INDEX = {f: i for i, f in enumerate(FAMILIES)}  # part of every page's seed
LOW_SNR_DB = 3.0  # a page below this is counted apart: its reading is mostly wrong
PAGE_LAYOUT = "3x4+1"  # what the kit families and the real photos print


@dataclass
class PageScore:
    ecg_id: int
    family: str
    snr_db: float  # mean over scored leads (failed image: 0 for every lead)
    lead_snr: dict[str, float]
    seconds: float  # digitize (synth families) or load + digitize (image files)
    layout_true: str
    layout_found: str
    error: str = ""
    meta: dict = field(default_factory=dict)
    name: str = ""  # the photo's file name (real family)
    attributes: dict = field(default_factory=dict)  # the photo's attributes (real family)
    peak_rss_mb: float = float("nan")  # this page's peak resident memory in its worker


def parse_families(text: str) -> list[str]:
    """'clean, kit-clean,real' -> ['clean', 'kit-clean', 'real']; ValueError naming an unknown
    family and the choices."""
    fams = [f.strip() for f in text.split(",") if f.strip()]
    if not fams:
        raise ValueError(f"no family given: choose from {', '.join(FAMILIES)}")
    for f in fams:
        if f not in FAMILIES:
            raise ValueError(f"unknown family {f!r}: choose from {', '.join(FAMILIES)}")
    return list(dict.fromkeys(fams))


def family_seed(ecg_id: int, family: str) -> int:
    """The fixed seed of one record's page in one family."""
    return int(ecg_id) * 10 + FAMILY_INDEX[family]


def fold_rows(data_dir: str | os.PathLike, folds: list[int], limit: int | None = None):
    """(ecg_id, WFDB record path of the 500 Hz signal) for records of `folds`, by ecg_id."""
    data = Path(data_dir)
    db = data / "ptbxl_database.csv"
    if not db.exists():
        raise FileNotFoundError(f"{db} not found: give --data pointing at the ptbxl500 directory")
    rows = []
    with open(db, newline="") as f:
        for row in csv.DictReader(f):
            if int(float(row["strat_fold"])) in folds:
                rows.append((int(float(row["ecg_id"])), data / row["filename_hr"]))
    rows.sort()
    return rows[:limit] if limit else rows


def load_fold_records(data_dir: str | os.PathLike, folds: list[int], limit: int | None = None):
    """Yield (ecg_id, signals (n, 12) mV in LEAD_NAMES order, fs) for records of `folds`."""
    from edge.wfdb_io import read_record

    for ecg_id, path in fold_rows(data_dir, folds, limit):
        rec = read_record(path)
        idx = [rec.lead_names.index(n) for n in LEAD_NAMES]
        yield ecg_id, rec.signals[:, idx], rec.fs


def render_for_family(
    signals: np.ndarray,
    fs: float,
    family: str,
    ecg_id: int,
    *,
    photo_size: tuple[int, int] | None = None,
):
    """The synthesizer's page for one record and family, fully determined by (ecg_id, family)."""
    from convert.synth import render_page

    seed = family_seed(ecg_id, family)
    if family == "clean":
        return render_page(signals, fs, layout="3x4+1", mode="clean", seed=seed)
    kw = {"photo_size": photo_size} if (family == "photo" and photo_size) else {}
    return render_page(signals, fs, layout="3x4+1", mode=family, seed=seed, randomize=True, **kw)


def reset_peak_rss() -> bool:
    """Set this process's peak-RSS mark (VmHWM) back to its current RSS (Linux >= 4.0), so the
    next reading is the peak of what follows; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """This process's own peak resident memory in MB (VmHWM; getrusage where /proc is absent)."""
    from edge.memory import max_rss_mb, status_mb

    hwm = status_mb("VmHWM")
    return hwm if hwm is not None else max_rss_mb()


def _failed(truth: np.ndarray) -> dict[str, float]:
    """Every lead the truth shows scores 0 dB when the image is not read (as in the Challenge)."""
    return {n: 0.0 for j, n in enumerate(LEAD_NAMES) if np.isfinite(truth[:, j]).any()}


def score_image(
    key: int,
    family: str,
    image: np.ndarray | Path,
    truth: np.ndarray,
    fs: float,
    *,
    layout_true: str,
    trace_model: str = "auto",
    save_dir: str | None = None,
    overlays: bool = False,
    name: str = "",
    attributes: dict | None = None,
    meta: dict | None = None,
) -> PageScore:
    """Digitize one image (an array, or a file loaded as the device does) and score it against
    `truth` ((n, 12) mV in LEAD_NAMES order, NaN where nothing is printed)."""
    from edge.digitize import digitize
    from edge.errors import EcgEdgeError
    from edge.imageio import load_image
    from edge.memory import status_mb, trim_malloc
    from edge.snr import record_snr
    from edge.wfdb_io import write_record

    meta = dict(meta or {})
    attributes = dict(attributes or {})
    trim_malloc()  # what an earlier page left in malloc's free lists is not this page's
    meta["peak_rss_exact"] = reset_peak_rss()
    meta["rss_before_mb"] = round(status_mb("VmRSS") or 0.0, 1)  # resident when the page began
    t = time.perf_counter()
    try:
        img = load_image(image) if isinstance(image, Path) else image
        res = digitize(img, fs=fs, trace_model=trace_model)
    except EcgEdgeError as exc:
        dt = time.perf_counter() - t
        return PageScore(
            key,
            family,
            0.0,
            _failed(truth),
            dt,
            layout_true,
            "",
            f"{exc.code}: {exc.message}",
            meta,
            name,
            attributes,
            peak_rss_mb(),
        )
    dt = time.perf_counter() - t
    peak = peak_rss_mb()
    est = res.signals.astype(np.float64)
    n = min(len(est), len(truth))
    scores = record_snr(truth[:n], est[:n], fs, LEAD_NAMES)
    lead = {k: float(v.snr_db) for k, v in scores.items()}
    meta["lead_detail"] = {
        k: {
            "raw_db": round(v.raw_snr_db, 3),
            "coverage": round(v.coverage, 4),
            "shift_ms": round(1000.0 * v.shift_samples / fs, 1),
            "offset_mv": round(v.offset_mv, 4),
        }
        for k, v in scores.items()
    }
    meta.update(
        speed_found=res.speed_mm_s,
        gain_found=res.gain_mm_mv,
        confidence=round(float(res.confidence), 3),
        warnings=list(res.warnings),
    )
    if save_dir:
        out = Path(save_dir) / family
        out.mkdir(parents=True, exist_ok=True)
        stem = Path(name).stem if name else str(key)
        write_record(out / stem, res.signals, res.fs, list(res.lead_names))
        doc = res.to_dict()
        doc["snr_db"] = lead
        doc["truth"] = {"layout": layout_true, **{k: v for k, v in meta.items() if "true" in k}}
        (out / f"{stem}.json").write_text(json.dumps(doc, indent=2))
        if overlays and res.overlay is not None:
            import cv2

            cv2.imwrite(str(out / f"{stem}.overlay.png"), res.overlay)
    if family == REAL_FAMILY:
        # What the device does next is judged by the parent (device_verdicts): the classifier's
        # interpreter loaded in this worker would stay resident and count in every later page.
        meta[READING_KEY] = dataclasses.replace(res, rectified=None, overlay=None)
    return PageScore(
        key,
        family,
        float(np.mean(list(lead.values()))) if lead else 0.0,
        lead,
        dt,
        layout_true,
        res.layout,
        "",
        meta,
        name,
        attributes,
        peak,
    )


READING_KEY = "_reading"  # a real photo's reading, carried from the worker to the parent


def device_verdicts(results: list[PageScore]) -> None:
    """Each real photo's device verdict (device_verdict), judged here in the parent from the
    reading its worker sent back; the reading itself is then dropped. Edits `results`."""
    for r in results:
        reading = r.meta.pop(READING_KEY, None)
        if reading is not None:
            r.meta["verdict"] = device_verdict(reading)


def device_verdict(res) -> dict:
    """What the device does with a reading after digitizing it: keep it as a record or ask for a
    retake (edge.acceptance), then classify it or withhold the classes (edge.interpret's
    refusal), with the class probabilities the classifier gives either way."""
    from edge.acceptance import judge_reading
    from edge.interpret import interpret
    from edge.interpret.interpretation import classify_probabilities
    from edge.interpret.measure import measure
    from edge.interpret.signals import validate

    acc = judge_reading(res)
    out: dict = {"kept": acc.ok, "retake": "" if acc.ok else acc.message, "refused": ""}
    if acc.ok:
        it = interpret(res.signals, res.fs, list(res.lead_names), confidence=acc.confidence)
        out["refused"] = it.refused or ""
        out["probabilities"] = it.probabilities or {}
    try:
        prep = validate(res.signals, res.fs, list(res.lead_names))
        probs, _, _ = classify_probabilities(prep.signals, prep.fs, None, None, measure(prep))
        out["forced_probabilities"] = dict(probs)
    except Exception as exc:  # a reading the classifier cannot take at all
        out["forced_error"] = f"{type(exc).__name__}: {exc}"
    return out


def score_page(
    ecg_id: int,
    family: str,
    signals: np.ndarray,
    fs: float,
    trace_model: str,
    save_dir: str | None = None,
    overlays: bool = False,
) -> PageScore:
    """Render (synthesizer), digitize and score one page (failures count as 0 dB)."""
    page = render_for_family(signals, fs, family, ecg_id)
    return score_rendered(ecg_id, family, page, fs, trace_model, save_dir, overlays)


@dataclass(frozen=True)
class SynthPage:
    """A synthesized page rendered by the parent process: the worker that digitizes it holds
    the page only, not what the renderer leaves in its heap (its peak is several hundred MB)."""

    image: np.ndarray
    truth: np.ndarray
    meta: dict


def score_rendered(
    ecg_id: int,
    family: str,
    page,
    fs: float,
    trace_model: str,
    save_dir: str | None = None,
    overlays: bool = False,
) -> PageScore:
    """Digitize and score a synthesized page (a RenderedPage or SynthPage)."""
    meta = {
        "speed_true": page.meta.get("speed_mm_s"),
        "gain_true": page.meta.get("gain_mm_mv"),
    }
    return score_image(
        ecg_id,
        family,
        page.image,
        page.truth,
        fs,
        layout_true=page.meta["layout"],
        trace_model=trace_model,
        save_dir=save_dir,
        overlays=overlays,
        meta=meta,
    )


def score_kit_page(
    ecg_id: int,
    family: str,
    record: str | os.PathLike,
    trace_model: str,
    *,
    kit_render: str,
    kit_cache: str,
    save_dir: str | None = None,
    overlays: bool = False,
) -> PageScore:
    """Render (ecg-image-kit, cached), digitize and score one page of a kit family."""
    from convert.kit_pages import render_kit_page
    from convert.real_photos import read_truth

    seed = family_seed(ecg_id, family)
    page = render_kit_page(record, family, seed, kit_render=kit_render, cache_dir=kit_cache)
    truth, fs = read_truth(page.truth_path)
    meta = {"seed": seed, "speed_true": 25.0, "gain_true": 10.0, "image": str(page.image_path)}
    return score_image(
        ecg_id,
        family,
        page.image_path,
        truth,
        fs,
        layout_true=PAGE_LAYOUT,
        trace_model=trace_model,
        save_dir=save_dir,
        overlays=overlays,
        meta=meta,
    )


def score_real_photo(
    photo, trace_model: str, save_dir: str | None = None, overlays: bool = False
) -> PageScore:
    """Digitize and score one real photo (a convert.real_photos.RealPhoto)."""
    from convert.real_photos import read_truth

    truth, fs = read_truth(photo.truth_path)
    return score_image(
        photo.record_number,
        REAL_FAMILY,
        Path(photo.image_path),
        truth,
        fs,
        layout_true=PAGE_LAYOUT,
        trace_model=trace_model,
        save_dir=save_dir,
        overlays=overlays,
        name=photo.name,
        attributes={**photo.attributes, "labels": ",".join(photo.labels)},
    )


@dataclass(frozen=True)
class Task:
    """One page to score: `source` is the synth signals, the kit record path or the photo."""

    key: int
    family: str
    source: object
    fs: float = 500.0


@dataclass(frozen=True)
class RunOptions:
    trace_model: str = "auto"
    save_dir: str | None = None
    overlays: bool = False
    kit_render: str = "../shared/tools/kit-render"
    kit_cache: str = "runs/kit-cache"


def _worker_init() -> None:
    """A benchmark worker starts like the device's reader does: bounded malloc arenas and the
    models it reads pages with loaded, so a page's seconds are its own reading (a device loads
    them once, at start) and its peak RSS counts them."""
    from edge.digitize.textcues import default_classifier
    from edge.digitize.traceprob import learned_or_none
    from edge.memory import limit_malloc_arenas

    limit_malloc_arenas()
    learned_or_none()
    default_classifier()


def _job(args: tuple[Task, RunOptions]) -> PageScore:
    task, opt = args
    try:
        if task.family in SYNTH_FAMILIES:
            # Rendered in the parent (run_family) or, run in-line, rendered here.
            score = score_rendered if isinstance(task.source, SynthPage) else score_page
            return score(
                task.key,
                task.family,
                task.source,
                task.fs,
                opt.trace_model,
                opt.save_dir,
                opt.overlays,
            )
        if task.family in KIT_FAMILIES:
            return score_kit_page(
                task.key,
                task.family,
                str(task.source),
                opt.trace_model,
                kit_render=opt.kit_render,
                kit_cache=opt.kit_cache,
                save_dir=opt.save_dir,
                overlays=opt.overlays,
            )
        return score_real_photo(task.source, opt.trace_model, opt.save_dir, opt.overlays)
    except Exception as exc:  # a crash is a benchmark result too, never the end of the run
        name = getattr(task.source, "name", "") if task.family == REAL_FAMILY else ""
        return PageScore(
            task.key,
            task.family,
            0.0,
            {},
            0.0,
            "",
            "",
            f"crash: {type(exc).__name__}: {exc}",
            name=name,
        )


def plan_tasks(
    families: list[str],
    *,
    data_dir: str | None,
    folds: list[int],
    limit: int | None = None,
    kit_render: str | None = None,
    real_dir: str | None = None,
) -> tuple[dict[str, list[Task]], dict[str, str]]:
    """The pages of each family, and for each family that cannot run, why (a message for the
    user: no PTB-XL data, no kit-render, no real photos)."""
    from convert.kit_pages import missing_kit
    from convert.real_photos import load_real_photos, missing_real_data

    tasks: dict[str, list[Task]] = {}
    skipped: dict[str, str] = {}
    rows = None
    no_data = None
    if any(f != REAL_FAMILY for f in families):
        if data_dir and (Path(data_dir) / "ptbxl_database.csv").is_file():
            rows = fold_rows(data_dir, folds, limit)
        else:
            no_data = (
                f"no PTB-XL data at {data_dir}: give --data DIR "
                "(the ptbxl500 directory with ptbxl_database.csv)"
            )
    for fam in families:
        if fam == REAL_FAMILY:
            why = missing_real_data(real_dir)
            if why:
                skipped[fam] = why
                continue
            tasks[fam] = [Task(p.record_number, fam, p) for p in load_real_photos(str(real_dir))]
            continue
        if rows is None:
            skipped[fam] = str(no_data)
            continue
        if fam in KIT_FAMILIES:
            why = missing_kit(kit_render)
            if why:
                skipped[fam] = why
                continue
            tasks[fam] = [Task(eid, fam, str(path)) for eid, path in rows]
            continue
        from edge.wfdb_io import read_record

        fam_tasks = []
        for eid, path in rows:
            rec = read_record(path)
            idx = [rec.lead_names.index(n) for n in LEAD_NAMES]
            fam_tasks.append(Task(eid, fam, rec.signals[:, idx], rec.fs))
        tasks[fam] = fam_tasks
    return tasks, skipped


def _rendered(task: Task) -> Task:
    """A synthesizer task with its page rendered (in this process); other tasks as they are, and
    a page the renderer fails on is left for the worker to fail on and report."""
    if task.family not in SYNTH_FAMILIES or not isinstance(task.source, np.ndarray):
        return task
    try:
        page = render_for_family(task.source, task.fs, task.family, task.key)
    except Exception:
        return task
    return Task(task.key, task.family, SynthPage(page.image, page.truth, page.meta), task.fs)


def run_family(
    tasks: list[Task],
    options: RunOptions,
    *,
    jobs: int = 1,
    progress: Callable[[PageScore], None] | None = None,
    fresh_process: bool = True,
) -> list[PageScore]:
    """Score one family's pages, each in a fresh worker process (spawned, `jobs` at a time, so a
    page's peak RSS is its own, as on a device reading one photo after starting, and not what
    the pages before it left in a long-lived worker's heap) or, with fresh_process=False and
    jobs == 1, in this process."""
    results: list[PageScore] = []
    work = [(t, options) for t in tasks]
    if fresh_process or jobs > 1:
        import multiprocessing as mp
        import threading

        # Synthesized pages are rendered here, a page or two ahead of the workers.
        slots = threading.Semaphore(max(1, jobs) + 1)

        def feed():
            for t in tasks:
                slots.acquire()
                yield (_rendered(t), options)

        ctx = mp.get_context("spawn")
        with ctx.Pool(max(1, jobs), initializer=_worker_init, maxtasksperchild=1) as pool:
            for r in pool.imap(_job, feed()):
                slots.release()
                results.append(r)
                if progress:
                    progress(r)
    else:
        for w in work:
            r = _job(w)
            results.append(r)
            if progress:
                progress(r)
    device_verdicts(results)
    return results


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
    overlays: bool = False,
    kit_render: str | None = None,
    kit_cache: str = "runs/kit-cache",
    real_dir: str | None = None,
    fresh_process: bool = True,
    skipped: dict[str, str] | None = None,
) -> list[PageScore]:
    """Score every page of every family that can run; families that cannot are left out and
    named with the reason in `skipped` (when a dict is given)."""
    plan, why = plan_tasks(
        families,
        data_dir=data_dir,
        folds=folds,
        limit=limit,
        kit_render=kit_render,
        real_dir=real_dir,
    )
    if skipped is not None:
        skipped.update(why)
    opt = RunOptions(
        trace_model,
        save_dir,
        overlays,
        str(kit_render or ""),
        kit_cache,
    )
    results: list[PageScore] = []
    for fam in families:
        if fam in plan:
            results += run_family(
                plan[fam], opt, jobs=jobs, progress=progress, fresh_process=fresh_process
            )
    return results


@dataclass
class FamilySummary:
    family: str
    pages: int
    failed: int
    below_3db: int
    mean_db: float
    median_db: float
    median_s: float
    max_s: float
    peak_rss_mb: float


def family_summary(results: list[PageScore], family: str) -> FamilySummary | None:
    """The six figures of one family (plus counts); None when it has no page."""
    rs = [r for r in results if r.family == family]
    if not rs:
        return None
    snrs = [r.snr_db for r in rs]
    secs = [r.seconds for r in rs if r.seconds > 0] or [0.0]
    rss = [r.peak_rss_mb for r in rs if math.isfinite(r.peak_rss_mb)]
    return FamilySummary(
        family,
        len(rs),
        sum(1 for r in rs if r.error),
        sum(1 for s in snrs if s < LOW_SNR_DB),
        float(np.mean(snrs)),
        float(np.median(snrs)),
        float(statistics.median(secs)),
        float(max(secs)),
        float(max(rss)) if rss else float("nan"),
    )


def summarize(results: list[PageScore], families: list[str]) -> str:
    """Table: per family mean and median SNR, pages below 3 dB, failures, median and max seconds
    per image and peak RSS; then mean SNR per lead and the failures."""
    fams = [f for f in families if any(r.family == f for r in results)]
    lines = [
        f"{'family':<14}{'pages':>6}{'failed':>7}{'mean SNR dB':>13}{'median dB':>11}"
        f"{'< 3 dB':>8}{'median s':>10}{'max s':>8}{'peak RSS MB':>13}"
    ]
    for fam in fams:
        s = family_summary(results, fam)
        assert s is not None
        lines.append(
            f"{fam:<14}{s.pages:>6}{s.failed:>7}{s.mean_db:>13.2f}{s.median_db:>11.2f}"
            f"{s.below_3db:>8}{s.median_s:>10.2f}{s.max_s:>8.2f}{s.peak_rss_mb:>13.0f}"
        )
    lines.append("")
    lines.append(f"{'lead':<6}" + "".join(f"{f:>14}" for f in fams))
    for lead in LEAD_NAMES:
        row = f"{lead:<6}"
        for fam in fams:
            v = [r.lead_snr[lead] for r in results if r.family == fam and lead in r.lead_snr]
            row += f"{np.mean(v):>14.2f}" if v else f"{'-':>14}"
        lines.append(row)
    errs = [r for r in results if r.error]
    if errs:
        lines.append("")
        lines.append("failures:")
        for r in errs[:20]:
            lines.append(f"  {r.family} {r.name or r.ecg_id}: {r.error}")
    return "\n".join(lines)


def real_photo_lines(results: list[PageScore]) -> str:
    """One line per real photo: name, SNR, seconds, layout, its photos.csv attributes, error."""
    from convert.real_photos import PHOTO_ATTRIBUTES

    rs = sorted((r for r in results if r.family == REAL_FAMILY), key=lambda r: r.name)
    head = f"{'photo':<18}{'SNR dB':>8}{'s':>7}  {'layout':<8}" + "".join(
        f"{a:>9}" for a in PHOTO_ATTRIBUTES
    )
    lines = [head]
    for r in rs:
        attrs = "".join(f"{r.attributes.get(a, '-'):>9}" for a in PHOTO_ATTRIBUTES)
        lines.append(
            f"{r.name:<18}{r.snr_db:>8.2f}{r.seconds:>7.2f}  {r.layout_found or '-':<8}{attrs}"
            + (f"  [{r.error}]" if r.error else "")
        )
    return "\n".join(lines)


CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")  # the classifier's PTB-XL superclasses


def real_verdict_lines(results: list[PageScore]) -> str:
    """What the device would do with the real photos' readings: kept as records, classified or
    refused, and the classifier's macro AUC against the photos' labels (on the classified
    readings, and on every reading with the refusal overridden)."""
    from convert.classifier.metrics import auc

    rs = [r for r in results if r.family == REAL_FAMILY]
    verdicts = [(r, r.meta.get("verdict")) for r in rs]
    kept = sum(1 for _, v in verdicts if v and v["kept"])
    classified = [(r, v) for r, v in verdicts if v and v["kept"] and not v["refused"]]
    lines = [
        f"device verdict on {len(rs)} real photos: {kept} kept as records, {len(classified)} "
        f"classified, {len(rs) - len(classified)} not classified (retake or refused)"
    ]
    for label, items, key in (
        ("classified readings", classified, "probabilities"),
        ("every reading, refusal overridden", verdicts, "forced_probabilities"),
    ):
        items = [(r, v) for r, v in items if v and v.get(key)]
        per = {}
        for c in CLASSES:
            y = np.array([c in r.attributes.get("labels", "").split(",") for r, _ in items])
            if 0 < y.sum() < len(y):
                per[c] = auc(y.astype(float), np.array([v[key][c] for _, v in items]))
        if per:
            lines.append(
                f"  macro AUC, {label} ({len(items)}): {np.mean(list(per.values())):.3f} over "
                f"{len(per)} classes (" + ", ".join(f"{c} {a:.2f}" for c, a in per.items()) + ")"
            )
    for r, v in verdicts:
        if v and (not v["kept"] or v["refused"]):
            lines.append(f"  {r.name}: {(v['retake'] or v['refused'])[:110]}")
    return "\n".join(lines)


def write_results(results: list[PageScore], json_path: str | None, csv_path: str | None) -> None:
    """Per-page results as JSON (everything) and/or CSV (one row a page, one column a lead)."""
    from edge.atomic import write_file_atomic

    if json_path:
        doc = [asdict(r) for r in results]
        write_file_atomic(Path(json_path), json.dumps(doc, indent=1).encode())
    if csv_path:
        import io

        buf = io.StringIO()
        w = csv.writer(buf)
        cols = ["family", "ecg_id", "name", "snr_db", "seconds", "peak_rss_mb"]
        cols += ["layout_true", "layout_found", "error", *LEAD_NAMES]
        w.writerow(cols)
        for r in results:
            w.writerow(
                [r.family, r.ecg_id, r.name, f"{r.snr_db:.3f}", f"{r.seconds:.3f}"]
                + [f"{r.peak_rss_mb:.0f}", r.layout_true, r.layout_found, r.error]
                + [f"{r.lead_snr[n]:.3f}" if n in r.lead_snr else "" for n in LEAD_NAMES]
            )
        write_file_atomic(Path(csv_path), buf.getvalue().encode())


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
