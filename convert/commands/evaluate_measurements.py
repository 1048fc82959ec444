"""`ecg-convert evaluate-measurements --data DIR`: agreement of interval/rhythm measurements and
statements with PTB-XL's annotations (scp_codes rhythm/form codes, heart_axis) on fold 10."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default="../shared/data/ptbxl500", help="PTB-XL directory (default %(default)s)"
    )
    parser.add_argument(
        "--folds", default="10", help="comma-separated folds (default 10; '1-10' for all)"
    )
    parser.add_argument(
        "--digitized",
        default=None,
        help="also compare with records digitized from synthesized photos (DIR/<ecg_id>.hea or DIR/photo/)",
    )
    parser.add_argument("--json", default=None, help="also write the report to this JSON file")


def _folds(s: str) -> tuple[int, ...]:
    if "-" in s:
        a, b = s.split("-")
        return tuple(range(int(a), int(b) + 1))
    return tuple(int(x) for x in s.split(","))


def _pct(x: float) -> str:
    return "  -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:4.0f}%"


def run(args: argparse.Namespace) -> int:
    from convert.classifier.data import check_data, digitized_records_dir
    from convert.classifier.measurement_eval import agreement, consistency, measure_records
    from edge.errors import EcgEdgeError

    try:
        check_data(args.data)
        folds = _folds(args.folds)
    except EcgEdgeError as exc:
        print(f"ecg-convert evaluate-measurements: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError:
        print(
            f"ecg-convert evaluate-measurements: bad --folds {args.folds!r}: use e.g. 10, 9,10 or 1-10",
            file=sys.stderr,
        )
        return 2
    dig = digitized_records_dir(args.digitized)
    rows = measure_records(args.data, folds, dig)
    report = {"folds": list(folds), "n_records": len(rows)}
    print(f"PTB-XL folds {','.join(map(str, folds))}: {len(rows)} records")
    views = ["full", "3x4+1"]
    dig_rows = [r for r in rows if "digitized" in r]
    for view in views + (["digitized"] if dig_rows else []):
        ag = agreement(rows if view != "digitized" else dig_rows, view)
        report[view] = ag
        if view == "digitized":
            print(f"\n{len(dig_rows)} of {len(rows)} records found digitized in {dig}")
        print(f"\n[{view} signals] statement vs PTB-XL annotation: n_pos  sens  spec   (tp/fp/fn)")
        for k, v in ag.items():
            if isinstance(v, dict) and "sensitivity" in v:
                print(
                    f"  {k:32s} {v['n_pos']:4d}  {_pct(v['sensitivity'])} {_pct(v['specificity'])}  "
                    f"({v['tp']}/{v['fp']}/{v['fn']})"
                )
        print(
            "  measured axis by PTB-XL heart_axis: "
            + "; ".join(
                f"{k} n={v['n']} median {v['median_deg']:.0f} deg"
                for k, v in ag["axis_by_ptbxl_category"].items()
            )
        )
        n_view = len(dig_rows) if view == "digitized" else len(rows)
        print("  measurable: " + ", ".join(f"{k} {v}/{n_view}" for k, v in ag["measured"].items()))
    for other in ["3x4+1"] + (["digitized"] if dig_rows else []):
        cons = consistency(rows, other)
        report[f"full_vs_{other}"] = cons
        print(
            f"\nfull original vs {other}, median |difference| (90th pct); lost = measurable only on the original:"
        )
        for k, v in cons.items():
            if v["n"]:
                print(
                    f"  {k:16s} n={v['n']:3d}  {v['median_abs_diff']:.1f}  ({v['p90_abs_diff']:.1f})  lost {v['lost']}"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0
