"""Device configuration: a TOML file validated at start (errors name the bad key), defaults that
let `ecg-edge run` work with no file, and command-line flags that override both.

Example `/etc/ecg-edge/config.toml`:

    data_root = "/var/lib/ecg-edge/records"
    [source]
    spec = "picamera2"            # folder:/path | replay:/path | picamera2 | v4l2:/dev/video0 | gst:PIPELINE
    [display]
    spec = "pygame"               # pygame | headless:/path/screen.png | none
    [capture]
    trigger = "auto"              # auto | button | key
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from .errors import BadInputError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 on older boards
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_CONFIG_PATH = "/etc/ecg-edge/config.toml"
SOURCE_KINDS = ("auto", "folder", "replay", "picamera2", "v4l2", "gst")
DISPLAY_KINDS = ("auto", "pygame", "headless", "none")
TRIGGERS = ("auto", "button", "key")


@dataclass
class SourceConfig:
    """Where captures come from. `spec` is `kind[:argument]` as on the command line."""

    spec: str = "auto"
    preview_width: int = 1280
    preview_height: int = 720
    still_width: int = 0  # 0 = the sensor's full resolution
    still_height: int = 0
    autofocus: bool = True
    fps: float = 10.0
    stable_seconds: float = (
        1.0  # folder inbox: a file must be unchanged this long before it is read
    )
    poll_seconds: float = 0.5


@dataclass
class DisplayConfig:
    """Where screens go. `spec` is `pygame`, `headless:/path/screen.png` or `none`."""

    spec: str = "auto"
    width: int = 800
    height: int = 480
    fullscreen: bool = True
    result_seconds: float = 30.0  # how long a result stays up before the preview returns


@dataclass
class CaptureConfig:
    """When a preview frame is good enough to take the full-resolution capture."""

    trigger: str = "auto"
    gpio_pin: int = 17
    hold_still_seconds: float = 1.0
    min_sharpness: float = 60.0  # variance of the Laplacian on the page, at preview scale
    min_brightness: float = 60.0  # mean grey level of the page, 0..255
    max_glare_fraction: float = 0.02  # share of saturated page pixels
    min_page_fraction: float = 0.25  # page area / frame area
    max_motion: float = 4.0  # mean absolute frame difference (grey levels) counted as still
    cooldown_seconds: float = 3.0


@dataclass
class ProcessingConfig:
    """Digitization and interpretation settings passed to `edge.digitize` / `edge.interpret`."""

    fs: int = 500
    layout: str = ""  # "" = detect
    models_dir: str = ""  # "" = the installed models
    trace_model: str = ""  # "" = classical trace finder
    interpret: bool = True
    min_confidence: float = 0.1  # below this digitization confidence no record is made
    min_leads: int = 6  # leads that must be read for a record to be made
    max_image_pixels: int = 60_000_000


@dataclass
class Config:
    data_root: str = "/var/lib/ecg-edge/records"
    inbox_done: str = ".done"  # folder source: where processed captures go (inside the inbox)
    inbox_rejected: str = ".rejected"  # folder source: captures that cannot make a record
    exit_when_idle: bool = False
    log_level: str = "info"
    source: SourceConfig = field(default_factory=SourceConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)

    @property
    def sync_status_path(self) -> Path:
        """Where the sync unit reports its outcome (`{"time", "state", "message"}`)."""
        return Path(self.data_root) / "sync-status.json"


def _err(where: str, key: str, problem: str, hint: str = "") -> BadInputError:
    text = f"{key} {problem}" if problem else key
    return BadInputError(
        "config_invalid", f"{where}: {text}", hint or "fix the key or remove it to use the default"
    )


def _coerce(value: Any, typ: Any, where: str, key: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise _err(where, key, f"must be true or false, got {value!r}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _err(where, key, f"must be an integer, got {value!r}")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _err(where, key, f"must be a number, got {value!r}")
    if typ is str:
        if isinstance(value, str):
            return value
        raise _err(where, key, f"must be a string, got {value!r}")
    raise TypeError(typ)  # pragma: no cover


def _fill(obj: Any, table: dict[str, Any], where: str, prefix: str = "") -> None:
    hints = get_type_hints(type(obj))
    known = {f.name for f in fields(obj)}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise _err(
                where,
                f"unknown key '{name}'",
                "",
                f"known keys{' in [' + prefix.rstrip('.') + ']' if prefix else ''}: "
                + ", ".join(sorted(known)),
            )
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, dict):
                raise _err(where, f"'{name}'", "must be a table ([" + name + "])")
            _fill(getattr(obj, key), value, where, f"{name}.")
        else:
            setattr(obj, key, _coerce(value, typ, where, f"'{name}'"))


def parse_source(spec: str) -> tuple[str, str]:
    """Split `kind[:argument]` and check the kind: `folder:/in` -> ("folder", "/in")."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in SOURCE_KINDS:
        raise BadInputError(
            "config_invalid",
            f"unknown source {spec!r}",
            "use folder:/path, replay:/path, picamera2, v4l2:/dev/video0 or gst:PIPELINE",
        )
    if kind in ("folder", "replay", "gst") and not arg:
        raise BadInputError(
            "config_invalid",
            f"source {kind!r} needs an argument",
            f"write it as {kind}:{'PIPELINE' if kind == 'gst' else '/path'}",
        )
    return kind, arg


def parse_display(spec: str) -> tuple[str, str]:
    """Split a display spec: `headless:/run/screen.png` -> ("headless", "/run/screen.png")."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in DISPLAY_KINDS:
        raise BadInputError(
            "config_invalid",
            f"unknown display {spec!r}",
            "use pygame, headless:/path/screen.png or none",
        )
    return kind, arg


def validate(cfg: Config, where: str = "config") -> Config:
    """Check values that types alone cannot (ranges, enumerations); raise naming the key."""
    parse_source(cfg.source.spec)
    parse_display(cfg.display.spec)
    if cfg.capture.trigger not in TRIGGERS:
        raise _err(
            where,
            "'capture.trigger'",
            f"must be one of {', '.join(TRIGGERS)}, got {cfg.capture.trigger!r}",
        )
    if cfg.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise _err(
            where, "'log_level'", f"must be debug, info, warning or error, got {cfg.log_level!r}"
        )
    positive = {
        "display.width": cfg.display.width,
        "display.height": cfg.display.height,
        "source.preview_width": cfg.source.preview_width,
        "source.preview_height": cfg.source.preview_height,
        "source.fps": cfg.source.fps,
        "processing.fs": cfg.processing.fs,
        "processing.max_image_pixels": cfg.processing.max_image_pixels,
    }
    for key, v in positive.items():
        if v <= 0:
            raise _err(where, f"'{key}'", f"must be positive, got {v!r}")
    non_negative = {
        "source.still_width": cfg.source.still_width,
        "source.still_height": cfg.source.still_height,
        "source.stable_seconds": cfg.source.stable_seconds,
        "source.poll_seconds": cfg.source.poll_seconds,
        "display.result_seconds": cfg.display.result_seconds,
        "capture.hold_still_seconds": cfg.capture.hold_still_seconds,
        "capture.cooldown_seconds": cfg.capture.cooldown_seconds,
        "capture.gpio_pin": cfg.capture.gpio_pin,
    }
    for key, v in non_negative.items():
        if v < 0:
            raise _err(where, f"'{key}'", f"must not be negative, got {v!r}")
    if not 0 <= cfg.capture.max_glare_fraction <= 1 or not 0 < cfg.capture.min_page_fraction <= 1:
        raise _err(
            where,
            "'capture.max_glare_fraction' / 'capture.min_page_fraction'",
            "must be fractions in 0..1",
        )
    if not 0 <= cfg.processing.min_confidence <= 1:
        raise _err(
            where,
            "'processing.min_confidence'",
            f"must be in 0..1, got {cfg.processing.min_confidence!r}",
        )
    if not 1 <= cfg.processing.min_leads <= 12:
        raise _err(
            where, "'processing.min_leads'", f"must be 1..12, got {cfg.processing.min_leads!r}"
        )
    if cfg.processing.layout:
        from .layouts import LAYOUTS

        if cfg.processing.layout not in LAYOUTS:
            raise _err(
                where,
                "'processing.layout'",
                f"must be empty (detect) or one of {', '.join(LAYOUTS)}, "
                f"got {cfg.processing.layout!r}",
            )
    if not cfg.data_root:
        raise _err(where, "'data_root'", "must not be empty")
    return cfg


def load_config(path: str | os.PathLike | None = None, *, required: bool | None = None) -> Config:
    """Read and validate a TOML config. With no path, `/etc/ecg-edge/config.toml` is used if it
    exists, else the defaults; a path given explicitly must exist."""
    cfg = Config()
    if path is None:
        path, required = DEFAULT_CONFIG_PATH, False if required is None else required
    p = Path(path)
    required = True if required is None else required
    if not p.exists():
        if required:
            raise BadInputError(
                "config_missing",
                f"config file {p} does not exist",
                "give an existing --config file or leave the option out to use defaults",
            )
        return validate(cfg)
    try:
        table = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(
            "config_invalid",
            f"{p}: not valid TOML ({exc})",
            "fix the syntax (strings need quotes, tables look like [display])",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            "config_unreadable", f"cannot read config {p}: {exc}", "check the file's permissions"
        ) from None
    _fill(cfg, table, str(p))
    return validate(cfg, str(p))


def apply_overrides(
    cfg: Config,
    *,
    source: str | None = None,
    display: str | None = None,
    data_root: str | None = None,
    exit_when_idle: bool | None = None,
    trigger: str | None = None,
    layout: str | None = None,
) -> Config:
    """Apply command-line flags on top of a loaded config and validate again."""
    if source:
        cfg.source.spec = source
    if display:
        cfg.display.spec = display
    if data_root:
        cfg.data_root = data_root
    if exit_when_idle is not None:
        cfg.exit_when_idle = exit_when_idle
    if trigger:
        cfg.capture.trigger = trigger
    if layout is not None:
        cfg.processing.layout = layout
    return validate(cfg, "command line")


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
