"""Where the data shipped with ecg-edge lies: the int8 models with their manifest (`models/`) and
the bundled example pages (`examples/`).

Both live at the root of the source tree, where the toolchain writes them. A source checkout or
an editable install reads them there; a wheel carries copies inside the package, as
`edge/_bundled/models/` and `edge/_bundled/examples/` (put there by the build hook in setup.py),
found with `importlib.resources`. Choosing between the shipped models and the signed-update slot
is `edge.models.default_models_dir`'s job.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "edge"
BUNDLED = "_bundled"  # the wheel's copy of the shipped data, inside the package
# A source tree is recognised by its build files beside the package, so that a stray
# site-packages/models/ left by some other distribution is never taken for ours.
SOURCE_TREE_MARKERS = ("pyproject.toml", "setup.cfg")


def package_dir() -> Path:
    """The directory of the imported `edge` package (importlib.resources' view of it)."""
    return Path(str(resources.files(PACKAGE)))


def checkout_dir(name: str, pkg_dir: Path | None = None) -> Path | None:
    """`<source tree>/<name>` when the `edge` package is imported from a source checkout
    (editable install or PYTHONPATH), else None."""
    root = (pkg_dir or package_dir()).resolve().parent
    if not all((root / m).is_file() for m in SOURCE_TREE_MARKERS):
        return None
    return root / name


def packaged_dir(name: str, pkg_dir: Path | None = None) -> Path:
    """`edge/_bundled/<name>` inside the installed package (present in a wheel install only)."""
    return (pkg_dir or package_dir()) / BUNDLED / name


def shipped_dir(name: str, marker: str | None = None, pkg_dir: Path | None = None) -> Path:
    """The shipped `name` directory ("models" or "examples"): the checkout's when it exists (and
    holds `marker`), else the package's copy. When neither does, the one this installation
    should have (the checkout's, else the package's), so that the caller's error names it."""
    checkout = checkout_dir(name, pkg_dir)
    packaged = packaged_dir(name, pkg_dir)
    for cand in (checkout, packaged):
        if cand is not None and cand.is_dir() and (marker is None or (cand / marker).is_file()):
            return cand
    return checkout or packaged


def example_path(filename: str) -> Path:
    """A bundled example page, e.g. `example_path("photo.jpg")`."""
    return shipped_dir("examples") / filename
