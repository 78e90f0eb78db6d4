#!/usr/bin/env bash
# Set-up for ConvLens: checks Java 17, creates .venv/ with the pinned dependencies and the client, and builds
# the model archives into model_store/. Idempotent: a second run with nothing changed takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv
STAMP="$VENV/.convlens-install-stamp"

# --- Java 17 (TorchServe's frontend is a Java program) ---------------------------------------------------------
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  cat >&2 <<'MSG'
error: Java 17 was not found, and TorchServe needs it.
  Debian/Ubuntu:  sudo apt-get install -y openjdk-17-jre-headless
  macOS:          brew install openjdk@17
  or point JAVA_HOME at a Java 17 installation, then run this command again.
MSG
  exit 1
fi
java_major=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then
  echo "error: TorchServe needs Java 17 or newer, but '$java_bin' is Java ${java_major:-unknown}." >&2
  echo "  Install openjdk-17 (e.g. sudo apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME to it." >&2
  exit 1
fi

# --- Python environment -----------------------------------------------------------------------------------------
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found; ConvLens needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
want=$(cat requirements/*.txt client/pyproject.toml tools/models/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "==> installing pinned dependencies into $VENV (first run: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements/serve.txt -r requirements/test.txt -c requirements/lock.txt
  "$VENV/bin/python" -m pip install -q -e ./client -c requirements/lock.txt
  # convlens-models (register your own classifiers): runs from this checkout, on the dependencies above
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e ./tools/models
  echo "$want" > "$STAMP"
else
  echo "==> dependencies up to date in $VENV"
fi

# --- Model archives ---------------------------------------------------------------------------------------------
# CONVLENS_SKIP_MODELS=1 installs the dependencies only (the Dockerfile caches that layer before copying the code).
if [ "${CONVLENS_SKIP_MODELS:-0}" = 1 ]; then
  echo "==> skipping the model archives (CONVLENS_SKIP_MODELS=1)"
else
  "$VENV/bin/python" scripts/build_models.py
  # sample photos for `convlens playground` (scikit-image's test pictures; nothing binary in git)
  "$VENV/bin/python" scripts/sample_photos.py build/samples
fi
