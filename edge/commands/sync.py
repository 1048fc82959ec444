"""`ecg-edge sync --to DIR`: copy unsynced records to a stick or directory, verify, mark synced.

Run by `ecg-edge-sync@.service` when a stick is plugged in, or by hand. Prints one line (or JSON)
and writes `<data_root>/sync-status.json` for the device screen. Exit 0 when every pending record
is on the target and verified, 1 when the target failed (full, read-only, removed) or a record
could not be verified, 2 for bad arguments."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.errors import EcgEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--to",
        dest="target",
        metavar="DIR",
        help="the stick's mount point or any directory (records go to DIR/ECG-EXPORT/<device id>/)",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="record store (default: data_root of the config, /var/lib/ecg-edge/records)",
    )
    parser.add_argument(
        "--config", default=None, help="device config TOML (default /etc/ecg-edge/config.toml)"
    )
    parser.add_argument(
        "--sync-config",
        default=None,
        help="sync settings TOML: device_id, export, [retention] (default /etc/ecg-edge/sync.toml)",
    )
    parser.add_argument(
        "--device-id",
        default=None,
        help="folder name for this device on the stick (default: /etc/ecg-edge/device-id or host name)",
    )
    parser.add_argument(
        "--export",
        default=None,
        metavar="FORMATS",
        help="also write these formats beside WFDB: csv, edf or csv,edf ('' for none)",
    )
    parser.add_argument(
        "--keep-days",
        type=float,
        default=None,
        help="retention: remove records verified on a stick and older than this many days",
    )
    parser.add_argument(
        "--keep-last",
        type=int,
        default=None,
        help="retention: keep at most this many records; only synced ones are removed",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="copy every record still on the device, also those already synced to another stick",
    )
    parser.add_argument(
        "--dest-label",
        default=None,
        help="name the target in the index as LABEL:ECG-EXPORT/... (the USB helper passes usb:<fs uuid>)",
    )
    parser.add_argument(
        "--status-file",
        default=None,
        help="where to write the outcome (default <data_root>/sync-status.json)",
    )
    parser.add_argument(
        "--no-final-status",
        action="store_true",
        help="leave the status 'busy' at the end; the caller writes the outcome (USB helper, after unmount)",
    )
    parser.add_argument(
        "--set-status",
        nargs=2,
        metavar=("STATE", "MESSAGE"),
        default=None,
        help="only write STATE (ok|error|busy) and MESSAGE to the status file (used by the USB helper)",
    )
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")


def _data_root(args: argparse.Namespace) -> str:
    if args.data_root:
        return args.data_root
    from edge.config import load_config

    return load_config(args.config).data_root


def run(args: argparse.Namespace) -> int:
    import signal

    from edge import sync

    # systemd stops the unit when the stick is pulled: unwind (temp files removed, lock released)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    try:
        root = _data_root(args)
        status_file = Path(args.status_file) if args.status_file else Path(root) / sync.STATUS_NAME
        if args.set_status:
            state, message = args.set_status
            if state not in ("ok", "error", "busy"):
                print(
                    "ecg-edge sync: --set-status STATE must be ok, error or busy", file=sys.stderr
                )
                return 2
            sync.write_status(status_file, state, message)
            return 0
        if not args.target:
            print(
                "ecg-edge sync: no target: give --to DIR (the stick's mount point)", file=sys.stderr
            )
            return 2
        settings = sync.load_settings(args.sync_config)
        export = sync.parse_export(args.export) if args.export is not None else settings.export
        rule = settings.retention
        if args.keep_days is not None or args.keep_last is not None:
            rule = sync.RetentionRule(max_age_days=args.keep_days, keep_last=args.keep_last)
        from edge.store import RecordStore

        store = RecordStore(root, create=False)
        try:
            res = sync.sync_records(
                store,
                args.target,
                device_id=args.device_id or settings.device_id or None,
                export=export,
                retention=rule,
                status_path=status_file,
                dest_label=args.dest_label,
                include_synced=args.all,
                final_status=not args.no_final_status,
            )
        finally:
            store.close()
    except EcgEdgeError as exc:
        try:
            if args.target and not args.set_status:
                sync.write_status(status_file, "error", exc.message, hint=exc.hint)
        except (OSError, UnboundLocalError):
            pass
        print(f"ecg-edge sync: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    for w in res.warnings:
        print(f"ecg-edge sync: warning: {w}", file=sys.stderr)
    if res.state == "ok":
        extra = (
            f"; removed {len(res.removed)} old synced records from the device"
            if res.removed
            else ""
        )
        if not args.json:
            print(
                f"{res.message} ({res.files_written} files written, {res.files_reused} already there, "
                f"{res.bytes_written / 1e6:.1f} MB, {res.seconds:.1f} s){extra}"
            )
        return 0
    for rid, why in res.failed.items():
        print(f"ecg-edge sync: record {rid}: {why}", file=sys.stderr)
    print(f"ecg-edge sync: {res.message}: {res.hint}", file=sys.stderr)  # last line: the summary
    return 1
