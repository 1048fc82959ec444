"""`ecg-convert evaluate-digitizer`: render fold pages (clean / scan / photo), digitize, print the
Challenge 2024 SNR per family and per lead, median seconds per image, peak RSS, and a 12 MP photo
timing in a fresh process (the device target: <= 1.5 s, <= 300 MB)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="../shared/data/ptbxl500", help="PTB-XL subset directory")
    parser.add_argument(
        "--folds", default="10", help="comma-separated strat_fold numbers (default 10)"
    )
    parser.add_argument(
        "--families", default="clean,scan,photo", help="comma-separated: clean,scan,photo"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N records")
    parser.add_argument(
        "--trace-model", default="auto", choices=["auto", "classical", "learned", "fused"]
    )
    parser.add_argument(
        "--save-dir",
        default=None,
        help="keep digitized records: DIR/<family>/<ecg_id>.hea/.dat/.json",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--timing-reps", type=int, default=5, help="12 MP photo timing repetitions (0: skip)"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-page lines")


def run(args: argparse.Namespace) -> int:
    from convert.evaluate_digitizer import (
        FAMILIES,
        evaluate,
        load_fold_records,
        photo_timing,
        summarize,
    )
    from edge.memory import max_rss_mb

    data = Path(args.data)
    if not (data / "ptbxl_database.csv").exists():
        print(
            f"ecg-convert evaluate-digitizer: no PTB-XL data at {data}: give --data DIR "
            "(the ptbxl500 directory with ptbxl_database.csv)",
            file=sys.stderr,
        )
        return 2
    try:
        folds = [int(f) for f in args.folds.split(",") if f.strip()]
    except ValueError:
        print(
            f"ecg-convert evaluate-digitizer: bad --folds {args.folds!r}: use e.g. 10 or 9,10",
            file=sys.stderr,
        )
        return 2
    fams = [f.strip() for f in args.families.split(",") if f.strip()]
    bad = [f for f in fams if f not in FAMILIES]
    if bad:
        print(
            f"ecg-convert evaluate-digitizer: unknown family {bad[0]!r}: choose from {', '.join(FAMILIES)}",
            file=sys.stderr,
        )
        return 2

    def progress(r):
        if not args.quiet:
            extra = f"  [{r.error}]" if r.error else ""
            print(
                f"  {r.family:<6} {r.ecg_id:>6}  {r.snr_db:6.2f} dB  {r.seconds:5.2f} s  "
                f"layout {r.layout_found or '-'}{extra}",
                flush=True,
            )

    results = evaluate(
        str(data),
        folds,
        fams,
        limit=args.limit,
        trace_model=args.trace_model,
        save_dir=args.save_dir,
        jobs=args.jobs,
        progress=progress,
    )
    if not results:
        print("ecg-convert evaluate-digitizer: no records in the chosen folds", file=sys.stderr)
        return 2
    print()
    print(
        f"Digitizer benchmark: folds {args.folds}, {len({r.ecg_id for r in results})} records, "
        f"trace model {args.trace_model}"
    )
    print(summarize(results, fams))
    print(f"\npeak RSS of this benchmark process: {max_rss_mb():.0f} MB")
    if args.timing_reps > 0:
        eid, sig, fs = next(iter(load_fold_records(str(data), folds, 1)))
        t = photo_timing(sig, fs, eid, reps=args.timing_reps, trace_model=args.trace_model)
        if "error" in t and "median_s" not in t:
            print(f"12 MP photo timing failed: {t['error']}")
        else:
            print(
                f"12 MP photo ({t['image_size'][0]}x{t['image_size'][1]} JPEG, load + digitize, fresh process): "
                f"median {t['median_s']:.2f} s over {len(t['times'])} runs, peak RSS {t['peak_rss_mb']:.0f} MB"
                + (f"  [error: {t['error']}]" if t.get("error") else "")
            )
    return 0
