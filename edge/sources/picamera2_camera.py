"""Raspberry Pi Camera Module through picamera2 (imported only when this source is used):
a preview stream for guidance and a full-resolution still with an autofocus cycle first on
modules that have autofocus (Camera Module 3)."""

from __future__ import annotations

import logging
import time

from ..errors import BadInputError
from .base import BaseSource, Frame

log = logging.getLogger(__name__)


class Picamera2Camera(BaseSource):
    live = True

    def __init__(
        self,
        *,
        preview_width: int = 1280,
        preview_height: int = 720,
        still_width: int = 0,
        still_height: int = 0,
        autofocus: bool = True,
        camera_num: int = 0,
    ) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise BadInputError(
                "no_picamera2",
                "picamera2 is not installed",
                "install it (sudo apt install python3-picamera2) or use --source v4l2:/dev/video0",
            ) from None
        self.name = "picamera2"
        try:
            self.cam = Picamera2(camera_num)
        except (IndexError, RuntimeError) as exc:
            raise BadInputError(
                "camera_unavailable",
                f"no Raspberry Pi camera found ({exc})",
                "check the ribbon cable and that the camera is enabled",
            ) from None
        # "RGB888" arrays are in B, G, R order: what OpenCV expects
        self.preview_cfg = self.cam.create_preview_configuration(
            main={"size": (preview_width, preview_height), "format": "RGB888"}
        )
        still_main: dict[str, object] = {"format": "RGB888"}
        if still_width and still_height:
            still_main["size"] = (still_width, still_height)
        self.still_cfg = self.cam.create_still_configuration(main=still_main)
        self.cam.configure(self.preview_cfg)
        self.has_af = autofocus and "AfMode" in self.cam.camera_controls
        self.cam.start()
        if self.has_af:
            from libcamera import controls

            self.cam.set_controls({"AfMode": controls.AfModeEnum.Continuous})
        log.info("picamera2 started (autofocus: %s)", self.has_af)

    def preview(self) -> Frame | None:
        img = self.cam.capture_array("main")
        return Frame(image=img[:, :, :3].copy(), timestamp=time.time(), name=self.name)

    def capture(self) -> Frame | None:
        if self.has_af:
            try:
                from libcamera import controls

                self.cam.set_controls({"AfMode": controls.AfModeEnum.Auto})
                if not self.cam.autofocus_cycle():
                    log.warning("autofocus did not converge; capturing anyway")
            except Exception as exc:  # a failed focus must not lose the capture
                log.warning("autofocus failed: %s", exc)
        img = self.cam.switch_mode_and_capture_array(self.still_cfg, "main")
        if self.has_af:
            from libcamera import controls

            self.cam.set_controls({"AfMode": controls.AfModeEnum.Continuous})
        return Frame(
            image=img[:, :, :3].copy(),
            timestamp=time.time(),
            name=f"picamera2-{time.strftime('%Y%m%d-%H%M%S')}",
        )

    def close(self) -> None:
        try:
            self.cam.stop()
        finally:
            self.cam.close()
