# shellcheck shell=bash
# Shared provisioning steps for install-raspberry-pi.sh and install-jetson.sh (sourced, not run).
#
# Every change goes through `act` (prints "+ command"; skipped with --dry-run). With --prefix DIR
# (or DESTDIR) files are installed under DIR and the steps that change the running system (apt,
# users, pip, udevadm, reloads) are printed as "skip (prefix): ..." - that is how the tests run it;
# units are still enabled inside DIR (`systemctl --root`, which works offline). Run inside a chroot
# (an SD-card image being built: no systemd as PID 1) it does everything but the live reloads.
# The numpy constraint and the apt packages follow the OS release (/etc/os-release of the target,
# or --os-release FILE). Each step checks before it acts, so running the script again changes nothing.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

DRY_RUN=0
PREFIX="${DESTDIR:-}"
SIGNING_KEY=""
SERVICE_USER="ecg-edge"
INSTALL_APT=1
INSTALL_PIP=1
ENABLE_SERVICES=1
WHEELHOUSE=""
DEVICE_ID=""
OS_RELEASE_FILE="${OS_RELEASE_FILE:-}"  # default: <prefix>/etc/os-release, else /etc/os-release

OPT_DIR=/opt/ecg-edge
VENV_DIR=$OPT_DIR/venv
LIB_DIR=/usr/local/lib/ecg-edge
ETC_DIR=/etc/ecg-edge
STATE_DIR=/var/lib/ecg-edge
DATA_ROOT=$STATE_DIR/records
MODELS_ROOT=$STATE_DIR/models
UNIT_DIR=/etc/systemd/system
UDEV_DIR=/etc/udev/rules.d
BIN_LINK=/usr/local/bin/ecg-edge  # the command on every shell's PATH

usage() {
    cat <<EOF
usage: $(basename "$0") [--dry-run] [--prefix DIR] [--signing-key FILE.pub] [--user NAME]
                         [--device-id ID] [--wheelhouse DIR] [--os-release FILE]
                         [--no-apt] [--no-pip] [--no-enable]

Installs ecg-edge on this board: apt packages, a venv (with system site packages) holding
'pip install .[device]', the service user, systemd units, the USB udev rule, the data root and
the model-signing public key. Safe to run again.

  --dry-run            print every action, change nothing
  --prefix DIR         install files under DIR (also: DESTDIR=DIR); system steps are skipped
  --signing-key FILE   Ed25519 public key (.pub from 'ecg-convert keygen') trusted for model updates
  --user NAME          service user (default ecg-edge)
  --device-id ID       name of this box on USB sticks (default: host name)
  --wheelhouse DIR     install Python packages offline from wheels in DIR
  --os-release FILE    the target's os-release (default: the prefix's /etc/os-release, else
                       /etc/os-release; also \$OS_RELEASE_FILE): picks Python, numpy and packages
  --no-apt / --no-pip  skip the apt / pip steps
  --no-enable          install units but do not enable or start them
EOF
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
            --prefix=*) PREFIX=${1#--prefix=} ;;
            --signing-key) SIGNING_KEY=${2:?--signing-key needs a file}; shift ;;
            --user) SERVICE_USER=${2:?--user needs a name}; shift ;;
            --device-id) DEVICE_ID=${2:?--device-id needs a value}; shift ;;
            --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs a directory}; shift ;;
            --os-release) OS_RELEASE_FILE=${2:?--os-release needs a file}; shift ;;
            --no-apt) INSTALL_APT=0 ;;
            --no-pip) INSTALL_PIP=0 ;;
            --no-enable) ENABLE_SERVICES=0 ;;
            -h|--help) usage; exit 0 ;;
            *) echo "$(basename "$0"): unknown option '$1' (see --help)" >&2; exit 2 ;;
        esac
        shift
    done
    if [ -n "$PREFIX" ]; then
        PREFIX=$(realpath -m "$PREFIX")
        if [ "$PREFIX" = / ]; then PREFIX=""; fi
    fi
    if [ -z "$PREFIX" ] && [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
        echo "$(basename "$0"): run as root (sudo), or use --dry-run / --prefix DIR" >&2
        exit 2
    fi
    if [ -n "$SIGNING_KEY" ] && ! grep -q "BEGIN PUBLIC KEY" "$SIGNING_KEY" 2>/dev/null; then
        echo "$(basename "$0"): $SIGNING_KEY is not a PEM public key: give the .pub file from 'ecg-convert keygen'" >&2
        exit 2
    fi
    if [[ ! "$SERVICE_USER" =~ ^[a-z_][a-z0-9_-]*$ ]]; then
        echo "$(basename "$0"): bad --user '$SERVICE_USER'" >&2
        exit 2
    fi
    read_os_release
}

# read_os_release: OS_ID, OS_CODENAME, OS_NAME of the system being provisioned
read_os_release() {
    local f=$OS_RELEASE_FILE
    if [ -z "$f" ]; then
        f=$(target /etc/os-release)
        [ -f "$f" ] || f=/etc/os-release
    fi
    if [ ! -r "$f" ]; then
        echo "$(basename "$0"): cannot read the OS release file $f (give --os-release FILE)" >&2
        exit 2
    fi
    os_field() { sed -n "s/^$1=//p" "$f" | head -n 1 | tr -d "\"'"; }
    OS_ID=$(os_field ID)
    OS_CODENAME=$(os_field VERSION_CODENAME)
    OS_NAME=$(os_field PRETTY_NAME)
    OS_NAME=${OS_NAME:-$OS_ID $OS_CODENAME}
}

# python_profile: PY_VERSION (the release's python3) and NUMPY_CONSTRAINT, the numpy the venv may
# hold beside apt's compiled modules (the venv sees them through --system-site-packages).
python_profile() {
    case "$OS_CODENAME" in
        # apt's python3-numpy 1.24; picamera2's simplejpeg and JetPack's OpenCV are built for numpy 1
        bookworm) PY_VERSION=3.11 NUMPY_CONSTRAINT="numpy<2" ;;
        jammy) PY_VERSION=3.10 NUMPY_CONSTRAINT="numpy<2" ;;
        noble) PY_VERSION=3.12 NUMPY_CONSTRAINT="numpy<2" ;;
        # apt's python3-numpy 2.2 and the modules built against it; numpy<2 has no cp313 wheel
        trixie) PY_VERSION=3.13 NUMPY_CONSTRAINT="numpy>=2" ;;
        *)
            echo "$(basename "$0"): $OS_NAME is not a release this script knows (Debian or Raspberry Pi OS bookworm or trixie, Ubuntu jammy or noble); give --os-release FILE of one of them" >&2
            exit 2
            ;;
    esac
    log "python $PY_VERSION on $OS_NAME: $NUMPY_CONSTRAINT beside apt's python3-numpy"
    if [ -z "$PREFIX" ] && command -v python3 >/dev/null 2>&1; then
        local have
        have=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        if [ "$have" != "$PY_VERSION" ]; then
            printf 'warning: python3 is %s, not the %s of %s\n' "$have" "$PY_VERSION" "$OS_NAME" >&2
        fi
    fi
}

log() { printf '%s\n' "== $*"; }

# act CMD...: run a command that changes the system (printed first; not run with --dry-run)
act() {
    printf '+ %s\n' "$*"
    if [ "$DRY_RUN" -eq 0 ]; then
        "$@"
    fi
}

# system CMD...: like act, but only on the real system (a --prefix install prints and skips it)
system() {
    if [ -n "$PREFIX" ]; then
        printf 'skip (prefix): %s\n' "$*"
    else
        act "$@"
    fi
}

# target PATH: PATH inside the install root
target() { printf '%s%s' "$PREFIX" "$1"; }

# chown_if_real OWNER PATH: set owners on the real system only (a fake root has no such user)
chown_if_real() {
    if [ -z "$PREFIX" ]; then
        act chown "$1" "$2"
    fi
}

# install_file SRC DST MODE: copy only when missing or different
install_file() {
    local src=$1 dst dst_rel=$2 mode=$3
    dst=$(target "$dst_rel")
    if [ -f "$dst" ] && cmp -s "$src" "$dst" && [ "$(stat -c %a "$dst")" = "${mode#0}" ]; then
        printf 'ok: %s\n' "$dst_rel"
        return
    fi
    act install -D -m "$mode" "$src" "$dst"
}

# install_text DST MODE: like install_file, content from stdin
install_text() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    install_file "$tmp" "$1" "$2"
    rm -f "$tmp"
}

# ensure_dir PATH MODE [OWNER]
ensure_dir() {
    local dst
    dst=$(target "$1")
    if [ -d "$dst" ] && [ "$(stat -c %a "$dst")" = "${2#0}" ]; then
        printf 'ok: %s/\n' "$1"
    else
        act install -d -m "$2" "$dst"
    fi
    if [ -n "${3:-}" ]; then
        chown_if_real "$3" "$dst"
    fi
}

apt_install() {
    [ "$INSTALL_APT" -eq 1 ] || { log "apt: skipped (--no-apt)"; return; }
    log "apt packages: $*"
    local missing=()
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        printf 'ok: all installed\n'
        return
    fi
    system apt-get update
    system env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

create_user() {
    log "service user $SERVICE_USER"
    if getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
        printf 'ok: user %s exists\n' "$SERVICE_USER"
    else
        system useradd --system --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin \
            --user-group "$SERVICE_USER"
    fi
    local g
    for g in "$@"; do
        if ! getent group "$g" >/dev/null 2>&1; then
            # ecg-edge.service names these groups; a missing one would stop it from starting
            system groupadd --system "$g"
            system usermod -a -G "$g" "$SERVICE_USER"
        elif id -nG "$SERVICE_USER" 2>/dev/null | tr ' ' '\n' | grep -qx "$g"; then
            printf 'ok: %s in group %s\n' "$SERVICE_USER" "$g"
        else
            system usermod -a -G "$g" "$SERVICE_USER"
        fi
    done
}

install_venv() {
    # $1: extra pip requirement(s) such as a numpy constraint, space separated
    log "python venv $VENV_DIR"
    if [ "$INSTALL_PIP" -eq 0 ]; then
        log "pip: skipped (--no-pip)"
        return
    fi
    if [ -x "$(target "$VENV_DIR")/bin/python" ]; then
        printf 'ok: venv exists\n'
    else
        system python3 -m venv --system-site-packages "$VENV_DIR"
    fi
    local pip_opts=(--disable-pip-version-check)
    if [ -n "$WHEELHOUSE" ]; then
        pip_opts+=(--no-index --find-links "$WHEELHOUSE")
    fi
    local extra=()
    if [ -n "${1:-}" ]; then
        read -r -a extra <<<"$1"
    fi
    # not editable: the built wheel carries the models and examples (setup.py), so the command
    # works from any shell and does not depend on this checkout staying where it is
    system "$VENV_DIR/bin/pip" install "${pip_opts[@]}" "${SRC_DIR}[device]" "${extra[@]}"
}

link_command() {
    local dst
    dst=$(target "$BIN_LINK")
    if [ "$(readlink "$dst" 2>/dev/null)" = "$VENV_DIR/bin/ecg-edge" ]; then
        printf 'ok: %s\n' "$BIN_LINK"
    elif [ -e "$dst" ] && [ ! -L "$dst" ]; then
        printf 'note: %s exists and is not ours: left alone\n' "$BIN_LINK"
    else
        act install -d -m 0755 "$(dirname "$dst")"
        act ln -sfn "$VENV_DIR/bin/ecg-edge" "$dst"
    fi
}

install_files() {
    log "files"
    ensure_dir "$ETC_DIR" 0755
    ensure_dir "$LIB_DIR" 0755
    ensure_dir "$STATE_DIR" 0700 "$SERVICE_USER:$SERVICE_USER"
    ensure_dir "$DATA_ROOT" 0700 "$SERVICE_USER:$SERVICE_USER"
    ensure_dir "$MODELS_ROOT" 0700 "$SERVICE_USER:$SERVICE_USER"
    install_file "$SCRIPT_DIR/ecg-edge-usb" "$LIB_DIR/ecg-edge-usb" 0755
    # the units' Documentation= points here
    if [ -f "$SRC_DIR/README.md" ]; then
        install_file "$SRC_DIR/README.md" "$OPT_DIR/README.md" 0644
    fi
    install_file "$SCRIPT_DIR/README.md" "$OPT_DIR/PROVISIONING.md" 0644

    local unit
    for unit in "$SRC_DIR"/systemd/*.service; do
        [ -e "$unit" ] || continue
        install_file "$unit" "$UNIT_DIR/$(basename "$unit")" 0644
    done
    local rules
    for rules in "$SRC_DIR"/systemd/*.rules; do
        [ -e "$rules" ] || continue
        install_file "$rules" "$UDEV_DIR/$(basename "$rules")" 0644
    done

    install_text /etc/default/ecg-edge 0644 <<EOF
# ecg-edge service environment (written by the installer; re-running it rewrites this file)
ECG_EDGE_BIN=$VENV_DIR/bin/ecg-edge
ECG_EDGE_USER=$SERVICE_USER
ECG_EDGE_MODELS=$MODELS_ROOT/current
ECG_EDGE_MODELS_ROOT=$MODELS_ROOT
ECG_EDGE_SIGNING_KEY=$ETC_DIR/model-signing.pub
EOF

    # Site settings are the clinic's: written once, never overwritten.
    if [ -e "$(target "$ETC_DIR/config.toml")" ]; then
        printf 'ok: %s (kept)\n' "$ETC_DIR/config.toml"
    else
        install_text "$ETC_DIR/config.toml" 0644 <<EOF
# ecg-edge device configuration (see docs). Written once by the installer.
data_root = "$DATA_ROOT"

[source]
spec = "$CAMERA_SOURCE"
EOF
    fi
    if [ -e "$(target "$ETC_DIR/sync.toml")" ]; then
        printf 'ok: %s (kept)\n' "$ETC_DIR/sync.toml"
    else
        install_text "$ETC_DIR/sync.toml" 0644 <<'EOF'
# ecg-edge USB sync settings. Written once by the installer.
# export = ["csv", "edf"]        # also write CSV / EDF beside the WFDB files
# [retention]                    # remove records from the box only once verified on a stick:
# max_age_days = 180             #   ... older than this
# keep_last = 2000               #   ... beyond the newest N records
EOF
    fi
    if [ -e "$(target "$ETC_DIR/device-id")" ]; then
        printf 'ok: %s (kept)\n' "$ETC_DIR/device-id"
    else
        # host name + start of the machine id: boxes that kept the stock host name stay apart on a stick
        local machine
        machine=$(head -c 8 "$(target /etc/machine-id)" 2>/dev/null || head -c 8 /etc/machine-id 2>/dev/null || true)
        local id=${DEVICE_ID:-$(hostname 2>/dev/null || echo ecg-edge)${machine:+-$machine}}
        id=$(printf '%s' "$id" | tr -c 'A-Za-z0-9._-' '-')
        printf '%s\n' "$id" | install_text "$ETC_DIR/device-id" 0644
    fi
    if [ -n "$SIGNING_KEY" ]; then
        install_file "$SIGNING_KEY" "$ETC_DIR/model-signing.pub" 0644
    elif [ -e "$(target "$ETC_DIR/model-signing.pub")" ]; then
        printf 'ok: %s (kept)\n' "$ETC_DIR/model-signing.pub"
    else
        printf 'note: no --signing-key given: model updates from USB are refused until %s exists\n' \
            "$ETC_DIR/model-signing.pub"
    fi
}

install_factory_models() {
    # The models shipped with the source become the first installed version (trusted: the
    # installer runs as root from the source tree); later updates come as signed bundles.
    log "models"
    local root
    root=$(target "$MODELS_ROOT")
    if [ -e "$root/current" ] || [ -L "$root/current" ]; then
        printf 'ok: models installed (%s)\n' "$(readlink "$root/current" 2>/dev/null || echo current)"
        return
    fi
    if [ ! -f "$SRC_DIR/models/manifest.json" ]; then
        printf 'note: no models/manifest.json in the source: install a signed bundle with ecg-edge update-models\n'
        return
    fi
    ensure_dir "$MODELS_ROOT/versions" 0700 "$SERVICE_USER:$SERVICE_USER"
    ensure_dir "$MODELS_ROOT/versions/factory" 0755 "$SERVICE_USER:$SERVICE_USER"
    local f
    for f in "$SRC_DIR"/models/*; do
        [ -f "$f" ] || continue
        case "$(basename "$f")" in
            *.tflite|*.json|*.md) install_file "$f" "$MODELS_ROOT/versions/factory/$(basename "$f")" 0644 ;;
        esac
    done
    act ln -sfn versions/factory "$root/current"
    if [ -z "$PREFIX" ]; then
        act chown -h "$SERVICE_USER:$SERVICE_USER" "$root/current"
    fi
}

# systemd_live: whether the system being provisioned runs systemd as PID 1 (sets NO_SYSTEMD_WHY
# when it does not: a --prefix root, a chroot such as an SD-card image being built, a container)
systemd_live() {
    if [ -n "$PREFIX" ]; then
        NO_SYSTEMD_WHY="prefix"
    elif command -v systemd-detect-virt >/dev/null 2>&1 && systemd-detect-virt --chroot >/dev/null 2>&1; then
        NO_SYSTEMD_WHY="chroot"
    elif [ ! -d /run/systemd/system ]; then
        NO_SYSTEMD_WHY="systemd is not running"
    else
        return 0
    fi
    return 1
}

# live CMD...: a command that only makes sense on a running system (a reload): run there,
# skipped - and said so - in a prefix, a chroot or a container
live() {
    if systemd_live; then
        act "$@"
    else
        printf 'skip (%s): %s\n' "$NO_SYSTEMD_WHY" "$*"
    fi
}

# enable_unit UNIT: `systemctl enable`, which needs no running systemd (offline it only makes the
# [Install] symlinks); inside a --prefix root through `systemctl --root`
enable_unit() {
    local sc=(systemctl)
    if [ -n "$PREFIX" ]; then
        sc+=(--root="$PREFIX")
    fi
    if "${sc[@]}" is-enabled --quiet "$1" 2>/dev/null; then
        printf 'ok: %s enabled\n' "$1"
    else
        act "${sc[@]}" enable "$1"
    fi
}

enable_services() {
    log "services"
    if [ "$ENABLE_SERVICES" -eq 0 ]; then
        log "enable: skipped (--no-enable)"
        return
    fi
    if ! command -v systemctl >/dev/null 2>&1; then
        printf 'skip: no systemctl on this system: enable ecg-edge.service on the box\n'
        return
    fi
    live systemctl daemon-reload
    live udevadm control --reload-rules
    if [ -e "$(target "$UNIT_DIR/ecg-edge.service")" ] || [ "$DRY_RUN" -eq 1 ]; then
        enable_unit ecg-edge.service
    fi
    if ! systemd_live; then
        printf 'note: units enabled offline (%s): they start on the next boot\n' "$NO_SYSTEMD_WHY"
    fi
}

# set_config_line FILE LINE: append LINE to FILE unless present (camera/boot settings)
set_config_line() {
    local file=$1 line=$2 dst
    dst=$(target "$file")
    if [ ! -f "$dst" ]; then
        printf 'skip: %s not found\n' "$file"
        return
    fi
    if grep -qxF "$line" "$dst"; then
        printf 'ok: %s has %s\n' "$file" "$line"
        return
    fi
    printf '+ append %s to %s\n' "$line" "$dst"
    if [ "$DRY_RUN" -eq 0 ]; then
        printf '%s\n' "$line" >>"$dst"
    fi
}

finish() {
    log "done$([ "$DRY_RUN" -eq 1 ] && echo ' (dry run: nothing was changed)')"
    if [ -z "$PREFIX" ] && [ "$DRY_RUN" -eq 0 ]; then
        echo "Reboot once so group membership and camera settings take effect."
    fi
}
