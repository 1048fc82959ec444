"""`ecg-edge` command line: a thin dispatcher to one module per subcommand.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`.
Only the module of the command being run is imported, so start-up stays fast on a Pi and a broken
optional part (say, pygame missing) cannot stop `ecg-edge digitize` from working.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("edge.commands.demo", "digitize and interpret the bundled example photo"),
    "digitize": ("edge.commands.digitize", "photo/scan of a printout -> 12-lead WFDB record"),
    "classify": (
        "edge.commands.classify",
        "measurements, statements and classes for a WFDB record",
    ),
    "run": ("edge.commands.run", "the capture daemon: camera/inbox -> record -> screen"),
    "bench": ("edge.commands.bench", "per-stage latency and peak memory on this device"),
    "list": ("edge.commands.list_records", "list saved records and their sync state"),
    "show": ("edge.commands.show", "show one saved record"),
    "sync": ("edge.commands.sync", "copy unsynced records to a USB stick or directory"),
    "update-models": ("edge.commands.update_models", "install a signed model bundle from a stick"),
    "models": ("edge.commands.models", "list installed models and verify their sha256"),
}


def main(
    argv: list[str] | None = None,
    commands: dict[str, tuple[str, str]] | None = None,
    prog: str = "ecg-edge",
) -> int:
    """Parse `argv`, import only the chosen command's module and run it; return the exit code."""
    commands = COMMANDS if commands is None else commands
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    while argv and argv[0] in ("-v", "--verbose"):
        verbose = True
        argv.pop(0)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if argv and argv[0] == "--version":
        print(f"{prog} {__import__('edge').__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        top = argparse.ArgumentParser(prog=prog)
        sub = top.add_subparsers(dest="command", metavar="COMMAND")
        for name, (_, help_) in commands.items():
            sub.add_parser(name, help=help_)
        top.print_help()
        return 0 if argv else 2
    if argv[0] not in commands:
        print(f"{prog}: unknown command {argv[0]!r} (try '{prog} --help')", file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_ = commands[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(
                f"{prog} {name}: module {module_name} is missing from this installation; "
                "reinstall ecg-edge",
                file=sys.stderr,
            )
            return 2
        print(f"{prog} {name}: missing dependency {exc.name!r}: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"{prog} {name}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    args.verbose = verbose
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
