"""`ecg-edge show ID`: one saved record - files and their integrity, the reading (measurements,
statements, class probabilities), the digitization quality and the sync state.

    ecg-edge show ID [--data-root DIR] [--json]      (ID may be a unique prefix; 'last' = newest)
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="record id, a unique prefix of one, or 'last'")
    parser.add_argument(
        "--config", help="config file (for data_root; default /etc/ecg-edge/config.toml)"
    )
    parser.add_argument("--data-root", help="record store directory (default: from the config)")
    parser.add_argument(
        "--json", action="store_true", help="print the record's index entry and report as JSON"
    )


def _find(store, key: str):
    from edge.errors import BadInputError

    recs = store.list()
    if key == "last" and recs:
        return recs[-1]
    exact = [r for r in recs if r.id == key]
    matches = exact or [r for r in recs if r.id.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise BadInputError(
            "record_unknown",
            f"no record {key!r} in {store.root}",
            "see the ids with 'ecg-edge list'",
        )
    raise BadInputError(
        "record_ambiguous",
        f"{key!r} matches {len(matches)} records",
        "give more of the id (see 'ecg-edge list')",
    )


def run(args: argparse.Namespace) -> int:
    from edge.commands.list_records import data_root
    from edge.errors import EcgEdgeError
    from edge.store import RecordStore

    try:
        store = RecordStore(data_root(args), create=False, recover=False)
        rec = _find(store, args.id)
    except EcgEdgeError as exc:
        print(f"ecg-edge show: {exc}", file=sys.stderr)
        return exc.exit_code
    problems = store.verify(rec.id)
    try:
        report = rec.read_report()
    except (OSError, ValueError) as exc:
        report, problems = {}, problems + [f"report.json unreadable ({exc})"]
    if args.json:
        print(
            json.dumps({"record": rec.to_dict(), "problems": problems, "report": report}, indent=2)
        )
        return 0 if not problems else 1
    dig = report.get("digitization") or {}
    it = report.get("interpretation") or {}
    m = it.get("measurements") or {}
    print(
        f"record   {rec.id}  ({rec.status}{', synced to ' + str(rec.synced_to) if rec.synced else ''})"
    )
    print(f"created  {rec.created_utc}")
    print(f"folder   {rec.path}")
    print(
        f"files    {', '.join(sorted(rec.sha256))}: {'intact' if not problems else '; '.join(problems)}"
    )
    cap = report.get("capture") or {}
    print(f"capture  {cap.get('name', '-')} from {report.get('source', '-')}")
    conf = dig.get("confidence")
    print(
        f"reading  layout {dig.get('layout', '-')}, {dig.get('speed_mm_s', '-')} mm/s, "
        f"{dig.get('gain_mm_mv', '-')} mm/mV, confidence {'-' if conf is None else f'{conf:.2f}'}"
    )
    lc = dig.get("lead_confidence") or {}
    if lc:
        print("leads    " + "  ".join(f"{k} {v:.2f}" for k, v in lc.items()))

    def f(key: str, unit: str = "ms") -> str:
        v = m.get(key)
        return "-" if v is None else f"{v} {unit}"

    print(
        f"rate     {f('heart_rate_bpm', 'bpm')}   PR {f('pr_ms')}   QRS {f('qrs_ms')}   QT {f('qt_ms')}   "
        f"QTc {f('qtc_ms')}   axis {f('axis_deg', 'deg')}"
    )
    for s in it.get("statements") or []:
        print(f"         - {s}")
    probs = it.get("probabilities") or {}
    if probs:
        print(
            "classes  "
            + "  ".join(f"{k} {v:.2f}" for k, v in sorted(probs.items(), key=lambda t: -t[1]))
        )
    if it.get("refused"):
        print(f"no class {it['refused']}")
    if it.get("summary"):
        print(f"summary  {it['summary']}")
    for w in dig.get("warnings") or []:
        print(f"warning  {w}")
    return 0 if not problems else 1
