#!/usr/bin/env bash
# Install ecg-edge on a Raspberry Pi (Raspberry Pi OS Bookworm, aarch64) with a Pi camera.
# Usage: sudo ./install-raspberry-pi.sh --signing-key model-signing.pub   (see --help)
# picamera2 and libcamera come from apt (they are not on PyPI for the Pi); the venv sees them
# through --system-site-packages. numpy stays below 2 so apt's compiled modules keep working.

# shellcheck source=firmware_scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CAMERA_SOURCE="picamera2"
parse_args "$@"

log "ecg-edge for Raspberry Pi OS Bookworm (prefix: ${PREFIX:-/}, dry run: $DRY_RUN)"
if [ -z "$PREFIX" ] && [ "$(uname -m)" != aarch64 ]; then
    echo "warning: this is $(uname -m), not aarch64; continuing" >&2
fi
apt_install python3 python3-venv python3-pip python3-picamera2 python3-libcamera libcamera-apps-lite \
    python3-numpy python3-pygame python3-gpiozero fonts-dejavu-core util-linux dosfstools exfatprogs
create_user video render input gpio i2c
install_files
install_venv "numpy<2"
install_factory_models

log "camera"
# Bookworm finds official cameras by itself when camera_auto_detect=1 is in config.txt.
set_config_line /boot/firmware/config.txt camera_auto_detect=1
enable_services
finish
