"""The frame dataclass, the `Source` protocol every capture source meets and `BaseSource`, the\ndefaults sources build on."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import EcgEdgeError


@dataclass
class Frame:
    """One image from a source. `image` is BGR uint8 (None when it could not be decoded, then
    `error` says why); `data`/`ext` are the original encoded bytes kept as the record's capture;
    `path` is set for files from the inbox."""

    image: np.ndarray | None
    timestamp: float = field(default_factory=time.time)
    name: str = ""
    data: bytes | None = None
    ext: str = ".jpg"
    path: Path | None = None
    error: EcgEdgeError | None = None

    def encoded(self, quality: int = 95) -> tuple[bytes, str]:
        """The capture as stored: the original bytes, or a JPEG of the image."""
        if self.data is not None:
            return self.data, self.ext
        if self.image is None:
            raise ValueError("frame has neither data nor image")
        ok, buf = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("could not encode frame as JPEG")
        return buf.tobytes(), ".jpg"


class Source(Protocol):
    """What the daemon needs from a capture source. Live sources (`live = True`) give `preview()`
    frames continuously and take a full-resolution still on `capture()`. Inbox sources
    (`live = False`) give one capture per `next_capture()` and are told `done()`, `reject()` or
    `defer()` when it is dealt with; `idle()` says nothing more can be done right now."""

    live: bool
    name: str

    def preview(self) -> Frame | None: ...

    def capture(self) -> Frame | None: ...

    def next_capture(self) -> Frame | None: ...

    def done(self, frame: Frame, record_id: str) -> None: ...

    def reject(self, frame: Frame, reason: str) -> None: ...

    def defer(self, frame: Frame) -> None: ...

    def idle(self) -> bool: ...

    @property
    def exhausted(self) -> bool: ...

    def close(self) -> None: ...


class BaseSource:
    """Defaults for the `Source` protocol: sources subclass this and override what they do."""

    live: bool = True
    name: str = "source"

    def preview(self) -> Frame | None:
        """Latest low-resolution frame for guidance, or None if none is ready yet."""
        raise NotImplementedError

    def capture(self) -> Frame | None:
        """A full-resolution still (autofocus first where the camera has it)."""
        raise NotImplementedError

    def next_capture(self) -> Frame | None:
        """Inbox sources: the next waiting capture, or None when nothing is waiting."""
        return None

    def done(self, frame: Frame, record_id: str) -> None:
        """The capture was saved as `record_id`; inbox sources move it out of the inbox."""

    def reject(self, frame: Frame, reason: str) -> None:
        """The capture cannot make a record; inbox sources set it aside with the reason."""

    def defer(self, frame: Frame) -> None:
        """The capture could not be saved now (store full...): inbox sources retry it later."""

    def idle(self) -> bool:
        """True when nothing more can be done right now (every waiting capture is deferred)."""
        return True

    @property
    def exhausted(self) -> bool:
        """True when the source will never give another frame (end of a replay)."""
        return False

    def close(self) -> None:
        pass

    def __enter__(self) -> "BaseSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
