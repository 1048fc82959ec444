"""The dispatchers: real subprocesses of the installed console scripts."""

import subprocess
import sys

import pytest

from convert.cli import COMMANDS as CONVERT_COMMANDS
from edge.cli import COMMANDS as EDGE_COMMANDS


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("module", ["edge.cli", "convert.cli"])
def test_help_lists_commands(module):
    r = _run(module, "--help")
    assert r.returncode == 0
    commands = EDGE_COMMANDS if module == "edge.cli" else CONVERT_COMMANDS
    for name in commands:
        assert name in r.stdout


def test_unknown_command_is_one_line_exit_2():
    r = _run("edge.cli", "frobnicate")
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr
    assert "Traceback" not in r.stderr


def test_edge_cli_never_imports_the_workstation_stack():
    code = (
        "import sys, edge.cli, edge.layouts, edge.wfdb_io, edge.errors; "
        "bad = [m for m in ('convert', 'torch', 'tensorflow', 'onnx2tf') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
