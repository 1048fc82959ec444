"""Re-make the bundled example images from the synthesizer alone (no patient data):
`python -m convert.synth.make_examples [--out examples]` writes photo.jpg (a phone photo of a
synthetic 12-lead printout) and scan.jpg (JPEG: a noisy scan as PNG is ~4 MB), each with its
settings (.json) and trace mask. The truth signals are not kept in the repository (signal files
stay out of it); `ecg-convert render --from-meta examples/photo.json ...` re-makes them."""

from __future__ import annotations

import argparse
from pathlib import Path

from .ecg import synthetic_ecg
from .render import render_page
from .save import save_page

MAX_BYTES = 1_500_000

# A typical clinic shot: page on a wooden desk, held-camera tilt, soft shadow, a little defocus.
PHOTO = dict(
    signal_seed=7,
    seed=2024,
    layout="3x4+1",
    photo_size=(2400, 1800),
    jpeg_quality=90,
    distortion={
        "tilt_deg": 18.0,
        "tilt_dir_deg": 110.0,
        "roll_deg": 4.0,
        "fill": 0.86,
        "centre_dx": 0.1,
        "centre_dy": -0.1,
        "background": "wood",
        "curl_px": 8.0,
        "shadow": 0.3,
        "glare": [],
        "defocus_sigma": 0.8,
        "motion_len": 0.0,
        "noise_sigma": 3.0,
        "jpeg_quality": 92,
        "notes": 1,
        "folds": [],
        "crumple": 0.0,
        "stains": [],
        "grayscale": False,
        "waves": [],
        "fingers": [],
        "low_light": 1.0,
        "lens_k1": 0.0,
    },
)
SCAN = dict(
    signal_seed=8,
    seed=2025,
    layout="3x4+1",
    dpi=150.0,
    distortion={
        "rotation_deg": 1.1,
        "notes": 2,
        "noise_sigma": 1.5,
        "jpeg_quality": 0,
        "grayscale": False,
        "photocopy": None,
    },
)


def make_examples(out_dir: str | Path = "examples") -> dict[str, Path]:
    """Write examples/photo.jpg and examples/scan.jpg with their truth; return the image paths."""
    out_dir = Path(out_dir)
    p = PHOTO
    photo = render_page(
        synthetic_ecg(seed=p["signal_seed"]),
        500.0,
        layout=p["layout"],
        mode="photo",
        seed=p["seed"],
        photo_size=p["photo_size"],
        distortion=p["distortion"],
    )
    save_page(photo, out_dir / "photo.jpg", jpeg_quality=p["jpeg_quality"])
    s = SCAN
    scan = render_page(
        synthetic_ecg(seed=s["signal_seed"]),
        500.0,
        layout=s["layout"],
        mode="scan",
        seed=s["seed"],
        dpi=s["dpi"],
        distortion=s["distortion"],
    )
    save_page(scan, out_dir / "scan.jpg", jpeg_quality=90)
    out = {"photo": out_dir / "photo.jpg", "scan": out_dir / "scan.jpg"}
    for path in out.values():
        for ext in (".hea", ".dat"):
            path.with_suffix(ext).unlink(missing_ok=True)
    for path in out.values():
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(
                f"{path} is {size} bytes, over the {MAX_BYTES} byte budget: lower its quality/size"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m convert.synth.make_examples", description=__doc__)
    ap.add_argument("--out", default="examples", help="output folder (default examples)")
    args = ap.parse_args(argv)
    for path in make_examples(args.out).values():
        print(
            f"{path}: {path.stat().st_size / 1e6:.2f} MB (+ {path.with_suffix('').name}.json/.mask.png)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
