"""Contact sheet of randomized pages for eyeballing the synthesizer's variety:
`python -m convert.synth.gallery --out gallery.jpg [--n 12] [--mode photo] [--seed 0]`
(each tile is labelled with its seed, mode, layout and grid, so any page can be re-made)."""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from edge.layouts import LAYOUTS

from .ecg import synthetic_ecg
from .render import MODES, render_page
from .save import encode_image

TILE = (480, 360)


def contact_sheet(
    n: int = 12, modes: tuple[str, ...] = MODES, seed: int = 0, cols: int = 4
) -> np.ndarray:
    """BGR image of `n` randomized pages (modes and layouts cycle), tiles labelled."""
    tiles = []
    layouts = list(LAYOUTS)
    for i in range(n):
        s = seed + i
        mode, layout = modes[i % len(modes)], layouts[(i // len(modes)) % len(layouts)]
        page = render_page(
            synthetic_ecg(seed=s, kind="random"),
            500.0,
            layout=layout,
            mode=mode,
            seed=s,
            randomize=True,
            photo_size=(1600, 1200),
        )
        h, w = page.image.shape[:2]
        k = min(TILE[0] / w, TILE[1] / h)
        small = cv2.resize(page.image, (int(w * k), int(h * k)), interpolation=cv2.INTER_AREA)
        tile = np.full((TILE[1], TILE[0], 3), 40, np.uint8)
        tile[: small.shape[0], : small.shape[1]] = small
        label = f"seed {s} {mode} {layout} {page.meta['style']['grid']}"
        cv2.putText(
            tile, label, (6, TILE[1] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA
        )
        cv2.putText(
            tile,
            label,
            (6, TILE[1] - 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 255, 255),
            1,
            cv2.LINE_AA,
        )
        tiles.append(tile)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 40))
    return np.vstack([np.hstack(tiles[r : r + cols]) for r in range(0, len(tiles), cols)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m convert.synth.gallery", description=__doc__)
    ap.add_argument("--out", default="gallery.jpg", help="output .jpg or .png")
    ap.add_argument("--n", type=int, default=12, help="number of pages")
    ap.add_argument("--mode", choices=MODES, action="append", help="only these modes (repeatable)")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    args = ap.parse_args(argv)
    sheet = contact_sheet(args.n, tuple(args.mode or MODES), args.seed)
    suffix = "." + args.out.rsplit(".", 1)[-1] if "." in args.out else ".jpg"
    with open(args.out, "wb") as f:
        f.write(encode_image(sheet, suffix, 90))
    print(f"{args.out}: {args.n} pages, seeds {args.seed}..{args.seed + args.n - 1}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
