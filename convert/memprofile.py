"""Where the digitizer's memory and time go: the peak resident memory (VmHWM, exact on Linux >= 4.0)
and seconds of each stage of one digitize() call, in a fresh process.

    python -m convert.memprofile PHOTO.jpg            # a photo or scan file, loaded as the device does
    python -m convert.memprofile --synth photo12      # a synthesized 12 MP photo (fold 10's first record)

Each stage is wrapped (the functions are replaced in their modules for this process only); on
entering a stage the peak mark is read into every open stage and reset, so each stage's peak is
its own and nested stages fold into their parents. What the process holds before the page (Python,
numpy, OpenCV, the interpreters) is printed as `baseline`."""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

from edge.memory import status_mb

_STACK: list[list] = []  # open stages: [name, peak MB, t0]
_ROWS: list[tuple] = []  # depth, name, peak MB, RSS after, seconds, numpy live after (--traced)


def _reset() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _hwm() -> float:
    return status_mb("VmHWM") or 0.0


_PEAK = [0.0]  # the whole run's peak
_TRIM = os.environ.get("MEMPROFILE_TRIM") == "1"  # malloc_trim before every stage (experiment)


def _fold() -> None:
    h = _hwm()
    _PEAK[0] = max(_PEAK[0], h)
    for s in _STACK:
        s[1] = max(s[1], h)


def stage(name: str, fn):
    """`fn` wrapped so that its calls are measured as stage `name`."""

    @functools.wraps(fn)
    def wrapped(*a, **kw):
        if _TRIM:
            from edge.memory import trim_malloc

            trim_malloc()
        _fold()
        _reset()
        _STACK.append([name, 0.0, time.perf_counter()])
        row = len(_ROWS)
        _ROWS.append((len(_STACK) - 1, name, 0.0, 0.0, 0.0))
        try:
            return fn(*a, **kw)
        finally:
            _fold()
            n, peak, t0 = _STACK.pop()
            live = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else 0.0
            _ROWS[row] = (
                len(_STACK),
                n,
                peak,
                status_mb("VmRSS") or 0.0,
                time.perf_counter() - t0,
                live,
            )
            _reset()

    return wrapped


# (module, attribute): the stages measured, as the modules that call them look them up.
STAGES = [
    ("edge.digitize.pipeline", "check_not_blank"),
    ("edge.digitize.pipeline", "rectify_page"),
    ("edge.digitize.page", "_shrunk"),
    ("edge.digitize.page", "find_page_quad"),
    ("edge.digitize.page", "_warp_from_grid_lines"),
    ("edge.digitize.page", "_measure_grid_for"),
    ("edge.digitize.page", "find_grid_lines"),
    ("edge.digitize.gridlines", "find_grid_lines_at"),
    ("edge.digitize.gridlines", "_segments"),
    ("edge.digitize.gridlines", "_vanishing_point"),
    ("edge.digitize.page", "grid_region"),
    ("edge.digitize.page", "_warp"),
    ("edge.digitize.pipeline", "sharpness"),
    ("edge.digitize.pipeline", "unsharp"),
    ("edge.digitize.readings", "_run"),
    ("edge.digitize.pipeline", "upright_rows"),
    ("edge.digitize.pipeline", "page_rows"),
    ("edge.digitize.pipeline", "read_leads"),
    ("edge.digitize.pipeline", "_printed_scale"),
    ("edge.digitize.pipeline", "sample_rows"),
    ("edge.digitize.pipeline", "draw_overlay"),
    ("edge.digitize.maps", "ink_darkness"),
    ("edge.digitize.maps", "suppress_grid_lines"),
    ("edge.digitize.maps", "grid_darkness"),
    ("edge.digitize.traceprob", "classical_from_ink"),
    ("edge.digitize.pipeline", "find_rows"),
    ("edge.digitize.pipeline", "follow_rows"),
]


def install() -> None:
    """Wrap every stage in STAGES, and the segmenter's map."""
    for mod, attr in STAGES:
        m = importlib.import_module(mod)
        setattr(m, attr, stage(attr, getattr(m, attr)))
    pipeline = importlib.import_module("edge.digitize.pipeline")
    orig = pipeline.learned_or_none

    def learned_or_none():
        fn = orig()
        return None if fn is None else stage("segmenter", fn)

    pipeline.learned_or_none = learned_or_none


def _synth_page(family: str, record: int, fold: int = 10, data: str = "../shared/data/ptbxl500"):
    """A synthesized page of `family` ("photo12": a 4000 x 3000 photo) for the `record`-th
    record of `fold`, rendered in a child process so that the renderer's memory is not
    counted here."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_render, (family, record, fold, data))


def _render(family: str, record: int, fold: int, data: str):
    from convert.evaluate_digitizer import load_fold_records, render_for_family

    *_, (eid, sig, fs) = load_fold_records(data, [fold], record + 1)
    size = (4000, 3000) if family == "photo12" else None
    fam = "photo" if family == "photo12" else family
    return render_for_family(sig, fs, fam, eid, photo_size=size).image


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", help="photo or scan file")
    ap.add_argument(
        "--synth", help="instead: a synthesized page of this family (clean, scan, photo, photo12)"
    )
    ap.add_argument("--record", type=int, default=0, help="with --synth: the fold's n-th record")
    ap.add_argument("--fold", type=int, default=10, help="with --synth: the PTB-XL fold")
    ap.add_argument("--data", default="../shared/data/ptbxl500", help="PTB-XL subset directory")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--traced", action="store_true", help="also the live numpy memory after each stage (slower)"
    )
    args = ap.parse_args(argv)
    from edge.digitize import digitize
    from edge.digitize.traceprob import learned_or_none
    from edge.imageio import load_image
    from edge.memory import limit_malloc_arenas, trim_malloc

    limit_malloc_arenas()
    learned_or_none()  # the interpreter is part of the baseline, as on the device
    install()
    img = _synth_page(args.synth, args.record, args.fold, args.data) if args.synth else None
    trim_malloc()
    base = status_mb("VmRSS") or 0.0
    if args.traced:
        tracemalloc.start()
    _reset()
    t = time.perf_counter()
    load = stage("load_image", load_image)
    if img is None:
        img = load(Path(args.image))
    img_shape = img.shape
    res = digitize(img)
    total = time.perf_counter() - t
    _fold()
    peak = _PEAK[0]
    if args.json:
        print(json.dumps({"baseline": base, "peak": peak, "seconds": total, "stages": _ROWS}))
        return 0
    print(f"baseline {base:.0f} MB  peak {peak:.0f} MB  {total:.2f} s  {res.details.get('reread')}")
    print(f"page {res.rectified.shape[1]} x {res.rectified.shape[0]} px, source {img_shape}")
    print(f"{'stage':<34}{'peak MB':>9}{'RSS after':>10}{'s':>7}{'live after':>11}")
    for depth, name, pk, after, sec, live in _ROWS:
        print(f"{'  ' * depth + name:<34}{pk:>9.0f}{after:>10.0f}{sec:>7.2f}{live:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
