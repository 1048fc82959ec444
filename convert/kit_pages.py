"""Pages from a second generator: ecg-image-kit (the PhysioNet Challenge 2024 generator) run
through the `kit-render` wrapper beside the repository (../shared/tools/kit-render), for the
`kit-clean` and `kit-distorted` digitizer benchmark families.

Each page is rendered once per (record, family, seed, options) into a cache folder and reused:
the kit takes seconds per page. Ground truth is the record the kit writes beside the page with
`--mask_unplotted_samples` (NaN wherever the page shows nothing; lead II is the 10 s strip)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Every kit page: ground truth with NaN where nothing is printed and the page's JSON description.
KIT_COMMON = ("--mask_unplotted_samples", "--store_config", "2")

# The Challenge's default look: a 3x4 page (4 columns of 2.5 s) with a 10 s lead II rhythm
# strip, 200 dpi, the standard red grid, lead names and a calibration pulse on every row.
KIT_CLEAN = ("-r", "200", "--num_columns", "4", "--full_mode", "II", "--calibration_pulse", "1")

# The same page with wrinkle and crease textures (1-10 creases each way, random angle), then
# rotated by a random whole angle within +-10 degrees, Gaussian noise of a random scale up to 50
# (of 255), a crop of up to 1 % and a colour-temperature cast (2000-4000 K or 10000-20000 K).
KIT_DISTORTED = (*KIT_CLEAN, "--wrinkles", "--augment", "-rot", "10", "-noise", "50", "-c", "0.01")

KIT_OPTIONS = {"kit-clean": KIT_CLEAN, "kit-distorted": KIT_DISTORTED}
DEFAULT_KIT_RENDER = "../shared/tools/kit-render"
DEFAULT_KIT_CACHE = "runs/kit-cache"
RENDER_TIMEOUT_S = 600  # the first call may build the kit's venv; a page takes 1-3 s per core


@dataclass(frozen=True)
class KitPage:
    """A rendered page in the cache: the image, its NaN-masked truth record and the kit's JSON."""

    image_path: Path
    truth_path: Path  # WFDB record path without extension
    config_path: Path | None
    options: tuple[str, ...]
    seed: int


def missing_kit(kit_render: str | os.PathLike | None) -> str | None:
    """Why the kit cannot render (a message for the user), or None when it can."""
    if not kit_render:
        return "no ecg-image-kit wrapper given: pass --kit-render PATH (../shared/tools/kit-render)"
    p = Path(kit_render)
    if not p.is_file() or not os.access(p, os.X_OK):
        return (
            f"ecg-image-kit wrapper not found at {p}: pass --kit-render PATH to the kit-render "
            "script (see ../shared/tools/README.md)"
        )
    return None


def kit_command(
    kit_render: str | os.PathLike, in_dir: Path, out_dir: Path, family: str, seed: int
) -> list[str]:
    """The kit-render command line for one family's page (options in the order reported)."""
    return [str(kit_render), str(in_dir), str(out_dir), "-se", str(seed), *family_options(family)]


def family_options(family: str) -> tuple[str, ...]:
    """All kit options a family's pages are rendered with (the seed aside)."""
    if family not in KIT_OPTIONS:
        raise ValueError(f"{family!r} is not a kit family: choose from {', '.join(KIT_OPTIONS)}")
    return (*KIT_COMMON, *KIT_OPTIONS[family])


def cache_key(record: str, family: str, seed: int) -> str:
    """Folder name of a cached page: record, seed and a digest of the family's options."""
    digest = hashlib.sha1(" ".join(family_options(family)).encode()).hexdigest()[:10]
    return f"{Path(record).name}-s{seed}-{digest}"


def render_kit_page(
    record: str | os.PathLike,
    family: str,
    seed: int,
    *,
    kit_render: str | os.PathLike = DEFAULT_KIT_RENDER,
    cache_dir: str | os.PathLike = DEFAULT_KIT_CACHE,
) -> KitPage:
    """The kit page of a WFDB record (path without extension) for `family` and `seed`, rendered
    now or taken from the cache. RuntimeError with the kit's last output when rendering fails."""
    why = missing_kit(kit_render)
    if why:
        raise FileNotFoundError(why)
    rec = Path(record)
    final = Path(cache_dir) / family / cache_key(str(rec), family, seed)
    page = _cached_page(final, rec.name, family, seed)
    if page is not None:
        return page
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".render-") as tmp:
        in_dir, out_dir = Path(tmp) / "in", Path(tmp) / "out"
        in_dir.mkdir()
        for ext in (".hea", ".dat"):
            shutil.copyfile(rec.with_suffix(ext), in_dir / f"{rec.name}{ext}")
        cmd = kit_command(Path(kit_render).resolve(), in_dir, out_dir, family, seed)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S)
        if proc.returncode != 0 or _cached_page(out_dir, rec.name, family, seed) is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError(
                f"kit-render failed on {rec.name} ({family}, seed {seed}): " + " | ".join(tail)
            )
        (out_dir / "kit-command.txt").write_text(" ".join(cmd[3:]) + "\n")
        try:
            os.replace(out_dir, final)  # atomic: a half-rendered page never enters the cache
        except OSError:
            if _cached_page(final, rec.name, family, seed) is None:  # not a concurrent twin
                raise
    page = _cached_page(final, rec.name, family, seed)
    assert page is not None
    return page


def _cached_page(folder: Path, name: str, family: str, seed: int) -> KitPage | None:
    """The page in `folder` when its image and truth record are all there, else None."""
    img, truth = folder / f"{name}-0.png", folder / name
    if not (img.is_file() and truth.with_suffix(".hea").is_file()):
        return None
    if not truth.with_suffix(".dat").is_file():
        return None
    cfg = folder / f"{name}-0.json"
    return KitPage(img, truth, cfg if cfg.is_file() else None, family_options(family), seed)
