"""The systemd units' hardening, read from the unit files themselves (and scored by
`systemd-analyze security --offline` where systemd-analyze is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "systemd"
MAX_EXPOSURE = 4.0  # systemd-analyze's "OK" band ends at 4.9; the issue asks for 4 or less


def _directives(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_sync_unit_is_hardened_to_what_mounting_a_stick_needs():
    d = _directives("ecg-edge-sync@.service")
    one = {k: v[-1] for k, v in d.items()}
    for key, want in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateMounts": "yes",
        "PrivateNetwork": "yes",
        "RestrictSUIDSGID": "yes",
        "RestrictNamespaces": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes",
        "SystemCallArchitectures": "native",
        "DevicePolicy": "closed",
        "UMask": "0077",
        "AmbientCapabilities": "",
    }.items():
        assert one.get(key) == want, (key, one.get(key))
    caps = set(one["CapabilityBoundingSet"].split())
    assert caps <= {"CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN"}, caps
    filters = " ".join(d["SystemCallFilter"])
    assert "@system-service" in filters and "@mount" in filters
    assert one["ReadWritePaths"].split() == ["/var/lib/ecg-edge"]
    assert one["RuntimeDirectory"] == "ecg-edge-usb"  # holds the mount point
    assert one["RestrictAddressFamilies"] == "AF_UNIX"
    assert all(re.fullmatch(r"block-\w+ rw", a) for a in d["DeviceAllow"]), d["DeviceAllow"]


def test_daemon_unit_runs_unprivileged_without_capabilities():
    one = {k: v[-1] for k, v in _directives("ecg-edge.service").items()}
    assert one["User"] == "ecg-edge" and one["NoNewPrivileges"] == "yes"
    assert one["CapabilityBoundingSet"] == "" and one["ProtectSystem"] == "strict"


@pytest.mark.parametrize("unit", ["ecg-edge-sync@.service", "ecg-edge.service"])
def test_systemd_analyze_scores_the_unit_at_most_4(unit):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed")
    r = subprocess.run(
        [exe, "security", "--offline=true", "--no-pager", str(UNITS / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    if m is None:
        pytest.skip(f"this systemd-analyze cannot score offline: {(r.stderr or r.stdout)[-300:]}")
    assert float(m.group(1)) <= MAX_EXPOSURE, r.stdout[-3000:]
