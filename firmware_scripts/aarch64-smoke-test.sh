#!/usr/bin/env bash
# aarch64 smoke test (a bench check, not CI): install a built ecg-edge wheel into a fresh venv on
# an arm64 system and run `ecg-edge models`, `demo` and `classify` there, outside any checkout.
#
#   on the board (Raspberry Pi OS Bookworm or Trixie, JetPack 6), as any user:
#       firmware_scripts/aarch64-smoke-test.sh --wheel ecg_edge-0.1.0-py3-none-any.whl
#   on an arm64 root directory (an SD-card image's root, a debootstrap tree), as root, through
#   chroot: natively on an arm64 machine, or on x86 with qemu-user-static registered in binfmt_misc
#   (QEMU >= 8: 7.2, Debian Bookworm's, crashes ai-edge-litert >= 2.3 in its CPU probe):
#       sudo firmware_scripts/aarch64-smoke-test.sh --wheel ecg_edge-*.whl --root /srv/pi-root
#
# The numpy constraint follows the system's os-release as the provisioning script's does. The
# demo record's sha256 is printed, to compare with `sha256sum out/demo/photo.dat` after
# `ecg-edge demo` on a workstation (they need not be equal: see firmware_scripts/README.md).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ME=$(basename "$0")
WHEEL=""
ROOT_DIR=""
OFFLINE_WHEELS=""
WORK=""
FORCE=0
MIN_QEMU=8

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF

usage: $ME --wheel FILE.whl [--root DIR] [--wheelhouse DIR] [--work DIR] [--force]
  --wheel FILE       the wheel to test (python -m build, or pip wheel . --no-deps)
  --root DIR         test inside this arm64 root through chroot (as root; mounts /proc and /dev)
  --wheelhouse DIR   install the dependencies offline from wheels in DIR (copied into the root)
  --work DIR         working directory on the tested system (default: a new one under /tmp)
  --force            run under a QEMU older than $MIN_QEMU anyway
EOF
}

die() { echo "$ME: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --wheel) WHEEL=${2:?--wheel needs a file}; shift ;;
        --root) ROOT_DIR=${2:?--root needs a directory}; shift ;;
        --wheelhouse) OFFLINE_WHEELS=${2:?--wheelhouse needs a directory}; shift ;;
        --work) WORK=${2:?--work needs a directory}; shift ;;
        --force) FORCE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[ -f "$WHEEL" ] || die "give the wheel to test with --wheel FILE.whl"
[ -z "$OFFLINE_WHEELS" ] || [ -d "$OFFLINE_WHEELS" ] || die "$OFFLINE_WHEELS is not a directory"

# qemu_check: on a foreign host, the aarch64 emulator binfmt_misc runs must be QEMU >= 8
qemu_check() {
    [ "$(uname -m)" != aarch64 ] || return 0
    local reg=/proc/sys/fs/binfmt_misc/qemu-aarch64 interp version
    [ -r "$reg" ] || die "this is $(uname -m) and no qemu-aarch64 is registered in binfmt_misc: install qemu-user-static (QEMU >= $MIN_QEMU) and binfmt-support"
    interp=$(sed -n 's/^interpreter //p' "$reg")
    version=$("$(readlink -f "$interp")" --version 2>/dev/null | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
    echo "== emulated by $interp (QEMU ${version:-unknown})"
    if [ "${version%%.*}" -lt "$MIN_QEMU" ] 2>/dev/null && [ "$FORCE" -eq 0 ]; then
        die "QEMU $version is older than $MIN_QEMU: it crashes ai-edge-litert >= 2.3 in its CPU probe (install QEMU >= $MIN_QEMU, e.g. from bookworm-backports, or --force)"
    fi
}

# in_root: copy the wheel (and this script, common.sh, the wheelhouse) into the root and run the
# test there through chroot, with /proc, /sys and /dev mounted for the runtime and pip
in_root() {
    [ "$(id -u)" -eq 0 ] || die "--root needs root (chroot and mounts)"
    [ -x "$ROOT_DIR/usr/bin/python3" ] || die "$ROOT_DIR has no /usr/bin/python3 (apt install python3-venv in it first)"
    qemu_check
    local inner=/tmp/ecg-edge-smoke
    local stage=$ROOT_DIR$inner
    rm -rf "$stage"
    mkdir -p "$stage/bin"
    cp "$WHEEL" "$stage/"
    cp "$0" "$SCRIPT_DIR/common.sh" "$stage/bin/"
    local args=(--wheel "$inner/$(basename "$WHEEL")" --work "$inner/work")
    if [ -n "$OFFLINE_WHEELS" ]; then
        cp -r "$OFFLINE_WHEELS" "$stage/wheelhouse"
        args+=(--wheelhouse "$inner/wheelhouse")
    fi
    if [ ! -s "$ROOT_DIR/etc/resolv.conf" ] && [ -r /etc/resolv.conf ]; then
        cp /etc/resolv.conf "$ROOT_DIR/etc/resolv.conf"  # pip's downloads, unless --wheelhouse
    fi
    MOUNTED=()  # global: the EXIT trap runs after this function has returned
    trap 'for m in "${MOUNTED[@]}"; do umount "$m" || true; done' EXIT
    local m
    for m in proc sys dev; do  # the TFLite runtime's CPU probe reads /proc and /sys
        if ! mountpoint -q "$ROOT_DIR/$m"; then
            mkdir -p "$ROOT_DIR/$m"
            if [ "$m" = proc ]; then mount -t proc proc "$ROOT_DIR/proc"; else mount --bind "/$m" "$ROOT_DIR/$m"; fi
            MOUNTED=("$ROOT_DIR/$m" "${MOUNTED[@]}")
        fi
    done
    chroot "$ROOT_DIR" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
        /bin/bash "$inner/bin/$ME" "${args[@]}"
}

# on_this_system: the test itself (the board, or inside the chroot)
on_this_system() {
    [ "$(uname -m)" = aarch64 ] || echo "warning: this is $(uname -m), not aarch64" >&2
    # the provisioning script's choice of numpy for this release (common.sh sets its own
    # defaults, WHEELHOUSE, PREFIX...: this script's settings have other names)
    # shellcheck source=firmware_scripts/common.sh
    . "$SCRIPT_DIR/common.sh"
    read_os_release
    python_profile
    WORK=${WORK:-$(mktemp -d /tmp/ecg-edge-smoke.XXXXXX)}
    mkdir -p "$WORK/user"
    local t=$SECONDS
    python3 -m venv "$WORK/venv"
    local pip_opts=(--disable-pip-version-check -q)
    [ -z "$OFFLINE_WHEELS" ] || pip_opts+=(--no-index --find-links "$OFFLINE_WHEELS")
    "$WORK/venv/bin/pip" install "${pip_opts[@]}" "$(realpath "$WHEEL")[device]" "$NUMPY_CONSTRAINT"
    echo "== installed in $((SECONDS - t)) s: $("$WORK/venv/bin/python" -c 'import sys, numpy, ai_edge_litert.interpreter as i; print(sys.version.split()[0], "numpy", numpy.__version__)')"
    cd "$WORK/user"
    local bin=$WORK/venv/bin
    env -u ECG_EDGE_MODELS -u PYTHONPATH "$bin/ecg-edge" models
    t=$SECONDS
    env -u ECG_EDGE_MODELS -u PYTHONPATH "$bin/ecg-edge" demo --out demo
    echo "== demo took $((SECONDS - t)) s"
    env -u ECG_EDGE_MODELS -u PYTHONPATH "$bin/ecg-edge" classify demo/photo >/dev/null
    echo "== demo record: $(sha256sum demo/photo.dat | cut -d' ' -f1)  photo.dat ($(uname -m))"
    echo "== aarch64 smoke test passed in $WORK"
}

if [ -n "$ROOT_DIR" ]; then
    in_root
else
    on_this_system
fi
