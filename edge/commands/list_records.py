"""`ecg-edge list`: the saved records and their sync state, newest last.

ecg-edge list [--data-root DIR] [--unsynced] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="config file (for data_root; default /etc/ecg-edge/config.toml)"
    )
    parser.add_argument("--data-root", help="record store directory (default: from the config)")
    parser.add_argument(
        "--unsynced", action="store_true", help="only records not yet copied to a stick"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def data_root(args: argparse.Namespace) -> str:
    from edge.config import load_config

    return args.data_root or load_config(args.config).data_root


def _summary(rec) -> tuple[str, str]:
    try:
        rep = rec.read_report()
    except (OSError, ValueError):
        return "-", "(report unreadable)"
    it = rep.get("interpretation") or {}
    hr = (it.get("measurements") or {}).get("heart_rate_bpm")
    summary = str(it.get("summary") or "").split(". ")[0]
    return ("-" if hr is None else f"{hr:.0f}"), summary


def run(args: argparse.Namespace) -> int:
    from edge.errors import EcgEdgeError
    from edge.store import RecordStore

    try:
        store = RecordStore(data_root(args), create=False, recover=False)
    except EcgEdgeError as exc:
        print(f"ecg-edge list: {exc}", file=sys.stderr)
        return exc.exit_code
    recs = store.unsynced() if args.unsynced else store.list()
    if args.json:
        for rec in recs:
            print(json.dumps(rec.to_dict()))
        return 0
    if not recs:
        print(f"no {'unsynced ' if args.unsynced else ''}records in {store.root}")
        return 0
    print(f"{'ID':<26}{'CREATED (UTC)':<21}{'STATE':<9}{'HR':>4}  SUMMARY")
    for rec in recs:
        hr, summary = _summary(rec)
        state = "synced" if rec.synced else rec.status
        print(
            f"{rec.id:<26}{rec.created_utc[:19].replace('T', ' '):<21}{state:<9}{hr:>4}  {summary[:60]}"
        )
    n_uns = sum(1 for r in recs if not r.synced and r.status == "saved")
    print(f"{len(recs)} record(s), {n_uns} not yet synced")
    return 0
