"""Build hook (metadata is in setup.cfg): the wheel carries the shipped models and example pages.

`models/` and `examples/` stay at the root of the source tree, where the toolchain writes them and
where a checkout or an editable install reads them (`edge.resources`). A wheel copies them into
the package as `edge/_bundled/models/` and `edge/_bundled/examples/`, so an installed `ecg-edge`
finds them with importlib.resources. MANIFEST.in puts them in the sdist the wheel is built from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# source directory -> file patterns copied (the same files the provisioning script installs)
SHIPPED = {
    "models": ("*.tflite", "*.json", "*.md"),
    "examples": ("*.jpg", "*.png", "*.json"),
}
BUNDLED = Path("edge", "_bundled")  # keep in step with edge/resources.py


class BuildPyWithShippedData(build_py):
    """build_py, then the shipped data copied into the built package (not for editable installs:
    those read the checkout's own directories)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name, patterns in SHIPPED.items():
            src = HERE / name
            files = sorted({f for pat in patterns for f in src.glob(pat) if f.is_file()})
            if name == "models" and not (src / "manifest.json").is_file():
                raise SystemExit(f"setup.py: {src}/manifest.json is missing: no models to ship")
            dst = Path(self.build_lib) / BUNDLED / name
            shutil.rmtree(dst, ignore_errors=True)  # no file left over from an earlier build
            dst.mkdir(parents=True)
            for f in files:
                shutil.copy2(f, dst / f.name)


setup(cmdclass={"build_py": BuildPyWithShippedData})
