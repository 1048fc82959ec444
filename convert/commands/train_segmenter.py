"""`ecg-convert train-segmenter`: train the trace-segmentation U-Net on synthesized pages from
PTB-XL folds 1-8 (validated on fold 9), resumable; exports ONNX + calibration tiles, and with
`--ship` quantizes to int8 and installs it as the `segmenter` model with a manifest entry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="../shared/data/ptbxl500",
        help="PTB-XL directory (ptbxl_database.csv), or a signal pack .npz made with --pack",
    )
    parser.add_argument(
        "--pack",
        default=None,
        metavar="OUT.npz",
        help="only write folds 1-9 of --data as one signal pack (for a machine without the WFDB files)",
    )
    parser.add_argument(
        "--out", default="runs/seg", help="run directory (cache, checkpoints, exports)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=15,
        help="epochs of --steps-per-epoch steps (validation after each)",
    )
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    parser.add_argument(
        "--pages", type=int, default=240, help="training pages to render (folds 1-8)"
    )
    parser.add_argument("--val-pages", type=int, default=24, help="validation pages (fold 9)")
    parser.add_argument(
        "--kit-pages",
        type=int,
        default=0,
        help="also train on N ecg-image-kit pages of folds 1-8 (randomized kit options)",
    )
    parser.add_argument(
        "--kit-val-pages", type=int, default=0, help="ecg-image-kit validation pages (fold 9)"
    )
    parser.add_argument(
        "--kit-render",
        default="../shared/tools/kit-render",
        help="the ecg-image-kit wrapper (for --kit-pages)",
    )
    parser.add_argument(
        "--kit-cache", default="", help="kit page cache (default <out>/cache/kit; reused)"
    )
    parser.add_argument(
        "--kit-refresh",
        action="store_true",
        help="train on the kit pages already cached and take up those another process adds",
    )
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads (2 on the shared workstation)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes rendering pages and preparing batches (0: none; use the spare cores on a GPU box)",
    )
    parser.add_argument(
        "--minutes", type=float, default=40.0, help="stop and save after this many minutes"
    )
    parser.add_argument("--tile", type=int, default=256, help="exported tile size")
    parser.add_argument(
        "--px-per-mm", type=float, default=0.0, help="working resolution (default: the digitizer's)"
    )
    parser.add_argument("--modes", default="clean,scan,photo", help="synthesizer modes to train on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dilate",
        type=int,
        default=0,
        help="grow target masks by N px (0: as rendered; 1 trained softer maps that read "
        "fold-9 photos 0.5 dB worse)",
    )
    parser.add_argument(
        "--widths",
        default="8,16,24,32,48",
        help="channels at full, 1/2, 1/4, 1/8 and 1/16 resolution (the deep ones cost little)",
    )
    parser.add_argument(
        "--init",
        default="",
        help="warm-start weights from this checkpoint, or from a shipped int8 segmenter .tflite "
        "(fine-tuning)",
    )
    parser.add_argument(
        "--ship",
        default=None,
        metavar="MODELS_DIR",
        help="after training: quantize to int8 and install as 'segmenter' in MODELS_DIR (e.g. models)",
    )


def _widths(text: str) -> tuple[int, ...]:
    """'8,16,24,32,48' -> the five U-Net widths; a wrong count is a usage error."""
    w = tuple(int(v) for v in text.split(",") if v.strip())
    if len(w) != 5 or min(w) < 1:
        raise SystemExit(
            f"ecg-convert train-segmenter: --widths needs five positive numbers, got {text!r}"
        )
    return w


def run(args: argparse.Namespace) -> int:
    from convert.segmenter.data import is_signal_pack
    from edge.errors import EcgEdgeError

    data = Path(args.data)
    if not is_signal_pack(data) and not (data / "ptbxl_database.csv").is_file():
        print(
            f"ecg-convert train-segmenter: no PTB-XL data at {data}: pass --data DIR "
            f"(a directory with ptbxl_database.csv and records500/, or a signal pack .npz)",
            file=sys.stderr,
        )
        return 2
    if args.pack:
        from convert.segmenter.data import pack_records

        out = pack_records(data, tuple(range(1, 10)), args.pack)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, folds 1-9)")
        return 0
    from convert.segmenter.train import (
        TrainConfig,
        calibration_tiles,
        export_onnx,
        load_checkpoint,
        train,
    )

    cfg = TrainConfig(
        data=str(data),
        out=args.out,
        train_pages=args.pages,
        val_pages=args.val_pages,
        steps=args.epochs * args.steps_per_epoch,
        val_every=args.steps_per_epoch,
        batch=args.batch,
        crop=args.crop,
        lr=args.lr,
        threads=args.threads,
        minutes=args.minutes,
        tile=args.tile,
        px_per_mm=args.px_per_mm,
        modes=tuple(m.strip() for m in args.modes.split(",") if m.strip()),
        seed=args.seed,
        target_dilate=args.dilate,
        init=args.init,
        device=args.device,
        workers=args.workers,
        widths=_widths(args.widths),
        kit_pages=args.kit_pages,
        kit_val_pages=args.kit_val_pages,
        kit_render=args.kit_render,
        kit_cache=args.kit_cache,
        kit_refresh=args.kit_refresh,
    )
    if (args.kit_pages or args.kit_val_pages) and not Path(args.kit_render).is_file():
        print(
            f"ecg-convert train-segmenter: no ecg-image-kit wrapper at {args.kit_render}: pass "
            "--kit-render PATH (../shared/tools/kit-render) or drop --kit-pages",
            file=sys.stderr,
        )
        return 2
    best = train(cfg, resume=args.resume, log=lambda s: print(s, flush=True))
    model, ck = load_checkpoint(best)
    onnx_path = export_onnx(model, Path(args.out) / "segmenter.onnx", tile=args.tile)
    import numpy as np

    calib = calibration_tiles(Path(args.out) / "cache" / "train", tile=args.tile)
    np.save(Path(args.out) / "calib.npy", calib)
    print(
        f"exported {onnx_path} and {Path(args.out) / 'calib.npy'} ({len(calib)} tiles); best step "
        f"{ck['step']}, val F1 {ck['best_f1']:.3f}"
    )
    if args.ship:
        from convert.segmenter.ship import ship

        try:
            entry = ship(Path(args.out), Path(args.ship))
        except EcgEdgeError as exc:
            print(f"ecg-convert train-segmenter: {exc}", file=sys.stderr)
            return exc.exit_code
        print(
            f"installed {entry['file']} ({entry['size_bytes'] / 1024:.0f} KiB) as 'segmenter' in {args.ship}"
        )
    return 0
