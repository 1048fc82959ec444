"""Provisioning scripts run for real against a fake root (--prefix), plus shellcheck and
systemd-analyze on what they install.

The target's OS release comes from an os-release file written here (Bookworm unless a test says
otherwise), so the results do not depend on the machine running the tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from edge import bundle
from edge.config import load_config
from edge.sync import load_settings

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware_scripts"
SCRIPTS = {"pi": "install-raspberry-pi.sh", "jetson": "install-jetson.sh"}
FILES = [
    "etc/ecg-edge/config.toml",
    "etc/ecg-edge/sync.toml",
    "etc/ecg-edge/device-id",
    "etc/ecg-edge/model-signing.pub",
    "etc/default/ecg-edge",
    "usr/local/lib/ecg-edge/ecg-edge-usb",
    "etc/systemd/system/ecg-edge-sync@.service",
    "etc/udev/rules.d/99-ecg-edge-usb.rules",
]


OS_RELEASES = {
    "bookworm": ("12", "Debian GNU/Linux 12 (bookworm)"),
    "trixie": ("13", "Debian GNU/Linux 13 (trixie)"),
    "jammy": ("22.04", "Ubuntu 22.04.4 LTS"),
}


def _os_release(path: Path, codename: str) -> Path:
    """An /etc/os-release as the release ships it (the fields the script reads, quoted as there)."""
    version, pretty = OS_RELEASES[codename]
    path.parent.mkdir(parents=True, exist_ok=True)
    distro = "ubuntu" if codename == "jammy" else "debian"
    path.write_text(
        f'PRETTY_NAME="{pretty}"\nVERSION_ID="{version}"\n'
        f"VERSION_CODENAME={codename}\nID={distro}\n"
    )
    return path


def _run(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("->" + os.readlink(p), 0)
        elif p.is_file():
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(p.stat().st_mode))
        else:
            out[rel] = ("dir", stat.S_IMODE(p.stat().st_mode))
    return out


@pytest.fixture(scope="module")
def pubkey(tmp_path_factory):
    _, pub = bundle.generate_keypair(tmp_path_factory.mktemp("keys"))
    return pub


@pytest.fixture()
def fakeroot(tmp_path):
    root = tmp_path / "root"
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/config.txt").write_text("dtparam=audio=on\n")
    _os_release(root / "etc/os-release", "bookworm")
    return root


@pytest.mark.parametrize("board", ["pi", "jetson"])
def test_prefix_install_files_and_idempotent(board, fakeroot, pubkey):
    r = _run(
        FW / SCRIPTS[board],
        "--prefix",
        str(fakeroot),
        "--signing-key",
        str(pubkey),
        "--device-id",
        "clinic 7",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for rel in FILES:
        assert (fakeroot / rel).is_file(), rel
    assert stat.S_IMODE((fakeroot / "usr/local/lib/ecg-edge/ecg-edge-usb").stat().st_mode) == 0o755
    for d in ("var/lib/ecg-edge", "var/lib/ecg-edge/records", "var/lib/ecg-edge/models"):
        assert stat.S_IMODE((fakeroot / d).stat().st_mode) == 0o700, d
    assert (fakeroot / "etc/ecg-edge/model-signing.pub").read_bytes() == pubkey.read_bytes()
    assert (fakeroot / "etc/ecg-edge/device-id").read_text().strip() == "clinic-7"
    # what it writes is what the device software reads
    cfg = load_config(fakeroot / "etc/ecg-edge/config.toml")
    assert cfg.data_root == "/var/lib/ecg-edge/records"
    assert cfg.source.spec.startswith("picamera2" if board == "pi" else "gst:nvarguscamerasrc")
    assert load_settings(fakeroot / "etc/ecg-edge/sync.toml").export == ()
    env = dict(
        line.split("=", 1)
        for line in (fakeroot / "etc/default/ecg-edge").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["ECG_EDGE_MODELS"] == "/var/lib/ecg-edge/models/current"
    assert env["ECG_EDGE_BIN"] == "/opt/ecg-edge/venv/bin/ecg-edge"
    # system changes are reported, not made, in a fake root
    assert "skip (prefix): python3 -m venv --system-site-packages /opt/ecg-edge/venv" in r.stdout
    assert "numpy<2" in r.stdout and "[device]" in r.stdout
    # units are enabled inside the root (offline); only the live reloads are skipped
    wants = fakeroot / "etc/systemd/system/multi-user.target.wants/ecg-edge.service"
    if shutil.which("systemctl"):
        assert os.readlink(wants) == "/etc/systemd/system/ecg-edge.service"
    assert "skip (prefix): systemctl daemon-reload" in r.stdout
    assert "skip (prefix): udevadm control --reload-rules" in r.stdout
    assert os.readlink(fakeroot / "usr/local/bin/ecg-edge") == "/opt/ecg-edge/venv/bin/ecg-edge"
    if board == "pi":
        assert (fakeroot / "boot/firmware/config.txt").read_text().count(
            "camera_auto_detect=1"
        ) == 1
    else:
        assert "nvargus-daemon" in r.stdout
    before = _tree(fakeroot)
    r2 = _run(FW / SCRIPTS[board], "--prefix", str(fakeroot), "--signing-key", str(pubkey))
    assert r2.returncode == 0, r2.stderr
    assert [ln for ln in r2.stdout.splitlines() if ln.startswith("+ ")] == []  # nothing left to do
    assert _tree(fakeroot) == before


def test_clinic_settings_are_kept_on_reinstall(fakeroot, pubkey):
    script = FW / SCRIPTS["pi"]
    assert _run(script, "--prefix", str(fakeroot), "--signing-key", str(pubkey)).returncode == 0
    (fakeroot / "etc/ecg-edge/sync.toml").write_text('export = ["edf"]\n')
    r = _run(script, "--prefix", str(fakeroot))
    assert r.returncode == 0 and "(kept)" in r.stdout
    assert load_settings(fakeroot / "etc/ecg-edge/sync.toml").export == ("edf",)
    assert (fakeroot / "etc/ecg-edge/model-signing.pub").exists()


def test_dry_run_prints_every_action_and_changes_nothing(fakeroot, pubkey):
    r = _run(
        FW / SCRIPTS["pi"], "--dry-run", "--prefix", str(fakeroot), "--signing-key", str(pubkey)
    )
    assert r.returncode == 0, r.stderr
    actions = [ln for ln in r.stdout.splitlines() if ln.startswith("+ ")]
    assert len(actions) >= 10
    assert any("install -d -m 0700" in a and "var/lib/ecg-edge/records" in a for a in actions)
    assert any("ecg-edge-usb" in a for a in actions) and any(
        "camera_auto_detect=1" in a for a in actions
    )
    assert sorted(p.name for p in fakeroot.iterdir()) == ["boot", "etc"]
    assert [p.name for p in (fakeroot / "etc").iterdir()] == ["os-release"]
    assert (fakeroot / "boot/firmware/config.txt").read_text() == "dtparam=audio=on\n"
    # on the real system (no prefix) a dry run lists the system steps too, and still changes nothing
    jammy = _os_release(fakeroot.parent / "jammy-os-release", "jammy")
    r = _run(FW / SCRIPTS["jetson"], "--dry-run", "--no-apt", "--os-release", str(jammy))
    assert r.returncode == 0, r.stderr
    assert (
        "+ install -d -m 0700 /var/lib/ecg-edge/records" in r.stdout
        or "ok: /var/lib/ecg-edge/records/" in r.stdout
    )
    assert "python3 -m venv --system-site-packages /opt/ecg-edge/venv" in r.stdout
    assert "nothing was changed" in r.stdout


def test_bad_arguments_are_refused(fakeroot, tmp_path):
    r = _run(FW / SCRIPTS["pi"], "--bogus")
    assert r.returncode == 2 and "unknown option" in r.stderr
    notkey = tmp_path / "x.pub"
    notkey.write_text("hello")
    r = _run(FW / SCRIPTS["pi"], "--prefix", str(fakeroot), "--signing-key", str(notkey))
    assert r.returncode == 2 and "not a PEM public key" in r.stderr


def test_factory_models_become_current(tmp_path, pubkey):
    """Models shipped in the source tree are installed as the first version edge.models reads."""
    src = tmp_path / "src"
    shutil.copytree(FW, src / "firmware_scripts")
    shutil.copytree(ROOT / "systemd", src / "systemd")
    (src / "models").mkdir()
    payload = b"factory model"
    (src / "models/classifier.tflite").write_bytes(payload)
    (src / "models/manifest.json").write_text(
        json.dumps(
            {
                "schema": 1,
                "models": [
                    {
                        "name": "classifier",
                        "file": "classifier.tflite",
                        "sha256": hashlib.sha256(payload).hexdigest(),
                        "size_bytes": len(payload),
                        "task": "classify",
                        "inputs": [],
                        "outputs": [],
                    }
                ],
            }
        )
    )
    root = tmp_path / "root"
    _os_release(root / "etc/os-release", "bookworm")
    r = _run(
        src / "firmware_scripts" / SCRIPTS["pi"],
        "--prefix",
        str(root),
        "--signing-key",
        str(pubkey),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    current = root / "var/lib/ecg-edge/models/current"
    assert current.is_symlink() and os.readlink(current) == "versions/factory"
    from edge.models import read_manifest

    assert [m.name for m in read_manifest(current)] == ["classifier"]
    # a signed bundle then installs over it, keeping the factory models for rollback
    key = pubkey.with_suffix(".key")
    b = bundle.make_bundle(src / "models", key, tmp_path / "stick/ECG-MODELS", version=2)
    bundle.install_bundle(
        tmp_path / "stick/ECG-MODELS", current.parent, root / "etc/ecg-edge/model-signing.pub"
    )
    assert bundle.status(current.parent) == {
        "models_root": str(current.parent),
        "current": b.bundle_id,
        "previous": "factory",
        "versions": sorted([b.bundle_id, "factory"]),
        "highest_version": 2,
    }


def test_shellcheck_clean():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    files = [str(p) for p in FW.iterdir() if p.suffix == ".sh" or p.name == "ecg-edge-usb"]
    r = subprocess.run(["shellcheck", "-x", *files], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout


def test_systemd_units_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not available")
    units = sorted((ROOT / "systemd").glob("*.service"))
    assert any(u.name == "ecg-edge-sync@.service" for u in units)
    checked = 0
    for unit in units:
        text = unit.read_text().replace(
            "/usr/local/lib/ecg-edge/ecg-edge-usb", str(FW / "ecg-edge-usb")
        )
        if (
            "ExecStart=/opt/ecg-edge/venv/bin/" in text
        ):  # the daemon's unit: point at this checkout's venv
            text = text.replace("/opt/ecg-edge/venv/bin/", str(ROOT / ".venv/bin") + "/")
        (tmp_path / unit.name).write_text(text)
        name = unit.name.replace("@.service", "@sdb1.service")
        r = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(tmp_path / name)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        problems = [
            ln
            for ln in (r.stdout + r.stderr).splitlines()
            if unit.stem.split("@")[0] in ln or "Unknown" in ln or "not executable" in ln
        ]
        if unit.name.startswith("ecg-edge-sync"):
            assert r.returncode == 0 and not problems, r.stdout + r.stderr
            checked += 1
    assert checked == 1


def test_udev_rule_matches_only_usb_filesystems():
    text = (ROOT / "systemd/99-ecg-edge-usb.rules").read_text()
    rule = " ".join(
        ln.rstrip("\\").strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")
    )
    for needed in (
        'ACTION=="add"',
        'SUBSYSTEM=="block"',
        'ENV{ID_BUS}=="usb"',
        'ENV{ID_FS_TYPE}=="vfat|exfat|ext4"',
        'ENV{SYSTEMD_WANTS}+="ecg-edge-sync@%k.service"',
        'TAG+="systemd"',
    ):
        assert needed in rule, needed
    if shutil.which("udevadm"):
        r = subprocess.run(
            ["udevadm", "verify", str(ROOT / "systemd/99-ecg-edge-usb.rules")],
            capture_output=True,
            text=True,
        )
        if "Unknown command" not in r.stderr and "unrecognized" not in r.stderr:
            assert r.returncode == 0, r.stderr


def test_destdir_is_a_prefix(tmp_path, pubkey):
    dest = tmp_path / "dest"
    jammy = _os_release(tmp_path / "os-release", "jammy")
    r = _run(
        FW / SCRIPTS["jetson"],
        "--signing-key",
        str(pubkey),
        DESTDIR=str(dest),
        OS_RELEASE_FILE=str(jammy),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert all((dest / rel).is_file() for rel in FILES)
    assert "skip (prefix): systemctl daemon-reload" in r.stdout


# ---------------------------------------------------------------------------------------------
# OS release: Python, numpy and packages; chroot: units enabled offline, reloads skipped


@pytest.mark.parametrize(
    "codename, python, numpy, camera_apps",
    [
        ("bookworm", "3.11", "numpy<2", "libcamera-apps-lite"),
        ("trixie", "3.13", "numpy>=2", "rpicam-apps-lite"),
    ],
)
def test_dry_run_numpy_and_packages_follow_the_os_release(
    codename, python, numpy, camera_apps, fakeroot, tmp_path
):
    release = _os_release(tmp_path / f"{codename}-os-release", codename)
    r = _run(
        FW / SCRIPTS["pi"], "--dry-run", "--prefix", str(fakeroot), "--os-release", str(release)
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"== python {python} on {OS_RELEASES[codename][1]}: {numpy} " in r.stdout
    pip = [ln for ln in r.stdout.splitlines() if "/opt/ecg-edge/venv/bin/pip install" in ln]
    assert len(pip) == 1 and pip[0].endswith(f"[device] {numpy}"), pip
    apt = next(ln for ln in r.stdout.splitlines() if ln.startswith("== apt packages:"))
    assert camera_apps in apt.split() and "python3-picamera2" in apt.split()
    # the same from the target root's own os-release (an image being built), or $OS_RELEASE_FILE
    _os_release(fakeroot / "etc/os-release", codename)
    r2 = _run(FW / SCRIPTS["pi"], "--dry-run", "--prefix", str(fakeroot))
    r3 = _run(
        FW / SCRIPTS["pi"], "--dry-run", "--prefix", str(fakeroot), OS_RELEASE_FILE=str(release)
    )
    assert f"[device] {numpy}" in r2.stdout and f"[device] {numpy}" in r3.stdout


def test_an_unknown_os_release_is_refused(fakeroot, tmp_path):
    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Fedora Linux 40"\nID=fedora\nVERSION_ID=40\n')
    r = _run(
        FW / SCRIPTS["pi"], "--dry-run", "--prefix", str(fakeroot), "--os-release", str(release)
    )
    assert r.returncode == 2 and "Fedora Linux 40 is not a release this script knows" in r.stderr
    r = _run(FW / SCRIPTS["pi"], "--dry-run", "--os-release", str(tmp_path / "missing"))
    assert r.returncode == 2 and "cannot read the OS release file" in r.stderr


def _stub(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_chroot_enables_units_offline_and_skips_only_the_reloads(tmp_path):
    """Inside a chroot (an SD-card image being built) systemd is not PID 1: `systemctl enable`
    works offline, `daemon-reload` and `udevadm control --reload-rules` cannot. Run on this
    machine's real root, so only as a dry run, with stubs for the three system tools: the stub
    systemd-detect-virt says "chroot" whatever runs the tests (systemd is not PID 1 here, but is
    on a CI runner), and the systemctl/udevadm stubs record every call the script makes."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls"
    _stub(bindir, "systemd-detect-virt", '[ "$1" = --chroot ] && exit 0; exit 1')
    _stub(bindir, "systemctl", f'echo "systemctl $*" >>{calls}; exit 1')  # nothing enabled yet
    _stub(bindir, "udevadm", f'echo "udevadm $*" >>{calls}; exit 0')
    release = _os_release(tmp_path / "os-release", "trixie")
    r = _run(
        FW / SCRIPTS["pi"],
        "--dry-run",
        "--no-apt",
        "--os-release",
        str(release),
        PATH=f"{bindir}:{os.environ['PATH']}",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert "skip (chroot): systemctl daemon-reload" in out
    assert "skip (chroot): udevadm control --reload-rules" in out
    assert "+ systemctl enable ecg-edge.service" in out
    assert any(ln.startswith("note: units enabled offline (chroot)") for ln in out)
    recorded = calls.read_text().splitlines() if calls.exists() else []
    assert recorded == ["systemctl is-enabled --quiet ecg-edge.service"]  # only a read


def test_aarch64_smoke_test_refuses_what_it_cannot_test(tmp_path):
    """The bench script itself runs on a board or an arm64 root (firmware_scripts/README.md);
    here only that it explains itself and refuses a missing wheel or an unusable root."""
    script = FW / "aarch64-smoke-test.sh"
    r = _run(script, "--help")
    assert r.returncode == 0 and "qemu-user-static" in r.stdout and "--root DIR" in r.stdout
    r = _run(script, "--wheel", str(tmp_path / "missing.whl"))
    assert r.returncode == 2 and "give the wheel to test" in r.stderr
    wheel = tmp_path / "ecg_edge-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    r = _run(script, "--wheel", str(wheel), "--root", str(tmp_path / "not-a-root"))
    assert r.returncode == 2 and ("needs root" in r.stderr or "no /usr/bin/python3" in r.stderr)
