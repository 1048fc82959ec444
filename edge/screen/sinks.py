"""Where screens go: a headless sink that atomically writes the current screen as PNG (tests,
remote viewing, boxes without a panel) and a pygame full-screen sink (KMS/DRM console or X11),
which also reports key presses and touches as capture triggers."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from ..atomic import write_file_atomic
from ..config import parse_display
from ..errors import BadInputError

log = logging.getLogger(__name__)


HEADLESS_PREVIEW_INTERVAL_S = 1.0  # do not wear the SD card out writing preview PNGs


class Sink(Protocol):
    """What the daemon needs from a screen: show an image (with `info` saying what it shows, for
    sinks that publish it), report the user's capture and quit requests, and how often a live
    preview may be redrawn (`preview_interval_s`: 0 for a panel, more for a sink that writes
    files)."""

    preview_interval_s: float

    def show(self, image: np.ndarray) -> None: ...

    def show_info(self, image: np.ndarray, info: dict[str, Any]) -> None: ...

    def poll_trigger(self) -> bool: ...

    def poll_quit(self) -> bool: ...

    def close(self) -> None: ...


class NullSink:
    """Shows nothing (`--display none`); the base of the other sinks."""

    preview_interval_s: float = 0.0

    def show(self, image: np.ndarray) -> None:
        pass

    def show_info(self, image: np.ndarray, info: dict[str, Any]) -> None:
        """Show `image`; `info` (which screen, message, record id) is for sinks that publish it."""
        self.show(image)

    def poll_trigger(self) -> bool:
        """True if the user asked for a capture (key, touch) since the last call."""
        return False

    def poll_quit(self) -> bool:
        return False

    def close(self) -> None:
        pass


class HeadlessSink(NullSink):
    """Writes each screen to `path` (PNG, atomic rename) so a reader never sees half a file."""

    preview_interval_s = HEADLESS_PREVIEW_INTERVAL_S

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames = 0

    def show(self, image: np.ndarray) -> None:
        ok, buf = cv2.imencode(".png", image)
        if ok:
            write_file_atomic(self.path, buf.tobytes(), mode=0o644)
            self.frames += 1

    def show_info(self, image: np.ndarray, info: dict[str, Any]) -> None:
        """Write the PNG and, beside it, `<name>.json` saying what the screen shows (for remote
        monitoring and tests: which screen, the message, the record id)."""
        self.show(image)
        data = json.dumps({**info, "frame": self.frames, "time": time.time()}, default=str).encode()
        write_file_atomic(self.path.with_suffix(".json"), data, mode=0o644)


class PygameSink(NullSink):
    """Full screen with pygame: KMS/DRM (no desktop) when no X11/Wayland display is set."""

    def __init__(self, width: int = 800, height: int = 480, fullscreen: bool = True) -> None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("SDL_VIDEODRIVER", "kmsdrm")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
        except ImportError:
            raise BadInputError(
                "no_pygame",
                "pygame is not installed",
                "install it (pip install pygame) or use --display headless:/path/screen.png",
            ) from None
        self.pg = pygame
        try:
            pygame.display.init()
            flags = pygame.FULLSCREEN if fullscreen else 0
            self.surface = pygame.display.set_mode((0, 0) if fullscreen else (width, height), flags)
        except pygame.error as exc:
            raise BadInputError(
                "no_display",
                f"cannot open the screen ({exc})",
                "check the display cable, or run with --display headless:/path/screen.png",
            ) from None
        pygame.mouse.set_visible(False)
        self.size = self.surface.get_size()
        self._trigger = False
        self._quit = False

    def show(self, image: np.ndarray) -> None:
        pg = self.pg
        if image.shape[1::-1] != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        surf = pg.image.frombuffer(rgb.tobytes(), self.size, "RGB")
        self.surface.blit(surf, (0, 0))
        pg.display.flip()
        self._pump()

    def _pump(self) -> None:
        pg = self.pg
        for ev in pg.event.get():
            if ev.type == pg.QUIT:
                self._quit = True
            elif ev.type == pg.KEYDOWN:
                if ev.key in (pg.K_ESCAPE, pg.K_q):
                    self._quit = True
                elif ev.key in (pg.K_SPACE, pg.K_RETURN, pg.K_KP_ENTER):
                    self._trigger = True
            elif ev.type in (pg.MOUSEBUTTONDOWN, getattr(pg, "FINGERDOWN", -1)):
                self._trigger = True

    def poll_trigger(self) -> bool:
        self._pump()
        t, self._trigger = self._trigger, False
        return t

    def poll_quit(self) -> bool:
        return self._quit

    def close(self) -> None:
        self.pg.display.quit()


def open_sink(
    spec: str,
    width: int = 800,
    height: int = 480,
    fullscreen: bool = True,
    default_png: str | os.PathLike = "/run/ecg-edge/screen.png",
    fallback: bool = False,
) -> Sink:
    """Build the sink for a display spec; `auto` = pygame when a screen is attached, else headless.
    With `fallback` (under systemd) a screen that cannot be opened degrades to the headless PNG
    instead of failing, so captures keep being saved."""
    kind, arg = parse_display(spec)
    if kind == "auto":
        has_screen = (
            bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
            or os.path.exists("/dev/dri/card0")
            or os.path.exists("/dev/dri/card1")
        )
        if has_screen:
            try:
                return PygameSink(width, height, fullscreen)
            except BadInputError as exc:
                log.warning("no screen (%s); writing the screen to %s instead", exc, default_png)
        return HeadlessSink(default_png)
    if kind == "none":
        return NullSink()
    if kind == "headless":
        return HeadlessSink(arg or default_png)
    try:
        return PygameSink(width, height, fullscreen)
    except BadInputError as exc:
        if not fallback:
            raise
        log.error("%s; writing the screen to %s instead", exc, default_png)
        return HeadlessSink(default_png)
