"""`ecg-convert evaluate-digitizer`: digitize benchmark pages and print the Challenge 2024 SNR per
family and per lead, pages below 3 dB, failures, median and max seconds per image and peak RSS.

Families: clean / scan / photo (the project's synthesizer), kit-clean / kit-distorted
(ecg-image-kit through ../shared/tools/kit-render, cached under --kit-cache) and real (the real
phone photos of ../shared/data/ecg-paper-dev, all of them, one line each). A family whose data or
tool is absent is skipped with the reason. A 12 MP synthesized photo is also timed in a fresh
process (the device target)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "ecg-convert evaluate-digitizer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from convert.evaluate_digitizer import FAMILIES
    from convert.kit_pages import DEFAULT_KIT_CACHE, DEFAULT_KIT_RENDER

    parser.add_argument("--data", default="../shared/data/ptbxl500", help="PTB-XL subset directory")
    parser.add_argument(
        "--folds", default="10", help="comma-separated strat_fold numbers (default 10)"
    )
    parser.add_argument(
        "--families",
        default="clean,scan,photo",
        help=f"comma-separated, from: {','.join(FAMILIES)} (default clean,scan,photo)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N records per family")
    parser.add_argument(
        "--trace-model", default="auto", choices=["auto", "classical", "learned", "fused"]
    )
    parser.add_argument(
        "--save-dir",
        default=None,
        help="keep digitized records: DIR/<family>/<ecg_id or photo>.hea/.dat/.json",
    )
    parser.add_argument(
        "--overlays",
        action="store_true",
        help="with --save-dir, also write <page>.overlay.png (the traces over the page)",
    )
    parser.add_argument(
        "--kit-render",
        default=DEFAULT_KIT_RENDER,
        help=f"the ecg-image-kit wrapper for the kit families (default {DEFAULT_KIT_RENDER})",
    )
    parser.add_argument(
        "--kit-cache",
        default=DEFAULT_KIT_CACHE,
        help=f"rendered kit pages are kept here and reused (default {DEFAULT_KIT_CACHE})",
    )
    parser.add_argument(
        "--real",
        default="../shared/data/ecg-paper-dev",
        help="folder of real photos with photos.csv, images/, signals/ (family real)",
    )
    parser.add_argument("--json", default=None, help="write every page's result to this JSON file")
    parser.add_argument("--csv", default=None, help="write one line per page to this CSV file")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--timing-reps", type=int, default=5, help="12 MP photo timing repetitions (0: skip)"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-page lines")


def _seed_rule(family: str) -> str:
    """How a family's page seeds follow from the record (convert.evaluate_digitizer.family_seed)."""
    from convert.evaluate_digitizer import FAMILY_INDEX

    return f"-se <ecg_id*10+{FAMILY_INDEX[family]}>"


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from convert.evaluate_digitizer import (
        KIT_FAMILIES,
        evaluate,
        parse_families,
        write_results,
    )
    from convert.kit_pages import family_options

    try:
        fams = parse_families(args.families)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        folds = [int(f) for f in args.folds.split(",") if f.strip()]
    except ValueError:
        return _fail(f"bad --folds {args.folds!r}: use e.g. 10 or 9,10")
    if args.jobs < 1:
        return _fail(f"bad --jobs {args.jobs}: give 1 or more")

    def progress(r):
        if not args.quiet:
            extra = f"  [{r.error}]" if r.error else ""
            who = r.name or str(r.ecg_id)
            print(
                f"  {r.family:<13} {who:>16}  {r.snr_db:6.2f} dB  {r.seconds:5.2f} s  "
                f"{r.peak_rss_mb:5.0f} MB  layout {r.layout_found or '-'}{extra}",
                flush=True,
            )

    skipped: dict[str, str] = {}
    for fam in fams:
        if fam in KIT_FAMILIES:
            print(f"{fam}: kit-render {' '.join(family_options(fam))} {_seed_rule(fam)}")
    results = evaluate(
        args.data,
        folds,
        fams,
        limit=args.limit,
        trace_model=args.trace_model,
        save_dir=args.save_dir,
        overlays=args.overlays,
        jobs=args.jobs,
        progress=progress,
        kit_render=args.kit_render,
        kit_cache=args.kit_cache,
        real_dir=args.real,
        skipped=skipped,
    )
    for fam, why in skipped.items():
        print(f"{PROG}: family {fam} skipped: {why}", file=sys.stderr)
    if not results:
        if skipped:
            return _fail("no family could run (see the reasons above)")
        return _fail("no records in the chosen folds")
    write_results(results, args.json, args.csv)
    _report(args, results, [f for f in fams if f not in skipped], folds)
    return 0


def _report(args: argparse.Namespace, results: list, ran: list[str], folds: list[int]) -> None:
    """The closing report: the family table, kit options, per-photo lines, 12 MP timing."""
    from convert.evaluate_digitizer import (
        KIT_FAMILIES,
        REAL_FAMILY,
        SYNTH_FAMILIES,
        load_fold_records,
        photo_timing,
        real_photo_lines,
        real_verdict_lines,
        summarize,
    )
    from convert.kit_pages import family_options

    print()
    fold_fams = [f for f in ran if f != REAL_FAMILY]
    records = len({r.ecg_id for r in results if r.family != REAL_FAMILY})
    where = f"folds {args.folds}, {records} records" if fold_fams else ""
    if REAL_FAMILY in ran:
        n_real = sum(1 for r in results if r.family == REAL_FAMILY)
        where += ("; " if where else "") + f"{n_real} real photos from {args.real}"
    print(f"Digitizer benchmark: {where}, trace model {args.trace_model}")
    print(
        "seconds: digitize (synthesized pages) or load + digitize (image files); peak RSS: the "
        "highest of any page's load + digitize in a fresh worker process"
    )
    print(summarize(results, ran))
    for fam in ran:
        if fam in KIT_FAMILIES:
            print(f"\n{fam} pages: kit-render {' '.join(family_options(fam))} {_seed_rule(fam)}")
    if REAL_FAMILY in ran:
        print("\nreal photos:")
        print(real_photo_lines(results))
        print(real_verdict_lines(results))
    if args.timing_reps > 0 and any(f in SYNTH_FAMILIES for f in ran):
        eid, sig, fs = next(iter(load_fold_records(str(Path(args.data)), folds, 1)))
        t = photo_timing(sig, fs, eid, reps=args.timing_reps, trace_model=args.trace_model)
        if "error" in t and "median_s" not in t:
            print(f"12 MP photo timing failed: {t['error']}")
        else:
            print(
                f"12 MP photo ({t['image_size'][0]}x{t['image_size'][1]} JPEG, load + digitize, "
                f"fresh process): median {t['median_s']:.2f} s over {len(t['times'])} runs, "
                f"peak RSS {t['peak_rss_mb']:.0f} MB"
                + (f"  [error: {t['error']}]" if t.get("error") else "")
            )
