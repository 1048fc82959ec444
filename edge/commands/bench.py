"""`ecg-edge bench`: per-stage latency and peak memory of the whole device pipeline on this box,
on the bundled example photo (or any image): decode, preview guidance, digitize (with its own
stages), interpret, save a record, draw and write the result screen.

    ecg-edge bench [IMAGE] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.memory import max_rss_mb as peak_rss_mb
from edge.memory import status_mb
from edge.resources import example_path

EXAMPLE = example_path("photo.jpg")  # the checkout's examples/, else the wheel's copy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "image", nargs="?", default=str(EXAMPLE), help="photo or scan (default: bundled example)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per stage (default 3; the first warms up)"
    )
    parser.add_argument("--layout", default="", help="page layout if known (default: detect)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="N",
        help="instead: run N captures through the daemon (folder inbox, headless screen, "
        "temporary store) and print RSS along the way (memory must stay flat)",
    )


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; 0 elsewhere)."""
    rss = status_mb("VmRSS")
    return rss if rss is not None else 0.0


@dataclass
class _Timings:
    """Seconds per run of each pipeline stage, and of the digitizer's own stages."""

    stages: dict[str, list[float]] = field(default_factory=dict)
    digitize_stages: dict[str, list[float]] = field(default_factory=dict)

    def timed(self, stage: str, fn, *a, **kw):
        """Call `fn(*a, **kw)`, record how long it took under `stage` and return its result."""
        t = time.perf_counter()
        out = fn(*a, **kw)
        self.stages.setdefault(stage, []).append(time.perf_counter() - t)
        return out


def run(args: argparse.Namespace) -> int:
    from edge.config import Config
    from edge.errors import EcgEdgeError

    if not getattr(args, "verbose", False):
        import logging

        logging.getLogger().setLevel(logging.WARNING)
    cfg = Config()
    cfg.processing.layout = args.layout
    path = Path(args.image)
    if not path.exists():
        print(
            f"ecg-edge bench: {path} does not exist: give a photo of a printout "
            "(the bundled examples/photo.jpg comes with the repository)",
            file=sys.stderr,
        )
        return 2
    if args.soak:
        from edge.memory import limit_malloc_arenas

        limit_malloc_arenas()  # as `ecg-edge run` does
        return soak(path, args.soak, cfg, as_json=args.json)
    rss0 = rss_mb()
    n = max(1, args.repeat)
    try:
        timings, image = _time_pipeline(path, cfg, n)
    except EcgEdgeError as exc:
        print(f"ecg-edge bench: {exc}", file=sys.stderr)
        return exc.exit_code
    out = _bench_summary(path, image, n, timings, rss0)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    _print_bench(path, n, out)
    return 0


def _time_pipeline(path: Path, cfg, n: int) -> tuple[_Timings, np.ndarray]:
    """Run the whole pipeline `n` times on `path` in a temporary store; the timings and the
    last decoded image."""
    from edge.daemon import (
        Processed,
        _digitize,
        _interpret,
        acceptance_for,
        build_report,
        result_view,
    )
    from edge.imageio import load_image
    from edge.quality import assess_frame
    from edge.screen.render import Screens
    from edge.screen.sinks import HeadlessSink
    from edge.sources.base import Frame
    from edge.sources.replay import _resize_to_width
    from edge.store import RecordStore

    timings = _Timings()
    timed = timings.timed
    data = path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="ecg-edge-bench-") as tmp:
        store = RecordStore(Path(tmp) / "records")
        sink = HeadlessSink(Path(tmp) / "screen.png")
        screens = Screens(cfg.display.width, cfg.display.height)
        for i in range(n):
            image = timed("decode", load_image, path)
            preview = _resize_to_width(image, cfg.source.preview_width)
            q = timed("preview_guidance", assess_frame, preview)
            result = timed("digitize", _digitize, image, cfg)
            for k, v in (getattr(result, "timings", {}) or {}).items():
                timings.digitize_stages.setdefault(k, []).append(float(v))
            confidence = acceptance_for(result, cfg).confidence  # as the daemon passes it
            try:
                interp = timed("interpret", _interpret, result, cfg, confidence)
            except ImportError:
                interp = None
            proc = Processed(result=result, interpretation=interp)
            frame = Frame(image=image, name=path.name, data=data + bytes([i]), ext=path.suffix)
            report = build_report(proc, frame, "bench", q.to_dict())
            rid = timed(
                "save_record",
                store.save,
                signals=result.signals,
                fs=result.fs,
                lead_names=list(result.lead_names),
                report=report,
                capture=frame.data,
                capture_ext=path.suffix,
                rectified=result.rectified,
                overlay=result.overlay,
            )
            img = timed("draw_result", screens.result, result_view(proc, rid, True))
            timed("write_screen", sink.show, img)
        store.close()
    return timings, image


def _stat(v: list[float]) -> dict[str, float]:
    """Median and max of the warm runs (all runs when there is only one) and the first run."""
    warm = v[1:] if len(v) > 1 else v
    return {
        "median_s": round(statistics.median(warm), 4),
        "max_s": round(max(v), 4),
        "first_s": round(v[0], 4),
    }


def _bench_summary(
    path: Path, image: np.ndarray, n: int, timings: _Timings, rss0: float
) -> dict[str, Any]:
    """The figures `bench` prints: per-stage statistics, capture-to-result time and memory."""
    stages = {k: _stat(v) for k, v in timings.stages.items()}
    capture_to_result = sum(
        s["median_s"] for k, s in stages.items() if k not in ("preview_guidance",)
    )
    return {
        "image": str(path),
        "image_size": list(image.shape[1::-1]),
        "repeat": n,
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}, python {platform.python_version()}",
        "stages": stages,
        "digitize_stages": {k: _stat(v) for k, v in timings.digitize_stages.items()},
        "capture_to_result_s": round(capture_to_result, 3),
        "rss_start_mb": round(rss0, 1),
        "rss_end_mb": round(rss_mb(), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _print_bench(path: Path, n: int, out: dict[str, Any]) -> None:
    """Print the summary as a table for a person."""
    print(
        f"ecg-edge bench: {path.name} ({out['image_size'][0]}x{out['image_size'][1]}), {n} run(s), "
        f"{out['machine']}"
    )
    print(f"{'stage':<24}{'median s':>10}{'max s':>10}{'first s':>10}")
    for k, s in out["stages"].items():
        print(f"{k:<24}{s['median_s']:>10.3f}{s['max_s']:>10.3f}{s['first_s']:>10.3f}")
    for k, s in out["digitize_stages"].items():
        print(f"  digitize.{k:<14}{s['median_s']:>10.3f}{s['max_s']:>10.3f}{s['first_s']:>10.3f}")
    print(f"capture -> result on screen: {out['capture_to_result_s']:.2f} s (median)")
    print(
        f"memory: RSS {out['rss_start_mb']:.0f} MB at start, {out['rss_end_mb']:.0f} MB at end, "
        f"peak {out['peak_rss_mb']:.0f} MB"
    )


def _write_soak_capture(base: np.ndarray, inbox: Path, k: int) -> None:
    """Drop capture number `k` into the inbox: the image with `k` written in binary as 8x8
    blocks in the corner (distinct bytes), written aside and renamed in."""
    import cv2

    img = base.copy()
    for b in range(16):
        img[:8, 8 * b : 8 * b + 8] = 255 if (k >> b) & 1 else 0
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    tmpf = inbox / f".cap{k:05d}.jpg.part"
    tmpf.write_bytes(data)
    tmpf.rename(inbox / f"cap{k:05d}.jpg")


def soak(path: Path, n: int, cfg, as_json: bool = False) -> int:
    """Feed `n` distinct captures (the image with one pixel changed each) through the daemon's
    inbox loop and report resident memory after each; prints checkpoints and the growth rate."""
    import cv2

    base = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if base is None:
        print(f"ecg-edge bench: cannot read {path}", file=sys.stderr)
        return 2
    samples, elapsed, stats = _soak_daemon(base, n, cfg)
    if not samples:
        print("ecg-edge bench: no capture was processed", file=sys.stderr)
        return 1
    out, marks, rss_half, slope = _soak_summary(path, samples, elapsed, stats)
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"ecg-edge bench --soak: {len(samples)} captures of {path.name} in {elapsed:.0f} s "
        f"({', '.join(f'{k} {v}' for k, v in stats.items())})"
    )
    print("after capture  RSS MB")
    for m in marks:
        print(f"{m:>13}  {samples[m - 1][1]:7.1f}")
    print(
        f"second half: RSS {min(rss_half):.1f}..{max(rss_half):.1f} MB, trend {slope:+.2f} MB per 100 captures; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    return 0


def _soak_daemon(
    base: np.ndarray, n: int, cfg
) -> tuple[list[tuple[int, float]], float, dict[str, int]]:
    """Run the daemon on a temporary inbox and store, feeding the next capture after each one is
    handled; (captures done, RSS MB) after each, the seconds taken and the daemon's stats."""
    import threading

    from edge.daemon import Daemon
    from edge.screen.sinks import HeadlessSink
    from edge.sources.folder import FolderSource
    from edge.store import RecordStore

    samples: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="ecg-edge-soak-") as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        cfg.data_root = str(Path(tmp) / "records")
        cfg.exit_when_idle = True
        cfg.source.stable_seconds = 0.0
        store = RecordStore(cfg.data_root)
        source = FolderSource(inbox, stable_seconds=0.0, max_pixels=cfg.processing.max_image_pixels)
        daemon = Daemon(cfg, source, HeadlessSink(Path(tmp) / "screen.png"), store)
        fed = threading.Event()
        written = [0]

        def feed(k: int) -> None:
            _write_soak_capture(base, inbox, k)
            written[0] += 1

        def on_capture(rid) -> None:
            done = daemon.stats["saved"] + daemon.stats["rejected"] + daemon.stats["duplicates"]
            samples.append((done, rss_mb()))
            if rid:  # keep the temporary disk use bounded: only memory is measured here
                import shutil

                shutil.rmtree(store.record_dir(rid), ignore_errors=True)
                for p in (inbox / ".done").glob("*"):
                    p.unlink()
            if written[0] < n:
                feed(written[0])
            elif not fed.is_set():
                fed.set()

        daemon.on_capture = on_capture
        for k in range(min(2, n)):
            feed(k)
        t0 = time.perf_counter()
        daemon.run()
        elapsed = time.perf_counter() - t0
        stats = dict(daemon.stats)
        store.close()
    return samples, elapsed, stats


def _soak_summary(
    path: Path, samples: list[tuple[int, float]], elapsed: float, stats: dict[str, int]
) -> tuple[dict[str, Any], list[int], list[float], float]:
    """The soak figures, the checkpoints to print, the second half's RSS values and its trend
    (MB per 100 captures, from a straight-line fit)."""
    step = max(1, len(samples) // 12)
    marks = sorted(
        ({1, 5, 10} | set(range(step, len(samples) + 1, step)) | {len(samples)})
        & set(range(1, len(samples) + 1))
    )
    half = samples[len(samples) // 2 :]
    slope = 0.0
    if len(half) >= 2:
        xs = np.array([s[0] for s in half], float)
        ys = np.array([s[1] for s in half], float)
        slope = float(np.polyfit(xs, ys, 1)[0] * 100) if np.ptp(xs) > 0 else 0.0
    rss_half = [r for _, r in half]
    out = {
        "image": str(path),
        "captures": len(samples),
        "stats": stats,
        "seconds": round(elapsed, 1),
        "rss_mb": {str(m): round(samples[m - 1][1], 1) for m in marks},
        "second_half_rss_range_mb": [round(min(rss_half), 1), round(max(rss_half), 1)],
        "second_half_growth_mb_per_100": round(slope, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return out, marks, rss_half, slope
