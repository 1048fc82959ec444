"""A camera that survives being unplugged: opening is retried, a camera that stops sending
frames is closed and opened again, and meanwhile previews carry the error so the screen can say
what is wrong instead of going black (and systemd does not restart the daemon in a loop)."""

from __future__ import annotations

import logging
import time
from typing import Callable

from ..errors import BadInputError, EcgEdgeError
from .base import BaseSource, Frame, Source

log = logging.getLogger(__name__)


class ResilientCamera(BaseSource):
    live = True

    def __init__(
        self,
        opener: Callable[[], Source],
        name: str,
        *,
        retry_seconds: float = 5.0,
        stall_seconds: float = 5.0,
        first: Source | None = None,
        first_error: EcgEdgeError | None = None,
    ) -> None:
        self.opener = opener
        self.name = name
        self.retry_seconds = retry_seconds
        self.stall_seconds = stall_seconds
        self.inner: Source | None = first
        self.error: EcgEdgeError | None = first_error
        self._next_try = time.monotonic() + (retry_seconds if first_error else 0.0)
        self._last_ok = time.monotonic()

    def _ensure(self) -> None:
        now = time.monotonic()
        if self.inner is not None or now < self._next_try:
            return
        try:
            self.inner = self.opener()
            self.error = None
            self._last_ok = now
            log.info("camera %s is back", self.name)
        except EcgEdgeError as exc:
            self.error = exc
        except Exception as exc:  # driver errors of any kind
            self.error = BadInputError(
                "camera_unavailable",
                f"cannot open camera {self.name} ({exc})",
                "check the camera cable",
            )
        if self.inner is None:
            self._next_try = now + self.retry_seconds

    def _drop(self, why: EcgEdgeError) -> None:
        log.warning("camera %s: %s; reopening", self.name, why)
        try:
            if self.inner is not None:
                self.inner.close()
        except Exception:
            pass
        self.inner = None
        self.error = why
        self._next_try = time.monotonic() + self.retry_seconds

    def preview(self) -> Frame | None:
        self._ensure()
        if self.inner is None:
            time.sleep(0.2)  # nothing to show but the error: do not spin
            return Frame(image=None, name=self.name, error=self.error)
        try:
            f = self.inner.preview()
        except Exception as exc:
            self._drop(
                BadInputError(
                    "camera_failed", f"the camera failed ({exc})", "check the camera cable"
                )
            )
            return Frame(image=None, name=self.name, error=self.error)
        now = time.monotonic()
        if f is None or f.image is None:
            if now - self._last_ok > self.stall_seconds:
                self._drop(
                    BadInputError(
                        "camera_stalled",
                        "the camera stopped sending pictures",
                        "check the camera cable; reconnecting",
                    )
                )
                return Frame(image=None, name=self.name, error=self.error)
            return None
        self._last_ok = now
        return f

    def capture(self) -> Frame | None:
        if self.inner is None:
            return None
        try:
            return self.inner.capture()
        except Exception as exc:
            self._drop(BadInputError("camera_failed", f"the capture failed ({exc})", "try again"))
            return None

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
