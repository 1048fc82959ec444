"""Signed model bundles: make, verify (accept/reject), install atomically, roll back - real keys, real files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge import bundle
from edge.bundle import BundleError
from tests.conftest import models_dir

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@pytest.fixture()
def keys(tmp_path):
    key, pub = bundle.generate_keypair(tmp_path / "keys")
    return key, pub


@pytest.fixture()
def made(tmp_path, keys):
    key, pub = keys
    src = models_dir(tmp_path)
    out = tmp_path / "stick" / "ECG-MODELS"
    info = bundle.make_bundle(src, key, out, version=100)
    return out, pub, info


def test_keygen_modes_and_refuses_overwrite(tmp_path):
    key, pub = bundle.generate_keypair(tmp_path / "k")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes() and b"PUBLIC KEY" in pub.read_bytes()
    with pytest.raises(Exception) as ei:
        bundle.generate_keypair(tmp_path / "k")
    assert "already exists" in str(ei.value)


def test_valid_bundle_verifies(made):
    out, pub, info = made
    v = bundle.verify_bundle(out, pub)
    assert v.digest == info.digest and v.version == 100 and v.models == ["classifier"]
    assert set(v.files) == {"manifest.json", "classifier.tflite"}


def test_unsigned_bundle_rejected(made):
    out, pub, _ = made
    (out / "bundle.sig").unlink()
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, pub)
    assert ei.value.code == "unsigned"


def test_wrong_key_rejected(made, tmp_path):
    out, _, _ = made
    _, other_pub = bundle.generate_keypair(tmp_path / "other")
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, other_pub)
    assert ei.value.code == "bad_signature"


def test_tampered_model_file_rejected(made):
    out, pub, _ = made
    data = bytearray((out / "classifier.tflite").read_bytes())
    data[3] ^= 0x01
    (out / "classifier.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, pub)
    assert ei.value.code == "tampered"


def test_tampered_bundle_json_rejected(made):
    out, pub, _ = made
    doc = json.loads((out / "bundle.json").read_bytes())
    doc["files"]["classifier.tflite"]["sha256"] = "0" * 64
    (out / "bundle.json").write_bytes(bundle.canonical_json(doc))
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, pub)
    assert ei.value.code == "bad_signature"


def test_extra_file_rejected(made):
    out, pub, _ = made
    (out / "evil.tflite").write_bytes(b"x")
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, pub)
    assert ei.value.code == "extra_files"


def test_missing_file_rejected(made):
    out, pub, _ = made
    (out / "classifier.tflite").unlink()
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, pub)
    assert ei.value.code == "missing_files"


def test_symlinked_file_rejected(made, tmp_path):
    out, pub, _ = made
    real = tmp_path / "real.tflite"
    os.replace(out / "classifier.tflite", real)
    os.symlink(real, out / "classifier.tflite")
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, pub)
    assert ei.value.code == "not_regular"


def test_path_traversal_in_signed_list_rejected(tmp_path, keys):
    """Even a correctly signed bundle.json naming ../ files is refused before anything is read."""
    key, pub = keys
    out = tmp_path / "b"
    out.mkdir()
    (tmp_path / "outside").write_bytes(b"x")
    doc = {
        "schema": 1,
        "version": 1,
        "created_utc": "",
        "models": [],
        "files": {
            "manifest.json": {"sha256": "0" * 64, "size": 1},
            "../outside": {"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1},
        },
    }
    body = bundle.canonical_json(doc)
    (out / "bundle.json").write_bytes(body)
    (out / "bundle.sig").write_text(
        bundle.load_private_key(key).sign(bundle.SIG_DOMAIN + body).hex()
    )
    with pytest.raises(BundleError) as ei:
        bundle.verify_bundle(out, pub)
    assert ei.value.code == "bad_file_name"


def test_bundle_rejects_stale_manifest(tmp_path, keys):
    key, _ = keys
    src = models_dir(tmp_path)
    (src / "classifier.tflite").write_bytes(b"changed after quantize")
    with pytest.raises(Exception) as ei:
        bundle.make_bundle(src, key, tmp_path / "out")
    assert getattr(ei.value, "code", "") == "manifest_stale"


def test_install_swap_and_rollback(tmp_path, keys):
    key, pub = keys
    root = tmp_path / "device-models"
    b1 = bundle.make_bundle(
        models_dir(tmp_path / "a", b"model-one"), key, tmp_path / "s1", version=1
    )
    b2 = bundle.make_bundle(
        models_dir(tmp_path / "b", b"model-two"), key, tmp_path / "s2", version=2
    )
    info, installed = bundle.install_bundle(tmp_path / "s1", root, pub)
    assert installed and (root / "current" / "classifier.tflite").read_bytes() == b"model-one"
    again, installed = bundle.install_bundle(tmp_path / "s1", root, pub)
    assert not installed
    bundle.install_bundle(tmp_path / "s2", root, pub)
    assert (root / "current" / "classifier.tflite").read_bytes() == b"model-two"
    assert (root / "previous" / "classifier.tflite").read_bytes() == b"model-one"
    # an older bundle is a downgrade: refused unless asked for
    with pytest.raises(BundleError) as ei:
        bundle.install_bundle(tmp_path / "s1", root, pub)
    assert ei.value.code == "downgrade"
    assert bundle.rollback(root) == b1.bundle_id
    assert (root / "current" / "classifier.tflite").read_bytes() == b"model-one"
    assert bundle.rollback(root) == b2.bundle_id
    # the installed copy verifies on its own (signature + files kept beside the models)
    bundle.verify_bundle((root / "current").resolve(), pub)
    assert os.path.islink(root / "current") and bundle.status(root)["current"] == b2.bundle_id


def test_failed_install_leaves_current_untouched(tmp_path, keys):
    key, pub = keys
    root = tmp_path / "device-models"
    bundle.make_bundle(models_dir(tmp_path / "a", b"model-one"), key, tmp_path / "s1", version=1)
    bundle.make_bundle(models_dir(tmp_path / "b", b"model-two"), key, tmp_path / "s2", version=2)
    bundle.install_bundle(tmp_path / "s1", root, pub)
    (tmp_path / "s2" / "classifier.tflite").write_bytes(b"model-twX")  # same size, corrupted
    with pytest.raises(BundleError) as ei:
        bundle.install_bundle(tmp_path / "s2", root, pub)
    assert ei.value.code == "tampered"
    assert (root / "current" / "classifier.tflite").read_bytes() == b"model-one"
    assert [p.name for p in (root / "versions").iterdir()] == [bundle.status(root)["current"]]


def test_cli_keygen_bundle_update_rollback(tmp_path):
    """The real commands in subprocesses, as an operator would run them."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "-m", *a], capture_output=True, text=True, env=env, cwd=ROOT)

    r = run("convert.cli", "keygen", "--out", str(tmp_path / "keys"))
    assert r.returncode == 0, r.stderr
    src = models_dir(tmp_path, b"cli-model")
    stick = tmp_path / "stick"
    r = run(
        "convert.cli",
        "bundle",
        str(src),
        "--sign",
        str(tmp_path / "keys/model-signing.key"),
        "--out",
        str(stick / "ECG-MODELS"),
        "--version",
        "5",
    )
    assert r.returncode == 0, r.stderr
    status = tmp_path / "models-status.json"
    common = [
        "--models-root",
        str(tmp_path / "dev"),
        "--public-key",
        str(tmp_path / "keys/model-signing.pub"),
    ]
    r = run(
        "edge.cli", "update-models", "--from", str(stick), *common, "--status-file", str(status)
    )
    assert r.returncode == 0, r.stderr
    assert "Installed model bundle v5-" in r.stdout
    assert json.loads(status.read_text())["state"] == "ok"
    r = run("edge.cli", "update-models", "--status", *common)
    assert r.returncode == 0 and json.loads(r.stdout)["current"].startswith("v5-")
    r = run("edge.cli", "update-models", "--verify", str(stick), *common)
    assert r.returncode == 0 and "is valid" in r.stdout
    (stick / "ECG-MODELS" / "classifier.tflite").write_bytes(b"cli-modeX")
    r = run(
        "edge.cli", "update-models", "--from", str(stick), *common, "--status-file", str(status)
    )
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert (
        "does not match its signed sha256" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    )
    assert json.loads(status.read_text())["state"] == "error"
    r = run("edge.cli", "update-models", "--rollback", *common)
    assert r.returncode == 3 and "no previous model bundle" in r.stderr


def test_installed_bundle_loads_with_edge_models(tmp_path, keys, monkeypatch):
    """edge.models reads <root>/current, so an installed bundle is what the device runs."""
    models = pytest.importorskip("edge.models")
    key, pub = keys
    bundle.make_bundle(models_dir(tmp_path, b"abc"), key, tmp_path / "s", version=1)
    bundle.install_bundle(tmp_path / "s", tmp_path / "root", pub)
    entries = models.read_manifest(tmp_path / "root" / "current")
    assert [e.name for e in entries] == ["classifier"]


@pytest.mark.slow
def test_real_tflite_model_bundled_installed_and_run(tmp_path, keys):
    """A real TFLite model goes workstation -> signed bundle -> device slot -> edge.models -> interpreter."""
    tf = pytest.importorskip("tensorflow")
    import numpy as np

    from convert import manifest as cm

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def affine(x):
        return {"y": 2.0 * x + 1.0}

    conv = tf.lite.TFLiteConverter.from_concrete_functions([affine.get_concrete_function()], affine)
    src = tmp_path / "models"
    src.mkdir()
    (src / "affine.tflite").write_bytes(conv.convert())
    cm.upsert_entry(
        src / "manifest.json", cm.make_entry("affine", src / "affine.tflite", task="test")
    )
    key, pub = keys
    bundle.make_bundle(src, key, tmp_path / "stick" / "ECG-MODELS")
    bundle.install_bundle(tmp_path / "stick" / "ECG-MODELS", tmp_path / "dev", pub)

    from edge.models import load_model

    model = load_model("affine", models_dir=tmp_path / "dev" / "current")
    x = np.array([[0.5, -1.0, 2.0, 0.0]], np.float32)
    out = model.run(x)
    y = (
        out
        if isinstance(out, np.ndarray)
        else np.asarray(list(out.values())[0] if isinstance(out, dict) else out[0])
    )
    np.testing.assert_allclose(y.reshape(-1), 2 * x.reshape(-1) + 1, rtol=1e-5)


@pytest.mark.benchmark
def test_benchmark_bundle_make_verify_install(tmp_path, keys):
    """Prints bundle timings for a 20 MB model (run with -m benchmark -s)."""
    import time

    key, pub = keys
    src = models_dir(tmp_path, os.urandom(20 << 20))
    t0 = time.perf_counter()
    bundle.make_bundle(src, key, tmp_path / "stick", version=1)
    t1 = time.perf_counter()
    bundle.verify_bundle(tmp_path / "stick", pub)
    t2 = time.perf_counter()
    bundle.install_bundle(tmp_path / "stick", tmp_path / "dev", pub)
    t3 = time.perf_counter()
    print(
        f"\nbundle 20 MB: make+sign {t1 - t0:.2f} s, verify {t2 - t1:.2f} s, "
        f"install (verify + hashed copy + fsync + swap) {t3 - t2:.2f} s"
    )


def _signed(tmp: Path, key: Path, version: int) -> Path:
    out = tmp / f"stick-v{version}"
    bundle.make_bundle(
        models_dir(tmp / f"src-v{version}", f"model-{version}".encode()), key, out, version=version
    )
    return out


def test_downgrade_is_judged_against_the_highest_version_ever_installed(tmp_path, keys):
    """After a rollback from v200 to v100 a validly signed v150 is still a downgrade; the
    history keeps the highest version even once its directory has been pruned."""
    key, pub = keys
    root = tmp_path / "device-models"
    bundle.install_bundle(_signed(tmp_path, key, 100), root, pub)
    bundle.install_bundle(_signed(tmp_path, key, 200), root, pub)
    bundle.rollback(root)
    assert bundle.current_bundle(root)["version"] == 100
    with pytest.raises(BundleError) as ei:
        bundle.install_bundle(_signed(tmp_path, key, 150), root, pub)
    assert ei.value.code == "downgrade" and "200" in ei.value.message
    assert bundle.current_bundle(root)["version"] == 100
    info, installed = bundle.install_bundle(_signed(tmp_path, key, 200), root, pub)
    assert installed and bundle.current_bundle(root)["version"] == 200
    # an operator's explicit downgrades prune v200's directory; the history still knows it
    bundle.install_bundle(_signed(tmp_path, key, 90), root, pub, allow_downgrade=True)
    bundle.install_bundle(_signed(tmp_path, key, 80), root, pub, allow_downgrade=True)
    assert not [p for p in (root / "versions").iterdir() if p.name.startswith("v200-")]
    assert bundle.highest_installed_version(root) == 200
    with pytest.raises(BundleError, match="older than version 200"):
        bundle.install_bundle(_signed(tmp_path, key, 150), root, pub)
    hist = json.loads((root / "history.json").read_text())
    assert hist["highest_version"] == 200
    assert [e["version"] for e in hist["installed"]] == [100, 200, 200, 90, 80]
    assert bundle.status(root)["highest_version"] == 200


@pytest.mark.parametrize("damage", ["garbage", "removed"])
def test_replay_of_an_older_bundle_is_refused_with_bundle_json_and_history_unreadable(
    tmp_path, keys, damage
):
    key, pub = keys
    root = tmp_path / "device-models"
    old = _signed(tmp_path, key, 100)
    bundle.install_bundle(old, root, pub)
    bundle.install_bundle(_signed(tmp_path, key, 200), root, pub)
    current = (root / "current").resolve()
    for f in (current / "bundle.json", root / "history.json"):
        if damage == "garbage":
            f.write_bytes(b"\x00not json")
        else:
            f.unlink()
    assert bundle.current_bundle(root) is None
    with pytest.raises(BundleError) as ei:
        bundle.install_bundle(old, root, pub)
    assert ei.value.code == "downgrade"
    assert os.readlink(root / "current").endswith(current.name)
