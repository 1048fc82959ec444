"""Benchmark whole-page segmentation with the installed int8 segmenter: prints page size, tiles,
median/min latency over repeated runs and resident memory, e.g.
`python -m convert.segmenter.bench [--threads 2] [--runs 10] [--models-dir models]`."""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m convert.segmenter.bench", description=__doc__)
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--page", default="a4", choices=["a4", "letter"])
    ap.add_argument(
        "--name",
        default=None,
        help="manifest name (default: segmenter, else segmenter_experimental)",
    )
    args = ap.parse_args(argv)

    from convert.segmenter.data import rectify, work_px_per_mm
    from convert.synth import render_page, synthetic_ecg
    from edge.digitize.traceprob_tflite import make_tflite_trace_probability, tile_starts
    from edge.errors import ModelError
    from edge.models import load_model

    try:
        import psutil

        proc = psutil.Process()
    except ImportError:
        proc = None
    from edge.models import read_manifest

    try:
        names = [e.name for e in read_manifest(args.models_dir)]
        name = args.name or next(
            (n for n in ("segmenter", "segmenter_experimental") if n in names), "segmenter"
        )
        model = load_model(name, args.models_dir, num_threads=args.threads)
    except ModelError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    px = work_px_per_mm()
    page = render_page(synthetic_ecg(seed=7), 500, mode="clean", seed=7, page=args.page)
    img, _ = rectify(page.image, page.mask, page.meta, px)
    fn = make_tflite_trace_probability(model)
    rss0 = proc.memory_info().rss if proc else 0
    fn(img)  # warm-up (XNNPACK packs weights)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        fn(img)
        times.append(time.perf_counter() - t)
    rss1 = proc.memory_info().rss if proc else 0
    th, tw = model.input_shape[1:3]
    m = max(8, min(th, tw) // 16)
    n_tiles = len(tile_starts(img.shape[0], th, m)) * len(tile_starts(img.shape[1], tw, m))
    print(
        f"segmenter: {model.path.name} ({model.path.stat().st_size / 1024:.0f} KiB, int8={model.is_quantized}), "
        f"{args.threads} threads"
    )
    print(
        f"page: {args.page} at {px:.1f} px/mm = {img.shape[1]}x{img.shape[0]} px, {n_tiles} tiles of {tw}x{th}"
    )
    print(
        f"whole-page segmentation: median {1000 * statistics.median(times):.0f} ms, "
        f"min {1000 * min(times):.0f} ms over {args.runs} runs"
    )
    if proc:
        print(
            f"resident memory: {rss1 / 2**20:.0f} MiB (+{(rss1 - rss0) / 2**20:.0f} MiB while segmenting)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
