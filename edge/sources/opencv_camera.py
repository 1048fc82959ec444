"""Cameras through OpenCV: a V4L2 device (USB webcam, `v4l2:/dev/video0` or `v4l2:0`) or a
GStreamer pipeline ending in appsink (Jetson CSI camera, `gst:nvarguscamerasrc ! ... ! appsink`).

The camera is opened at the still resolution (full sensor by default); previews are the same
frames scaled down, so a capture needs no mode switch. A few frames are dropped before a still
so it is fresh, and the sharpest of them is kept."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from ..errors import BadInputError
from .base import BaseSource, Frame
from .replay import _resize_to_width

log = logging.getLogger(__name__)

JETSON_CSI_PIPELINE = (
    "nvarguscamerasrc ! video/x-raw(memory:NVMM),width=3264,height=2464,framerate=21/1 ! "
    "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
    "appsink drop=true max-buffers=1"
)


def gstreamer_available() -> bool:
    info = cv2.getBuildInformation()
    for line in info.splitlines():
        if "GStreamer" in line:
            return "YES" in line.upper()
    return False


def _sharpness(img: np.ndarray) -> float:
    """The preview's sharpness measure (edge.digitize.sharpness.laplacian_variance) at 800 px."""
    from ..digitize.sharpness import laplacian_variance

    return laplacian_variance(cv2.cvtColor(_resize_to_width(img, 800), cv2.COLOR_BGR2GRAY))


class OpenCVCamera(BaseSource):
    live = True

    def __init__(
        self,
        kind: str,
        target: str,
        *,
        preview_width: int = 1280,
        still_width: int = 0,
        still_height: int = 0,
        still_frames: int = 3,
    ) -> None:
        self.kind = kind
        self.name = f"{kind}:{target}"
        self.preview_width = preview_width
        self.still_frames = still_frames
        self._last: np.ndarray | None = None
        if kind == "gst":
            if not gstreamer_available():
                raise BadInputError(
                    "no_gstreamer",
                    "this OpenCV build has no GStreamer support",
                    "install the system OpenCV (python3-opencv) or use --source v4l2:/dev/video0",
                )
            self.cap = cv2.VideoCapture(target or JETSON_CSI_PIPELINE, cv2.CAP_GSTREAMER)
        else:
            dev: int | str = int(target) if target.isdigit() else (target or "/dev/video0")
            self.cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
        if not self.cap.isOpened():
            raise BadInputError(
                "camera_unavailable",
                f"cannot open camera {self.name}",
                "check the cable and that no other program uses the camera",
            )
        if kind == "v4l2":
            self.cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            # ask for a large size; the driver picks the closest it supports
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, still_width or 4096)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, still_height or 3072)
            self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            self.cap.set(cv2.CAP_PROP_AUTOFOCUS, 1)
        log.info(
            "camera %s open at %dx%d",
            self.name,
            int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )

    def _read(self) -> np.ndarray | None:
        ok, img = self.cap.read()
        if not ok or img is None:
            return None
        self._last = img
        return img

    def preview(self) -> Frame | None:
        img = self._read()
        if img is None:
            return None
        return Frame(
            image=_resize_to_width(img, self.preview_width), timestamp=time.time(), name=self.name
        )

    def capture(self) -> Frame | None:
        frames = [f for f in (self._read() for _ in range(self.still_frames)) if f is not None]
        if not frames:
            if self._last is None:
                return None
            frames = [self._last]
        best = max(frames, key=_sharpness)
        return Frame(
            image=best, timestamp=time.time(), name=f"{self.kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        )

    def close(self) -> None:
        self.cap.release()
