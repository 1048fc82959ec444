"""Capture sources behind one small interface: cameras (picamera2, OpenCV/V4L2, GStreamer) and a
replay of recorded frames give a live preview plus full-resolution stills; the folder inbox hands
over files dropped by a scanner or a person, each processed once.

`open_source(spec, cfg)` builds one from a `kind[:argument]` spec (see `edge.config`)."""

from __future__ import annotations

from .base import BaseSource, Frame, Source
from .factory import open_source

__all__ = ["BaseSource", "Frame", "Source", "open_source"]
