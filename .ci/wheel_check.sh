#!/usr/bin/env bash
# Installed as users install it: build the wheel (sdist, then the wheel from the sdist, as
# `python -m build` does), install it NOT editable with the device extra into a fresh venv, and
# run `ecg-edge models`, `demo` and `classify` from a directory outside the checkout, with no
# ECG_EDGE_MODELS, no PYTHONPATH and an empty update slot: the models and the example photo must
# come from inside the installed package.
#
# usage: .ci/wheel_check.sh [PYTHON]      (PYTHON builds the wheel; default .venv/bin/python,
#                                          else python3; the fresh venv uses the same interpreter)
# env:   KEEP_WHEEL_CHECK=1 keeps the work directory; WHEEL=path/to.whl skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
PY=${1:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
PY=$(command -v "$PY")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecg-edge-wheel-check.XXXXXX")
if [ "${KEEP_WHEEL_CHECK:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi
start=$SECONDS
say() { printf 'wheel check: %s\n' "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

# 1. build
if [ -n "${WHEEL:-}" ]; then
    mkdir -p "$WORK/dist" && cp "$WHEEL" "$WORK/dist/"
elif "$PY" -P -c 'import build' 2>/dev/null; then  # -P: a build/ folder here is not the module
    "$PY" -P -m build --outdir "$WORK/dist" "$SRC" >"$WORK/build.log" 2>&1 || {
        tail -30 "$WORK/build.log" >&2
        fail "python -m build failed"
    }
else
    say "no 'build' module in $PY: building with pip wheel (no sdist step)"
    "$PY" -m pip wheel --no-deps -q -w "$WORK/dist" "$SRC" >"$WORK/build.log" 2>&1 || {
        tail -30 "$WORK/build.log" >&2
        fail "pip wheel failed"
    }
fi
whl=$(ls "$WORK"/dist/*.whl)
say "built $(basename "$whl") ($(du -k "$whl" | cut -f1) KiB) in $((SECONDS - start)) s"
"$PY" - "$whl" <<'EOF' || fail "the wheel lacks its shipped data"
import json, sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
manifest = json.loads(zipfile.ZipFile(sys.argv[1]).read("edge/_bundled/models/manifest.json"))
need = {"edge/_bundled/examples/photo.jpg"} | {
    f"edge/_bundled/models/{m['file']}" for m in manifest["models"]
}
missing = sorted(need - names)
if missing:
    sys.exit(f"missing from the wheel: {missing}")
EOF

# 2. a fresh venv with the wheel (not editable) and the device extra
t=$SECONDS
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --no-compile --disable-pip-version-check "${whl}[device]" \
    >"$WORK/install.log" 2>&1 || {
    tail -30 "$WORK/install.log" >&2
    fail "pip install of the wheel failed"
}
say "installed into a fresh venv in $((SECONDS - t)) s"

# 3. run it as a user would, from outside the checkout
mkdir -p "$WORK/user" "$WORK/no-update-slot"
cd "$WORK/user"
run() { env -u PYTHONPATH -u ECG_EDGE_MODELS ECG_EDGE_MODELS_ROOT="$WORK/no-update-slot" "$@"; }
bin=$WORK/venv/bin
where=$(run "$bin/python" -c 'import edge; print(edge.__file__)')
case "$where" in
    "$WORK/venv/"*) ;;
    *) fail "edge imported from $where, not from the installed wheel" ;;
esac
run "$bin/ecg-edge" models >models.txt 2>&1 || { cat models.txt >&2; fail "ecg-edge models"; }
grep -q "site-packages/edge/_bundled/models" models.txt || {
    cat models.txt >&2
    fail "ecg-edge models did not read the packaged models"
}
run "$bin/ecg-edge" demo --out demo >demo.txt 2>&1 || { cat demo.txt >&2; fail "ecg-edge demo"; }
if [ ! -s demo/photo.hea ] || [ ! -s demo/photo.interpretation.json ]; then
    fail "demo wrote no record"
fi
run "$bin/ecg-edge" classify demo/photo >classify.txt 2>&1 || {
    cat classify.txt >&2
    fail "ecg-edge classify"
}
if grep -qi "classifier unavailable" classify.txt demo.txt; then
    fail "the installed classifier is unavailable"
fi
say "models, demo and classify pass from $WORK/user (total $((SECONDS - start)) s)"
