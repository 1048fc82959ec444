"""Build a source from its `kind[:argument]` spec and the config."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..config import Config, parse_source
from .base import Source


def resolve_auto(cfg: Config) -> str:
    """`auto`: the Pi camera if picamera2 is installed, else /dev/video0 if present, else the
    folder inbox beside the data root."""
    if importlib.util.find_spec("picamera2") is not None:
        return "picamera2"
    if os.path.exists("/dev/video0"):
        return "v4l2:/dev/video0"
    return f"folder:{Path(cfg.data_root).parent / 'inbox'}"


def open_source(spec: str, cfg: Config | None = None, *, resilient: bool = False) -> Source:
    """Open the source for `spec`. With `resilient`, a camera that cannot be opened (or later
    stops) does not raise: previews carry the error and the camera is retried (see
    `edge.sources.resilient`); folder and replay sources always fail fast on bad settings."""
    cfg = cfg or Config()
    kind, arg = parse_source(spec)
    if kind == "auto":
        kind, arg = parse_source(resolve_auto(cfg))
    if resilient and kind in ("picamera2", "v4l2", "gst"):
        from ..errors import EcgEdgeError
        from .resilient import ResilientCamera

        def opener() -> Source:
            return _open(kind, arg, cfg)

        try:
            return ResilientCamera(opener, f"{kind}:{arg}" if arg else kind, first=opener())
        except EcgEdgeError as exc:
            return ResilientCamera(opener, f"{kind}:{arg}" if arg else kind, first_error=exc)
    return _open(kind, arg, cfg)


def _open(kind: str, arg: str, cfg: Config) -> Source:
    s, p = cfg.source, cfg.processing
    if kind == "folder":
        from .folder import FolderSource

        return FolderSource(
            arg,
            done_dir=cfg.inbox_done,
            rejected_dir=cfg.inbox_rejected,
            stable_seconds=s.stable_seconds,
            max_pixels=p.max_image_pixels,
        )
    if kind == "replay":
        from .replay import ReplaySource

        return ReplaySource(
            arg,
            fps=s.fps,
            preview_width=s.preview_width,
            max_pixels=p.max_image_pixels,
            seconds_per_image=max(3.0, cfg.capture.hold_still_seconds + 2.0),
        )
    if kind in ("v4l2", "gst"):
        from .opencv_camera import OpenCVCamera

        return OpenCVCamera(
            kind,
            arg,
            preview_width=s.preview_width,
            still_width=s.still_width,
            still_height=s.still_height,
        )
    from .picamera2_camera import Picamera2Camera

    return Picamera2Camera(
        preview_width=s.preview_width,
        preview_height=s.preview_height,
        still_width=s.still_width,
        still_height=s.still_height,
        autofocus=s.autofocus,
    )
