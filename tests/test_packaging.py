"""The distribution carries its models and example pages, and an installed ecg-edge finds them.

The installed layout is made by the real build hook (setup.py's build_py, the step that fills a
wheel) into a temporary directory, then used by a real interpreter from outside the checkout.
Building, installing and running the wheel itself in a fresh venv is .ci/wheel_check.sh (too slow
for the test suite: it installs numpy, OpenCV, SciPy and the TFLite runtime).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge import resources
from edge.commands.digitize import warn_unusable_models
from edge.models import MANIFEST_NAME, default_models_dir, update_slot

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`site-packages` as a wheel install leaves it: the packages as built by setup.py's hook."""
    tmp = tmp_path_factory.mktemp("installed")
    site = tmp / "site-packages"
    r = subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "egg_info",
            "--egg-base",
            str(tmp),  # keeps the checkout clean
            "build_py",
            "--build-lib",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return site


def _installed_env(site: Path, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ECG_EDGE_MODELS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    env["ECG_EDGE_MODELS_ROOT"] = str(tmp / "no-update-slot")
    env.update(extra)
    return env


def _py(site: Path, tmp: Path, code: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp,
        env=_installed_env(site, tmp, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_build_hook_puts_every_manifest_file_and_the_examples_in_the_package(installed):
    bundled = installed / "edge" / "_bundled"
    manifest = json.loads((bundled / "models" / MANIFEST_NAME).read_text())
    for m in manifest["models"]:
        assert (bundled / "models" / m["file"]).read_bytes() == (
            SHIPPED_MODELS / m["file"]
        ).read_bytes()
    assert (bundled / "examples" / "photo.jpg").read_bytes() == (
        ROOT / "examples" / "photo.jpg"
    ).read_bytes()
    assert not (installed / "models").exists() and not (installed / "tests").exists()


def test_installed_package_reads_its_own_models_and_examples(installed, tmp_path):
    code = (
        "import edge, edge.models as m, edge.resources as r;"
        "print(edge.__file__); print(m.default_models_dir()); print(r.example_path('photo.jpg'))"
    )
    r = _py(installed, tmp_path, code)
    assert r.returncode == 0, r.stderr
    pkg, models, photo = r.stdout.split()
    assert Path(pkg) == installed / "edge" / "__init__.py"  # not the checkout's
    assert Path(models) == installed / "edge" / "_bundled" / "models"
    assert Path(photo).is_file() and Path(photo).parent == installed / "edge/_bundled/examples"
    # `ecg-edge models` from outside the checkout: every packaged model verifies and loads
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "models", "--json"],
        cwd=tmp_path,
        env=_installed_env(installed, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["models"]
    names = {m["name"] for m in json.loads((SHIPPED_MODELS / MANIFEST_NAME).read_text())["models"]}
    assert {row["name"] for row in rows} == names
    assert all(row["status"] == "ok" for row in rows), rows


def test_environment_and_update_slot_take_precedence_over_packaged_models(installed, tmp_path):
    slot_root = tmp_path / "models-root"
    (slot_root / "versions" / "v2").mkdir(parents=True)
    shutil.copy(SHIPPED_MODELS / MANIFEST_NAME, slot_root / "versions" / "v2" / MANIFEST_NAME)
    (slot_root / "current").symlink_to("versions/v2")
    code = "import edge.models as m; print(m.default_models_dir())"
    r = _py(installed, tmp_path, code, ECG_EDGE_MODELS_ROOT=str(slot_root))
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == slot_root / "current"
    r = _py(
        installed,
        tmp_path,
        code,
        ECG_EDGE_MODELS_ROOT=str(slot_root),
        ECG_EDGE_MODELS=str(tmp_path / "explicit"),
    )
    assert Path(r.stdout.strip()) == tmp_path / "explicit"
    # an empty slot (no manifest yet) is passed over
    (slot_root / "versions" / "v2" / MANIFEST_NAME).unlink()
    r = _py(installed, tmp_path, code, ECG_EDGE_MODELS_ROOT=str(slot_root))
    assert Path(r.stdout.strip()) == installed / "edge" / "_bundled" / "models"


def test_checkout_models_and_the_update_slot_in_a_source_tree(tmp_path, monkeypatch):
    monkeypatch.delenv("ECG_EDGE_MODELS", raising=False)
    monkeypatch.setenv("ECG_EDGE_MODELS_ROOT", str(tmp_path / "root"))
    assert default_models_dir() == SHIPPED_MODELS  # editable install / PYTHONPATH
    assert resources.example_path("photo.jpg") == ROOT / "examples" / "photo.jpg"
    update_slot().mkdir(parents=True)
    (update_slot() / MANIFEST_NAME).write_text('{"models": []}')
    assert default_models_dir() == tmp_path / "root" / "current"


def test_a_stray_models_directory_in_site_packages_is_not_ours(tmp_path):
    """Another distribution's `site-packages/models/manifest.json` must not be read as ours."""
    pkg = tmp_path / "site-packages" / "edge"
    (pkg / "_bundled" / "models").mkdir(parents=True)
    (pkg / "_bundled" / "models" / MANIFEST_NAME).write_text("{}")
    (tmp_path / "site-packages" / "models").mkdir()
    (tmp_path / "site-packages" / "models" / MANIFEST_NAME).write_text("{}")
    assert resources.checkout_dir("models", pkg) is None
    assert resources.shipped_dir("models", MANIFEST_NAME, pkg) == pkg / "_bundled" / "models"
    # in a source tree the checkout's directory wins, and is named when it is missing
    src = tmp_path / "src"
    (src / "edge").mkdir(parents=True)
    for marker in resources.SOURCE_TREE_MARKERS:
        (src / marker).write_text("")
    assert resources.shipped_dir("models", MANIFEST_NAME, src / "edge") == src / "models"


# ---------------------------------------------------------------------------------------------
# digitize says so when a model it uses cannot be used


def test_digitize_without_models_says_so_on_stderr(tmp_path):
    env = {**os.environ, "ECG_EDGE_MODELS": str(tmp_path / "nowhere"), "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "digitize",
            str(ROOT / "examples" / "scan.jpg"),
            "--out",
            str(tmp_path / "out"),
            "--no-overlay",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr  # the page is still read, by the classical stages
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("ecg-edge digitize: warning:")]
    assert len(said) == 1, r.stderr
    assert f"no model manifest at {tmp_path / 'nowhere' / MANIFEST_NAME}" in said[0]
    assert "textcues" in said[0] and "segmenter" in said[0] and "ECG_EDGE_MODELS" in said[0]
    assert (tmp_path / "out" / "scan.hea").is_file()


def test_digitize_names_a_corrupt_model_and_stays_quiet_when_all_are_good(
    tmp_path, monkeypatch, capsys
):
    models = tmp_path / "models"
    shutil.copytree(SHIPPED_MODELS, models)
    monkeypatch.setenv("ECG_EDGE_MODELS", str(models))
    warn_unusable_models("auto")
    assert capsys.readouterr().err == ""
    seg = models / "segmenter_int8.tflite"
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    warn_unusable_models("auto")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "fails its sha256 check" in err[0], err
    assert "reading without segmenter (classical trace map only)" in err[0]
    warn_unusable_models("classical")  # the classical trace map does not use the segmenter
    assert capsys.readouterr().err == ""
