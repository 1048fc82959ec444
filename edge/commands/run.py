"""`ecg-edge run`: the capture daemon (camera or inbox -> record -> screen), as started by systemd.

ecg-edge run [--config /etc/ecg-edge/config.toml] [--source folder:/path/inbox]
             [--display headless:/path/screen.png] [--data-root /path/store] [--exit-when-idle]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="TOML config file (default: /etc/ecg-edge/config.toml if present)"
    )
    parser.add_argument(
        "--source", help="folder:/path | replay:/path | picamera2 | v4l2:/dev/video0 | gst:PIPELINE"
    )
    parser.add_argument("--display", help="pygame | headless:/path/screen.png | none")
    parser.add_argument(
        "--data-root", help="record store directory (default /var/lib/ecg-edge/records)"
    )
    parser.add_argument("--trigger", choices=("auto", "button", "key"), help="what takes a capture")
    parser.add_argument("--layout", help="page layout if known (default: detect)")
    parser.add_argument(
        "--exit-when-idle",
        action="store_true",
        default=None,
        help="process what the inbox (or replay) holds, then exit",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings (file + defaults + flags) as JSON and exit",
    )


def run(args: argparse.Namespace) -> int:
    from edge.memory import limit_malloc_arenas

    limit_malloc_arenas()  # first, before numpy/OpenCV start worker threads
    from edge.config import apply_overrides, load_config
    from edge.errors import EcgEdgeError

    try:
        cfg = load_config(args.config)
        cfg = apply_overrides(
            cfg,
            source=args.source,
            display=args.display,
            data_root=args.data_root,
            exit_when_idle=args.exit_when_idle,
            trigger=args.trigger,
            layout=args.layout,
        )
        if args.print_config:
            import json

            from edge.config import to_dict

            print(json.dumps(to_dict(cfg), indent=2))
            return 0
        if not getattr(args, "verbose", False):
            logging.getLogger().setLevel(cfg.log_level.upper())
        from edge.daemon import Daemon, default_screen_path
        from edge.screen.sinks import open_sink
        from edge.sources import open_source
        from edge.store import RecordStore

        under_systemd = bool(os.environ.get("NOTIFY_SOCKET"))
        store = RecordStore(cfg.data_root)
        sink = open_sink(
            cfg.display.spec,
            cfg.display.width,
            cfg.display.height,
            cfg.display.fullscreen,
            default_png=default_screen_path(cfg),
            fallback=under_systemd,
        )
        # under systemd a missing camera is shown on the screen and retried, not a restart loop
        source = open_source(cfg.source.spec, cfg, resilient=under_systemd)
    except EcgEdgeError as exc:
        print(f"ecg-edge run: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        return Daemon(cfg, source, sink, store).run()
    finally:
        source.close()
        sink.close()
        store.close()
