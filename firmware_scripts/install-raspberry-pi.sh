#!/usr/bin/env bash
# Install ecg-edge on a Raspberry Pi (aarch64) with a Pi camera: Raspberry Pi OS Bookworm
# (Debian 12, Python 3.11) or Trixie (Debian 13, Python 3.13).
# Usage: sudo ./install-raspberry-pi.sh --signing-key model-signing.pub   (see --help)
# picamera2 and libcamera come from apt (they are not on PyPI for the Pi); the venv sees them
# through --system-site-packages. numpy stays the major version apt's compiled modules are built
# for: below 2 on Bookworm, 2 on Trixie (python_profile in common.sh).

# shellcheck source=firmware_scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CAMERA_SOURCE="picamera2"
parse_args "$@"

log "ecg-edge for Raspberry Pi OS (prefix: ${PREFIX:-/}, dry run: $DRY_RUN)"
python_profile
if [ -z "$PREFIX" ] && [ "$(uname -m)" != aarch64 ]; then
    echo "warning: this is $(uname -m), not aarch64; continuing" >&2
fi
case "$OS_CODENAME" in
    # the camera apps were renamed rpicam-apps; Bookworm still has the old name as a transition
    bookworm) CAMERA_APPS=libcamera-apps-lite ;;
    *) CAMERA_APPS=rpicam-apps-lite ;;
esac
apt_install python3 python3-venv python3-pip python3-picamera2 python3-libcamera "$CAMERA_APPS" \
    python3-numpy python3-pygame python3-gpiozero fonts-dejavu-core util-linux dosfstools exfatprogs
create_user video render input gpio i2c
install_files
install_venv "$NUMPY_CONSTRAINT"
link_command
install_factory_models

log "camera"
# Raspberry Pi OS finds official cameras by itself when camera_auto_detect=1 is in config.txt.
set_config_line /boot/firmware/config.txt camera_auto_detect=1
enable_services
finish
