"""The capture daemon: preview -> page found, sharp, lit and still -> full-resolution capture ->
digitize -> interpret -> save -> result screen, from boot, offline.

A bad capture never stops the loop: it is logged, the screen shows what to do, and nothing is
saved from it (an inbox file moves to `.rejected/` with the reason; a file the source refuses is
moved before it is decoded). A reading that fails acceptance (`acceptance_for`, edge.acceptance) asks for a retake
and keeps the capture for review. A capture leaves the inbox only after its record is committed
to the store, so a crash at any moment loses nothing; on restart the store repairs itself and an
already-saved capture is recognised by its sha256. A save that fails (a full disk says "storage
full: sync to USB to free space") leaves the capture in the inbox for a retry.
Speaks the systemd notify protocol (READY, WATCHDOG, STATUS, STOPPING) over `$NOTIFY_SOCKET`."""

from __future__ import annotations

import dataclasses
import errno
import gc
import hashlib
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import __version__
from .acceptance import Acceptance, Verdict, explain_refusal, judge_reading, refuse_noise
from .config import Config
from .errors import BadInputError, EcgEdgeError
from .memory import trim_malloc
from .quality import Quality, QualityMeter, QualityThresholds, assess_frame
from .screen.render import ResultView, Screens
from .screen.sinks import Sink
from .sources.base import Frame, Source
from .store import RecordStore, StorageFullError, is_disk_full

if TYPE_CHECKING:
    from .digitize import DigitizeResult

log = logging.getLogger("ecg-edge.daemon")

BANNER_SECONDS = 30.0
CAMERA_PROBLEM_INTERVAL_S = 1.0  # redraw the camera-problem screen at most this often


# -- systemd ---------------------------------------------------------------------------------------
class Notifier:
    """sd_notify over the datagram socket systemd names in $NOTIFY_SOCKET (no-op without it)."""

    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "")
        self.addr = ("\0" + addr[1:]) if addr.startswith("@") else addr
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        self.watchdog_s = (
            int(usec) / 1e6 if usec.isdigit() and (not pid or pid == str(os.getpid())) else 0.0
        )
        self._last_ping = 0.0
        self._sock: socket.socket | None = None

    def send(self, msg: str) -> None:
        if not self.addr:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(msg.encode(), self.addr)
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def ping(self, force: bool = False) -> None:
        """WATCHDOG=1 at most every half watchdog period (or always with `force`)."""
        now = time.monotonic()
        if self.watchdog_s and (force or now - self._last_ping >= self.watchdog_s / 2):
            self.send("WATCHDOG=1")
            self._last_ping = now

    def stopping(self) -> None:
        self.send("STOPPING=1")


# -- one capture -> one record ---------------------------------------------------------------------
@dataclass
class Processed:
    """The outcome of processing one capture. `error` set = no record may be made from it."""

    result: DigitizeResult | None = None
    interpretation: dict[str, Any] | None = None
    report: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: EcgEdgeError | None = None
    guidance: list[str] = field(default_factory=list)


def _digitize(image: np.ndarray, cfg: Config) -> DigitizeResult:
    from .digitize import digitize

    p = cfg.processing
    kw: dict[str, Any] = {"fs": p.fs, "layout": p.layout or None}
    if p.trace_model:
        kw["trace_model"] = p.trace_model
    return digitize(image, **kw)


def _interpret(
    result: DigitizeResult, cfg: Config, confidence: float | None = None
) -> dict[str, Any]:
    """The interpretation of an accepted reading, at its acceptance confidence (the limb-lead
    laws folded in; computed here when the caller has not judged the reading)."""
    from .interpret import interpret

    p = cfg.processing
    it = interpret(
        result.signals,
        result.fs,
        list(result.lead_names),
        confidence=acceptance_for(result, cfg).confidence if confidence is None else confidence,
        models_dir=p.models_dir or None,
    )
    return it.to_dict()


def _guidance_for(image: np.ndarray | None, cfg: Config) -> list[str]:
    if image is None:
        return []
    try:
        return assess_frame(image, QualityThresholds.from_config(cfg.capture)).messages
    except Exception:  # guidance is best effort
        return []


def acceptance_for(result: DigitizeResult, cfg: Config) -> Acceptance:
    """Whether a reading may become a record (edge.acceptance, as the CLI judges it), with the
    device's own floors: its least lead count and least confidence (the laws' factor folded in)."""
    acc = judge_reading(result)
    if not acc.ok:
        return acc
    sig = np.asarray(result.signals, dtype=np.float64)
    present = int(np.isfinite(sig).any(axis=0).sum()) if sig.ndim == 2 else 0
    if present < cfg.processing.min_leads:
        why = f"only {present} of 12 leads could be read"
    elif not np.isfinite(acc.confidence) or acc.confidence < cfg.processing.min_confidence:
        why = f"the ECG could not be read reliably (confidence {acc.confidence:.2f})"
    else:
        return acc
    return dataclasses.replace(acc, verdict=Verdict.RETAKE, reason="unreadable_ecg", message=why)


def process_image(
    image: np.ndarray, cfg: Config, *, on_stage: Callable[[str], None] | None = None
) -> Processed:
    """Digitize and interpret one full-resolution capture. Never raises for bad input: the
    outcome's `error` says why no record may be made, `guidance` what the user should do."""
    out = Processed()
    t0 = time.perf_counter()
    try:
        if on_stage:
            on_stage("Reading the ECG")
        noise = refuse_noise(image)
        if noise is not None:
            raise noise
        try:
            result = _digitize(image, cfg)
        except BadInputError as exc:
            raise explain_refusal(exc, image) from None
        out.timings["digitize"] = time.perf_counter() - t0
        out.result = result
        acc = acceptance_for(result, cfg)
        if not acc.ok:
            raise acc.to_error()
    except EcgEdgeError as exc:
        out.error = exc
        out.guidance = _guidance_for(image, cfg)
        return out
    except MemoryError:
        out.error = BadInputError(
            "out_of_memory",
            "the image is too large for this device",
            "use the camera's normal resolution",
        )
        return out
    except Exception as exc:  # a digitizer bug must not stop the daemon or make a record
        log.exception("digitizer failed")
        out.error = EcgEdgeError(
            "digitizer_failed",
            f"the ECG could not be read ({type(exc).__name__}: {exc})",
            "try again; if it keeps failing, report it with the capture in .rejected/",
        )
        out.guidance = _guidance_for(image, cfg)
        return out
    if cfg.processing.interpret:
        t1 = time.perf_counter()
        if on_stage:
            on_stage("Interpreting")
        try:
            out.interpretation = _interpret(result, cfg, acc.confidence)
        except BadInputError as exc:  # the signals are not an ECG: no record
            out.error = exc
            out.guidance = _guidance_for(image, cfg)
            return out
        except ImportError:
            out.interpretation = None
        except Exception as exc:  # interpretation is an extra: the record is still kept
            log.exception("interpretation failed")
            out.interpretation = {
                "refused": f"interpretation failed ({type(exc).__name__})",
                "measurements": {},
                "statements": [],
                "probabilities": None,
                "labels": [],
                "summary": "",
            }
        out.timings["interpret"] = time.perf_counter() - t1
    return out


def save_failure_text(exc: BaseException, root: Path) -> str:
    """What the screen says when a record could not be saved: what to do, not an errno."""
    if isinstance(exc, EcgEdgeError):
        return str(exc)
    if is_disk_full(exc, root):
        return str(StorageFullError())
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return "storage is read-only: restart the box; if it persists, the SD card is failing"
    if isinstance(exc, OSError):
        return f"cannot write to storage ({exc.strerror or exc}): sync to USB and restart the box"
    return f"{type(exc).__name__}: {exc}"


def build_report(
    p: Processed, frame: Frame, source_name: str, quality: dict[str, Any] | None
) -> dict[str, Any]:
    r = p.result
    digitization: dict[str, Any] = {}
    if r is not None:
        try:
            digitization = r.to_dict()
        except Exception as exc:  # the record matters more than a complete summary
            log.warning("digitization summary unavailable: %s", exc)
            digitization = {"layout": r.layout, "confidence": r.confidence}
    for key in ("signals", "rectified", "overlay"):  # kept as files, not in the JSON
        digitization.pop(key, None)
    return {
        "schema": 1,
        "software": {"name": "ecg-edge", "version": __version__},
        "source": source_name,
        "capture": {"name": frame.name, "timestamp": frame.timestamp},
        "digitization": digitization,
        "interpretation": p.interpretation,
        "quality": quality,
        "timings_s": {k: round(v, 4) for k, v in p.timings.items()},
    }


def result_view(
    p: Processed, record_id: str | None, saved: bool, error: str | None = None
) -> ResultView:
    r, it = p.result, p.interpretation or {}
    return ResultView(
        record_id=record_id,
        saved=saved,
        signals=None if r is None else np.asarray(r.signals),
        fs=500.0 if r is None else float(r.fs),
        lead_names=[] if r is None else [str(n) for n in r.lead_names],
        lead_quality={} if r is None else dict(r.lead_confidence or {}),
        confidence=None if r is None else float(r.confidence),
        measurements=dict(it.get("measurements") or {}),
        statements=ResultView.statement_texts(it.get("statements")),
        probabilities=dict(it.get("probabilities") or {}),
        labels=list(it["labels"])
        if it.get("probabilities") and it.get("labels") is not None
        else None,
        summary=str(it.get("summary") or ""),
        refused=it.get("refused"),
        warnings=[] if r is None else list(r.warnings or []),
        error=error,
    )


# -- the loop --------------------------------------------------------------------------------------
class Daemon:
    """Runs the capture loop until SIGTERM, the user quits, or (with `exit_when_idle`) nothing is
    left to process."""

    def __init__(
        self,
        cfg: Config,
        source: Source,
        sink: Sink,
        store: RecordStore,
        notifier: Notifier | None = None,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.sink = sink
        self.store = store
        self.notify = notifier or Notifier()
        self.screens = Screens(cfg.display.width, cfg.display.height)
        self.meter = QualityMeter(QualityThresholds.from_config(cfg.capture))
        self.stop = False
        self.stats = {"saved": 0, "rejected": 0, "deferred": 0, "duplicates": 0}
        self._banner: tuple[str, str] | None = None
        self._banner_until = 0.0
        self._sync_key: tuple | None = None
        self._sync_mtime: float | None = None
        self._result_until = 0.0
        self._armed = True
        self._last_capture = -1e9
        self._last_preview_show = 0.0
        self._button: Any = None  # gpiozero.Button when a capture button is wired
        self._button_pressed = False
        self._static: tuple[Callable[[Any], np.ndarray], dict[str, Any]] | None = None
        self._static_banner: tuple[str, str] | None = None
        # optional callback(record_id or None) after each capture (bench, tools)
        self.on_capture: Callable[[str | None], None] | None = None

    # -- plumbing ---------------------------------------------------------------------------------
    def _signal(self, signum, _frame) -> None:
        log.info(
            "received %s; finishing the current capture and exiting", signal.Signals(signum).name
        )
        self.stop = True

    def _show_static(self, draw, info: dict[str, Any]) -> None:
        """Show a screen that stays up (result, guidance, idle); it is redrawn by `draw(banner)`
        whenever the sync banner appears, changes or expires."""
        self._static = (draw, info)
        self._static_banner = self._refresh_banner()
        self._show(draw(self._static_banner), info)

    def _redraw_if_banner_changed(self) -> None:
        banner = self._refresh_banner()
        if self._static is not None and banner != self._static_banner:
            self._static_banner = banner
            draw, info = self._static
            self._show(draw(banner), info)

    def _show(self, image: np.ndarray, info: dict[str, Any]) -> None:
        if info.get("screen") in ("preview", "processing"):
            self._static = None
        info = {**info, "banner": list(self._banner) if self._banner else None}
        try:
            self.sink.show_info(image, info)
        except Exception as exc:  # a broken screen must not stop captures
            log.warning("screen update failed: %s", exc)

    def _refresh_banner(self) -> tuple[str, str] | None:
        """The sync unit's latest outcome, shown for BANNER_SECONDS after it changes."""
        path = self.cfg.sync_status_path
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime is not None and mtime != self._sync_mtime:
            self._sync_mtime = mtime
            try:
                st = json.loads(path.read_text(encoding="utf-8"))
                key = (st.get("time"), st.get("state"), st.get("message"))
                if key != self._sync_key:
                    first = self._sync_key is None
                    self._sync_key = key
                    age = time.time() - mtime
                    if not first or age < BANNER_SECONDS:
                        self._banner = (
                            str(st.get("state") or "info"),
                            str(st.get("message") or ""),
                        )
                        self._banner_until = (
                            time.monotonic() + BANNER_SECONDS - (age if first else 0.0)
                        )
            except (OSError, ValueError, AttributeError) as exc:
                log.debug("unreadable sync status: %s", exc)
        if self._banner and time.monotonic() > self._banner_until:
            self._banner = None
        return self._banner

    def _setup_button(self) -> None:
        if self.cfg.capture.trigger != "button":
            return
        try:
            from gpiozero import Button

            self._button = Button(self.cfg.capture.gpio_pin, bounce_time=0.05)
            self._button.when_pressed = lambda: setattr(self, "_button_pressed", True)
            log.info("capture button on GPIO %d", self.cfg.capture.gpio_pin)
        except Exception as exc:
            log.warning("no GPIO button (%s); capturing automatically when the page is ready", exc)
            self.cfg.capture.trigger = "auto"

    def warm_up(self) -> None:
        """Import the pipeline before READY=1 so the first capture is as fast as the rest."""
        t = time.perf_counter()
        for name in ("edge.digitize", "edge.interpret", "wfdb"):
            try:
                __import__(name)
            except Exception as exc:  # reported when a capture needs it
                log.warning("cannot load %s: %s", name, exc)
        log.info("pipeline loaded in %.1f s", time.perf_counter() - t)

    # -- capture processing ------------------------------------------------------------------------
    def handle_capture(self, frame: Frame, quality: dict[str, Any] | None = None) -> str | None:
        """Process one capture end to end; return the record id, or None if none was saved."""
        banner = self._refresh_banner()
        self.notify.ping()
        existing = self._already_saved(frame)
        if existing:
            return existing
        if frame.error is not None or frame.image is None:  # refused before any decoding
            err = frame.error or BadInputError(
                "no_image", "the camera returned no image", "try again"
            )
            self._reject(frame, err, [])
            return None
        data, ext = frame.encoded()
        self.notify.status(f"processing {frame.name}")
        thumb = frame.image

        def on_stage(step: str) -> None:
            self.notify.ping()
            self._show(
                self.screens.processing(thumb, step, banner), {"screen": "processing", "step": step}
            )

        p = process_image(frame.image, self.cfg, on_stage=on_stage)
        self.notify.ping()
        if p.error is not None:
            self._reject(frame, p.error, p.guidance)
            return None
        if quality is None:  # inbox captures: record how the photo looked, for later review
            quality = self._photo_quality(frame.image)
        report = build_report(p, frame, self.source.name, quality)
        rid = self._save_record(frame, p, report, data, ext)
        if rid is None:
            return None
        self._show_saved(frame, p, rid)
        return rid

    def _already_saved(self, frame: Frame) -> str | None:
        """The record id if this capture's bytes were saved before (a crash or a restart came
        between saving and the hand-over): the hand-over is finished and the id returned."""
        if frame.data is None:
            return None
        existing = self.store.find_capture(hashlib.sha256(frame.data).hexdigest())
        if existing:  # saved before a crash or a restart: just finish the hand-over
            log.info("%s is already saved as %s", frame.name, existing)
            self._hand_over(frame, lambda: self.source.done(frame, existing))
            self.stats["duplicates"] += 1
            return existing
        return None

    def _photo_quality(self, image: np.ndarray) -> dict[str, Any] | None:
        """How the photo looked (sharpness, exposure, page), or None if it cannot be assessed."""
        try:
            return assess_frame(image, QualityThresholds.from_config(self.cfg.capture)).to_dict()
        except Exception:
            return None

    def _save_record(
        self, frame: Frame, p: Processed, report: dict[str, Any], data: bytes, ext: str
    ) -> str | None:
        """Save the reading as a record; on failure keep the capture for a retry, say so on the
        screen and return None."""
        r = p.result
        assert r is not None  # no error: process_image made a reading
        try:
            t = time.perf_counter()
            log.info("saving the record for %s", frame.name)  # fault tests look for this line
            rid = self.store.save(
                signals=r.signals,
                fs=r.fs,
                lead_names=list(r.lead_names),
                report=report,
                capture=data,
                capture_ext=ext,
                rectified=r.rectified,
                overlay=r.overlay,
            )
            p.timings["save"] = time.perf_counter() - t
        except Exception as exc:  # disk full, read-only medium...: keep the capture for a retry
            log.error("could not save the record for %s: %s", frame.name, exc)
            self.stats["deferred"] += 1
            self.source.defer(frame)
            msg = f"NOT SAVED: {save_failure_text(exc, self.store.root)}"
            view = result_view(p, None, False, msg)
            self._show_static(
                lambda b: self.screens.result(view, b),
                {"screen": "result", "saved": False, "record_id": None, "error": msg},
            )
            self._result_until = time.monotonic() + self.cfg.display.result_seconds
            return None
        return rid

    def _show_saved(self, frame: Frame, p: Processed, rid: str) -> None:
        """Hand the saved capture over, count it, log it and show the result screen."""
        self._hand_over(frame, lambda: self.source.done(frame, rid))
        self.stats["saved"] += 1
        log.info(
            "saved %s from %s (%s)",
            rid,
            frame.name,
            ", ".join(f"{k} {v:.2f}s" for k, v in p.timings.items()),
        )
        view = result_view(p, rid, True)
        self._show_static(
            lambda b: self.screens.result(view, b),
            {
                "screen": "result",
                "saved": True,
                "record_id": rid,
                "summary": (p.interpretation or {}).get("summary"),
            },
        )
        self._result_until = time.monotonic() + self.cfg.display.result_seconds
        self.notify.status(f"saved {rid}; {self.stats['saved']} saved this run")

    def _hand_over(self, frame: Frame, move) -> None:
        """Move a capture out of the inbox; if that fails (permissions, full disk) leave it there
        and do not look at it again for a while, instead of reprocessing it in a loop."""
        try:
            move()
        except OSError as exc:
            log.error("could not move %s out of the inbox: %s", frame.name, exc)
            self.source.defer(frame)

    def _release_memory(self) -> None:
        """Hand the big per-capture buffers back to the OS: without this, glibc keeps freed
        heap pages (and its per-thread arenas grow), so RSS creeps up over hundreds of captures."""
        gc.collect()
        trim_malloc()

    def safe_handle(self, frame: Frame, quality: dict[str, Any] | None = None) -> str | None:
        """`handle_capture` that survives its own bugs: an unexpected error sets the capture aside
        (so a poison file cannot crash the daemon in a restart loop) and the loop goes on."""
        try:
            rid = self.handle_capture(frame, quality)
        except Exception as exc:
            log.exception("internal error while processing %s", frame.name)
            rid = None
            try:
                self._reject(
                    frame,
                    EcgEdgeError(
                        "internal_error",
                        f"internal error ({type(exc).__name__}: {exc})",
                        "the capture was kept in .rejected/; please report it",
                    ),
                    [],
                )
            except Exception:
                log.exception("could not set %s aside", frame.name)
        del frame
        self._release_memory()
        if self.on_capture:
            self.on_capture(rid)
        return rid

    def _reject(self, frame: Frame, err: EcgEdgeError, guidance: list[str]) -> None:
        hint = err.hint or "retake the photo"
        tips = [g for g in guidance if g]
        detail = hint if not tips else f"{' / '.join(tips)}. {hint[0].upper() + hint[1:]}"
        reason = f"{err.message}: {hint}" + (f" [guidance: {'; '.join(tips)}]" if tips else "")
        log.warning("no record from %s: %s", frame.name, reason)
        self.stats["rejected"] += 1
        self._hand_over(frame, lambda: self.source.reject(frame, reason))
        title, thumb = err.message[:1].upper() + err.message[1:], frame.image
        self._show_static(
            lambda b: self.screens.message(title, detail, "guidance", b, thumb),
            {
                "screen": "guidance",
                "code": err.code,
                "message": err.message,
                "hint": hint,
                "guidance": tips,
            },
        )
        self._result_until = time.monotonic() + min(self.cfg.display.result_seconds, 8.0)

    # -- loop steps ----------------------------------------------------------------------------------
    def _inbox_step(self) -> bool:
        """Process one waiting file; False when there was nothing to do."""
        frame = self.source.next_capture()
        if frame is None:
            return False
        self.safe_handle(frame)
        return True

    def _live_step(self) -> bool:
        """One preview frame: guidance on screen, and a capture when the page is ready."""
        cap = self.cfg.capture
        frame = self.source.preview()
        if frame is None:
            return False
        now = time.monotonic()
        user_trigger = self.sink.poll_trigger() or self._button_pressed
        self._button_pressed = False
        if now < self._result_until and user_trigger:  # a tap on the result dismisses it
            self._result_until = 0.0
            self.meter.reset()
            return True
        if now < self._result_until:
            self._watch_under_result(frame)
            return True
        if frame.image is None:
            self._show_camera_problem(frame, now)
            return True
        q = self.meter.assess(frame.image, frame.timestamp)
        if not q.page_found or (q.motion or 0) > 3 * cap.max_motion:
            self._armed = True
        auto_ready = (
            cap.trigger == "auto"
            and self._armed
            and q.ok
            and q.still_seconds >= cap.hold_still_seconds
            and frame.timestamp - self._last_capture >= cap.cooldown_seconds
        )
        if auto_ready or user_trigger:
            self._capture_now(frame, q)
            return True
        self._show_guidance(frame, q, now)
        return True

    def _watch_under_result(self, frame: Frame) -> None:
        """While the result stays up, watch for the page leaving to re-arm the auto capture."""
        self._redraw_if_banner_changed()
        if frame.image is not None:
            q = self.meter.assess(frame.image, frame.timestamp)
            if not q.page_found or (q.motion or 0) > 3 * self.cfg.capture.max_motion:
                self._armed = True

    def _show_camera_problem(self, frame: Frame, now: float) -> None:
        """The camera gave no picture: say so on the screen, at most every few seconds."""
        if now - self._last_preview_show < CAMERA_PROBLEM_INTERVAL_S:
            return
        self._last_preview_show = now
        err = frame.error
        self._show(
            self.screens.message(
                "Camera problem",
                str(err or "no picture from the camera"),
                "error",
                self._refresh_banner(),
            ),
            {
                "screen": "error",
                "code": getattr(err, "code", None),
                "message": str(err or ""),
            },
        )
        self.notify.status(f"camera problem: {err}")

    def _capture_now(self, frame: Frame, q: Quality) -> None:
        """Show "Capturing...", take the still and process it; the page must leave to re-arm."""
        self._show(
            self.screens.preview(
                frame.image, q.outline, "Capturing...", True, 1.0, self._refresh_banner()
            ),
            {"screen": "preview", "capturing": True},
        )
        still = self.source.capture()
        self._last_capture = frame.timestamp
        self._armed = False
        if still is not None:
            self.safe_handle(still, q.to_dict())
        self.meter.reset()

    def _show_guidance(self, frame: Frame, q: Quality, now: float) -> None:
        """The preview with its guidance message, no more often than the screen can show it."""
        cap = self.cfg.capture
        hold = cap.hold_still_seconds
        msg = q.message if cap.trigger == "auto" or not q.ok else "Press the button to capture"
        if now - self._last_preview_show < self.sink.preview_interval_s:
            return
        self._last_preview_show = now
        self._show(
            self.screens.preview(
                frame.image,
                q.outline,
                msg,
                q.ok and q.still_seconds > 0,
                q.still_seconds / hold if hold else 1.0,
                self._refresh_banner(),
            ),
            {"screen": "preview", "message": msg, "quality": q.to_dict()},
        )

    def run(self) -> int:
        """The main loop; returns the process exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                signal.signal(sig, self._signal)
            except ValueError:  # not in the main thread (embedded use)
                pass
        self._setup_button()
        self.warm_up()
        idle_shown = False
        self.notify.ready(f"source {self.source.name}, store {self.store.root}")
        log.info(
            "ecg-edge %s running: source %s, data root %s",
            __version__,
            self.source.name,
            self.store.root,
        )
        poll = self.cfg.source.poll_seconds
        try:
            while not self.stop and not self.sink.poll_quit():
                self.notify.ping()
                self._refresh_banner()
                if self.source.live:
                    did = self._live_step()
                    if not did:
                        if self.source.exhausted:
                            log.info("source ended")
                            break
                        time.sleep(0.05)
                    continue
                did = self._inbox_step()
                if did:
                    idle_shown = False
                    continue
                if self.cfg.exit_when_idle and self.source.idle():
                    break
                if not idle_shown and time.monotonic() >= self._result_until:
                    self._show_static(
                        lambda b: self.screens.idle("Waiting for a printout in the inbox.", b),
                        {"screen": "idle"},
                    )
                    idle_shown = True
                self._redraw_if_banner_changed()
                time.sleep(poll)
        finally:
            self.notify.stopping()
            log.info("stopping: %s", ", ".join(f"{k} {v}" for k, v in self.stats.items()))
        # batch use: a capture that could not be saved (left in the inbox) is a failure
        return 1 if self.stats["deferred"] else 0


def sync_status_now(state: str, message: str) -> dict[str, Any]:  # helper for tests and tools
    return {"time": datetime.now(timezone.utc).isoformat(), "state": state, "message": message}


def default_screen_path(cfg: Config) -> Path:
    """Where a headless screen goes by default: the service's runtime dir (tmpfs: no SD card
    wear) when it exists, else beside the data root."""
    run_dir = Path(os.environ.get("RUNTIME_DIRECTORY", "/run/ecg-edge").split(":")[0])
    if run_dir.is_dir() and os.access(run_dir, os.W_OK):
        return run_dir / "screen.png"
    return Path(cfg.data_root).parent / "screen.png"
