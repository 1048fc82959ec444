"""Replay of recorded frames as if from a camera (tests, demos, debugging a field recording).

`replay:DIR` shows each image in DIR (sorted by name) as a held-still camera view for
`seconds_per_image` of virtual time; `replay:VIDEO` plays a video file frame by frame. Frame
timestamps advance by 1/fps per preview, so stillness and hold-time logic run in virtual time
and a replay is as fast as the processing allows."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from .base import BaseSource, Frame
from .decode import DEFAULT_MAX_PIXELS, decode_frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _resize_to_width(img: np.ndarray, width: int) -> np.ndarray:
    h, w = img.shape[:2]
    if w <= width:
        return img
    return cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


class ReplaySource(BaseSource):
    live = True

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float = 10.0,
        preview_width: int = 1280,
        seconds_per_image: float = 3.0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        start_time: float = 0.0,
    ) -> None:
        self.path = Path(path)
        self.name = f"replay:{self.path}"
        self.fps = fps
        self.preview_width = preview_width
        self.max_pixels = max_pixels
        self._t = start_time
        self._current: Frame | None = None
        self._video: cv2.VideoCapture | None = None
        self._files: list[Path] = []
        self._end = False
        if self.path.is_dir():
            self._files = sorted(
                p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            self._per_image = max(1, round(seconds_per_image * fps))
            self._i = -1
            self._left = 0
        elif self.path.is_file():
            self._video = cv2.VideoCapture(str(self.path))
            if not self._video.isOpened():
                raise BadInputError(
                    "replay_unreadable",
                    f"cannot open {self.path} as a video",
                    "give a folder of images or a video file OpenCV can read",
                )
        else:
            raise BadInputError(
                "replay_missing",
                f"replay source {self.path} does not exist",
                "give a folder of images or a video file",
            )

    def _next_full(self) -> Frame | None:
        ts = self._t
        if self._video is not None:
            ok, img = self._video.read()
            if not ok:
                return None
            return Frame(image=img, timestamp=ts, name=f"{self.path.stem}-{ts:.2f}")
        if self._left > 0 and self._current is not None:
            self._left -= 1
            f = self._current
            return Frame(
                image=f.image, timestamp=ts, name=f.name, data=f.data, ext=f.ext, error=f.error
            )
        self._i += 1
        if self._i >= len(self._files):
            return None
        p = self._files[self._i]
        self._left = self._per_image - 1
        f = decode_frame(
            p.read_bytes(), p.name, ext=p.suffix.lower(), max_pixels=self.max_pixels, timestamp=ts
        )
        self._current = f
        return f

    def preview(self) -> Frame | None:
        if self._end:
            return None
        f = self._next_full()
        self._t += 1.0 / self.fps
        if f is None:
            self._end = True
            return None
        self._current = f
        img = None if f.image is None else _resize_to_width(f.image, self.preview_width)
        return Frame(image=img, timestamp=f.timestamp, name=f.name, error=f.error)

    def capture(self) -> Frame | None:
        """The full-resolution frame behind the latest preview (the original file bytes if any)."""
        return self._current

    @property
    def exhausted(self) -> bool:
        return self._end

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
