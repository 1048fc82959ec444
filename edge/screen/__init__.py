"""The device screen: one renderer that draws every screen as a BGR image with OpenCV
(`edge.screen.render`) and sinks that show it (`edge.screen.sinks`: headless PNG, pygame)."""

from .render import ResultView, Screens
from .sinks import HeadlessSink, NullSink, Sink, open_sink

__all__ = ["Screens", "ResultView", "HeadlessSink", "NullSink", "Sink", "open_sink"]
