#!/usr/bin/env bash
# Install ecg-edge on an NVIDIA Jetson (JetPack 6, Ubuntu 22.04, aarch64) with a CSI or USB camera.
# Usage: sudo ./install-jetson.sh --signing-key model-signing.pub   (see --help)
# The CSI camera is read through GStreamer (nvarguscamerasrc): OpenCV must be the system build
# with GStreamer, so the pip wheel of opencv-python-headless is removed from the venv when the
# system cv2 has GStreamer support.

# shellcheck source=firmware_scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# CSI camera through libargus; a USB webcam instead: edit /etc/ecg-edge/config.toml to v4l2:/dev/video0
CAMERA_SOURCE="gst:nvarguscamerasrc ! video/x-raw(memory:NVMM),width=3264,height=2464,framerate=21/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1"
parse_args "$@"

log "ecg-edge for Jetson / JetPack 6 (prefix: ${PREFIX:-/}, dry run: $DRY_RUN)"
python_profile
if [ -z "$PREFIX" ] && [ ! -e /etc/nv_tegra_release ]; then
    echo "warning: /etc/nv_tegra_release not found; is this a Jetson with JetPack?" >&2
fi
apt_install python3 python3-venv python3-pip python3-opencv python3-numpy python3-gi python3-pygame \
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
    gir1.2-gstreamer-1.0 v4l-utils fonts-dejavu-core util-linux dosfstools exfatprogs
create_user video render input gpio i2c
install_files
install_venv "$NUMPY_CONSTRAINT"
link_command
install_factory_models

log "camera"
# pip's OpenCV has no GStreamer; JetPack's (system) OpenCV does. Prefer it when it works.
if [ "$INSTALL_PIP" -eq 1 ]; then
    if [ -n "$PREFIX" ]; then
        system "$VENV_DIR/bin/pip" uninstall -y opencv-python-headless
    elif /usr/bin/python3 -c 'import cv2, re, sys; sys.exit(not re.search(r"GStreamer:\s*YES", cv2.getBuildInformation()))' 2>/dev/null; then
        if "$VENV_DIR/bin/pip" show opencv-python-headless >/dev/null 2>&1; then
            act "$VENV_DIR/bin/pip" uninstall -y opencv-python-headless
        else
            printf 'ok: the venv uses the system OpenCV (with GStreamer)\n'
        fi
    else
        printf 'note: the system OpenCV has no GStreamer: the CSI camera needs it (apt install python3-opencv or nvidia-opencv)\n'
    fi
fi
# JetPack ships the unit; enabling it works offline too (chroot, --prefix root)
if [ "$ENABLE_SERVICES" -eq 0 ]; then
    printf 'skip: nvargus-daemon.service (--no-enable)\n'
elif command -v systemctl >/dev/null 2>&1 &&
    systemctl ${PREFIX:+--root="$PREFIX"} list-unit-files nvargus-daemon.service >/dev/null 2>&1; then
    enable_unit nvargus-daemon.service
else
    printf 'skip: nvargus-daemon.service is not installed (it comes with JetPack)\n'
fi
enable_services
finish
