"""Print rendering throughput (pages/s) for clean, scan and photo pages on this machine:
`python -m convert.synth.bench [--n N] [--threads T]`."""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from .ecg import synthetic_ecg
from .render import render_page


def _rate(fn, n: int) -> tuple[float, float]:
    fn(0)  # warm-up: first page builds the cached grid
    t = time.perf_counter()
    for i in range(1, n + 1):
        fn(i)
    dt = time.perf_counter() - t
    return n / dt, dt / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m convert.synth.bench", description=__doc__)
    ap.add_argument("--n", type=int, default=20, help="pages per case (photos: n/4)")
    ap.add_argument("--threads", type=int, default=0, help="OpenCV threads (0 = OpenCV default)")
    args = ap.parse_args(argv)
    if args.threads:
        cv2.setNumThreads(args.threads)
    sigs = [synthetic_ecg(seed=s) for s in range(8)]
    cases = [
        ("clean 3x4+1 200 DPI red", args.n, lambda i: render_page(sigs[i % 8], 500.0, seed=i)),
        (
            "clean 200 DPI, style varies",
            args.n,
            lambda i: render_page(sigs[i % 8], 500.0, seed=i, randomize=True, dpi=200),
        ),
        (
            "scan, random style",
            max(2, args.n // 2),
            lambda i: render_page(sigs[i % 8], 500.0, seed=i, mode="scan", randomize=True),
        ),
        (
            "photo 8 MP (3264x2448)",
            max(2, args.n // 4),
            lambda i: render_page(sigs[i % 8], 500.0, seed=i, mode="photo", randomize=True),
        ),
        (
            "photo 12 MP (4000x3000)",
            max(2, args.n // 4),
            lambda i: render_page(
                sigs[i % 8], 500.0, seed=i, mode="photo", randomize=True, photo_size=(4000, 3000)
            ),
        ),
    ]
    print(f"cv2 threads {cv2.getNumThreads()}, numpy {np.__version__}")
    for name, n, fn in cases:
        rate, per = _rate(fn, n)
        print(f"{name:32s} {rate:7.2f} pages/s  ({per * 1000:7.1f} ms/page, n={n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
