"""`ecg-convert render RECORD --layout 3x4+1 --out page.png [--photo|--scan] [--seed N]`: draw a WFDB
record (or `synthetic[:SEED]`) as a printout page, scan or photo, with its ground truth beside it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge.errors import BadInputError, EcgEdgeError
from edge.layouts import LAYOUTS, LEAD_NAMES

PROG = "ecg-convert render"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from convert.synth.style import GRID_STYLES, PAGE_SIZES_MM, TRACE_COLOURS

    parser.add_argument(
        "record",
        metavar="RECORD",
        help="WFDB record path without extension (e.g. ../shared/data/ptbxl500/records500/00000/00001_hr)"
        ", or synthetic[:SEED[:KIND]] for a generated ECG (KIND: normal, af, pvc, rbbb, lbbb, "
        "st_elevation, t_inversion, random)",
    )
    parser.add_argument(
        "--layout", default="3x4+1", help=f"page layout: {', '.join(LAYOUTS)} (default 3x4+1)"
    )
    parser.add_argument(
        "--out", default="page.png", help="output image (.png or .jpg); truth files share its stem"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--photo", action="store_true", help="make it a phone/camera photo of the page"
    )
    mode.add_argument(
        "--scan", action="store_true", help="make it a flatbed scan of a handled page"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for every random choice (default 0)"
    )
    parser.add_argument(
        "--random-style",
        action="store_true",
        help="draw grid, paper, speed, gain, DPI, fonts... from the seed (options below still win)",
    )
    parser.add_argument(
        "--dpi", type=float, help="flat page resolution, 100-300 typical (default 200)"
    )
    parser.add_argument(
        "--speed", type=float, choices=[25.0, 50.0], help="paper speed mm/s (default 25)"
    )
    parser.add_argument(
        "--gain", type=float, choices=[5.0, 10.0, 20.0], help="gain mm/mV (default 10)"
    )
    parser.add_argument("--grid", choices=list(GRID_STYLES), help="grid style (default red)")
    parser.add_argument("--dotted", action="store_true", help="dotted minor grid")
    parser.add_argument("--page", choices=list(PAGE_SIZES_MM), help="paper size (default a4)")
    parser.add_argument(
        "--trace-colour", choices=list(TRACE_COLOURS), help="trace ink colour (default black)"
    )
    parser.add_argument(
        "--trace-width", type=float, metavar="MM", help="trace width in mm (default 0.3)"
    )
    parser.add_argument(
        "--photo-size",
        default=None,
        metavar="WxH",
        help="camera frame for --photo, e.g. 4000x3000 (default 3264x2448)",
    )
    parser.add_argument(
        "--set",
        dest="style_set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any page style field (see convert.synth.PageStyle), e.g. --set grid_extent=page "
        "--set label_position=below; repeatable",
    )
    parser.add_argument(
        "--distort",
        dest="distort_set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="pin a scan/photo parameter, e.g. --distort tilt_deg=35 --distort glare=[]; repeatable",
    )
    parser.add_argument(
        "--from-meta",
        metavar="PAGE.json",
        help="re-make the page recorded in PAGE.json (style and every distortion) for RECORD",
    )
    parser.add_argument(
        "--jpeg-quality", type=int, default=92, help="quality when --out ends in .jpg"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="length of a synthetic ECG (default 10)"
    )
    parser.add_argument(
        "--fs", type=float, default=500.0, help="sampling rate of a synthetic ECG (default 500)"
    )


def load_signals(
    spec: str, seconds: float = 10.0, fs: float = 500.0
) -> tuple[np.ndarray, float, str]:
    """(signals (n, 12) mV in LEAD_NAMES order, fs, description) for a record path or synthetic[:SEED]."""
    if spec == "synthetic" or spec.startswith("synthetic:"):
        from convert.synth import synthetic_ecg
        from convert.synth.ecg import KINDS

        parts = spec.split(":")
        seed_text = parts[1] if len(parts) > 1 and parts[1] else "0"
        kind = parts[2] if len(parts) > 2 else "normal"
        try:
            seed = int(seed_text)
        except ValueError:
            raise BadInputError(
                "bad_synthetic_seed",
                f"synthetic seed {seed_text!r} is not an integer",
                "write synthetic:SEED[:KIND], e.g. synthetic:7 or synthetic:7:af",
            ) from None
        if kind not in (*KINDS, "random") or len(parts) > 3:
            raise BadInputError(
                "bad_synthetic_kind",
                f"unknown synthetic ECG kind {kind!r}",
                f"choose one of {', '.join(KINDS)}, random",
            )
        return (
            synthetic_ecg(seconds=seconds, fs=fs, seed=seed, kind=kind),
            fs,
            f"synthetic ECG ({kind}), seed {seed}",
        )
    from edge.wfdb_io import read_record

    rec = read_record(spec)
    out = np.full((rec.signals.shape[0], 12), np.nan)
    found = 0
    for i, name in enumerate(rec.lead_names):
        if name in LEAD_NAMES:
            out[:, LEAD_NAMES.index(name)] = rec.signals[:, i]
            found += 1
    if found == 0:
        raise BadInputError(
            "no_ecg_leads",
            f"record {spec} has no standard ECG leads ({', '.join(rec.lead_names)})",
            f"leads must be named {', '.join(LEAD_NAMES)}",
        )
    return out, rec.fs, f"record {Path(spec).name}"


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInputError(
            "bad_photo_size", f"photo size {text!r} is not WxH", "write e.g. 4000x3000"
        ) from None
    if not (320 <= w <= 12000 and 240 <= h <= 12000):
        raise BadInputError(
            "bad_photo_size", f"photo size {text} out of range", "use 320x240 to 12000x12000"
        )
    return w, h


def _parse_sets(items: list[str], what: str) -> dict:
    """FIELD=VALUE pairs; VALUE is JSON (numbers, true/false, lists) or else a plain string."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(
                "bad_option", f"{what} {item!r} is not FIELD=VALUE", "e.g. --set grid=green"
            )
        try:
            out[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            out[key.strip()] = text
    return out


def _load_meta(path: str) -> dict:
    try:
        meta = json.loads(Path(path).read_text())
        missing = {"layout", "style", "mode"} - set(meta)
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise BadInputError(
            "bad_meta",
            f"cannot use page meta {path}: {exc}",
            "give the .json written beside a rendered page",
        ) from None
    return meta


def run(args: argparse.Namespace) -> int:
    from convert.synth import remake_page, render_page, save_page

    try:
        if args.layout not in LAYOUTS:
            raise BadInputError(
                "unknown_layout",
                f"unknown layout {args.layout!r}",
                f"choose one of {', '.join(LAYOUTS)}",
            )
        out = Path(args.out)
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise BadInputError(
                "bad_output", f"output {out} must end in .png or .jpg", "e.g. --out page.png"
            )
        size = _parse_size(args.photo_size)
        signals, fs, what = load_signals(args.record, args.seconds, args.fs)
        overrides = {
            k: v
            for k, v in {
                "dpi": args.dpi,
                "speed_mm_s": args.speed,
                "gain_mm_mv": args.gain,
                "grid": args.grid,
                "page": args.page,
                "trace_colour": args.trace_colour,
                "trace_width_mm": args.trace_width,
            }.items()
            if v is not None
        }
        if args.dotted:
            overrides["dotted_minor"] = True
        if args.trace_colour:
            overrides["trace_bgr"] = None
        overrides.update(_parse_sets(args.style_set, "--set"))
        distortion = _parse_sets(args.distort_set, "--distort")
        mode = "photo" if args.photo else "scan" if args.scan else "clean"
        t0 = time.perf_counter()
        try:
            if args.from_meta:
                meta = _load_meta(args.from_meta)
                page = remake_page(signals, fs, meta)
                mode = page.meta["mode"]
            else:
                page = render_page(
                    signals,
                    fs,
                    layout=args.layout,
                    mode=mode,
                    seed=args.seed,
                    randomize=args.random_style,
                    photo_size=size,
                    distortion=distortion or None,
                    **overrides,
                )
        except (ValueError, TypeError) as exc:
            raise BadInputError(
                "bad_render_option", str(exc), "see ecg-convert render --help"
            ) from None
        paths = save_page(page, out, jpeg_quality=args.jpeg_quality)
    except EcgEdgeError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(
            f"{PROG}: cannot write {args.out}: {exc.strerror or exc}: check the folder exists and is writable",
            file=sys.stderr,
        )
        return 2
    w, h = page.meta["image_size"]
    print(
        f"{paths['image']}: {what}, layout {page.meta['layout']}, {mode}, {w}x{h} px, "
        f"{page.meta['px_per_mm']:.3f} px/mm, {page.meta['speed_mm_s']:g} mm/s, {page.meta['gain_mm_mv']:g} mm/mV, "
        f"seed {args.seed} ({time.perf_counter() - t0:.2f} s); truth {paths['header'].with_suffix('')}.hea/.dat, "
        f"{paths['meta'].name}, {paths['mask'].name}"
    )
    return 0
