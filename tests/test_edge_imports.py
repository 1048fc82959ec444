"""The device package must install and run without the workstation stack: importing every
`edge` module must never pull in `convert`, torch, tensorflow or onnx2tf."""

import pkgutil
import subprocess
import sys

import edge

FORBIDDEN = ("convert", "torch", "tensorflow", "onnx2tf", "onnx", "onnxruntime")


def test_every_edge_module_imports_without_workstation_packages():
    modules = sorted(m.name for m in pkgutil.walk_packages(edge.__path__, "edge."))
    assert len(modules) > 5
    code = (
        "import importlib, sys\n"
        f"mods = {modules!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {FORBIDDEN!r})\n"
        "print('FORBIDDEN', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
