#!/usr/bin/env bash
# Install the peer (ageitgey/face_recognition) in its own virtual environment for bench/tagging.py.
# dlib-bin provides a prebuilt `dlib` module, so face_recognition is installed without its dlib dependency.
# Usage: bash bench/setup_peer.sh [VENV_DIR]   (default /tmp/peer-venv)
set -euo pipefail
VENV="${1:-${PEER_VENV:-/tmp/peer-venv}}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/face_recognition" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q dlib-bin face_recognition_models "setuptools<81" Click numpy Pillow
  "$VENV/bin/pip" install -q --no-deps face_recognition
fi
"$VENV/bin/python" -c "import face_recognition, dlib; print('face_recognition', face_recognition.__version__, 'dlib', dlib.__version__)"
