#!/usr/bin/env bash
# Chromium from the OS packages, for the playground's browser tests (tests/integration/test_playground_browser.py,
# driven by Playwright for Python pointed at this browser: no browser is downloaded by Playwright). Quick when it is
# installed already; `make test` runs it. CONVLENS_CHROMIUM names another Chromium/Chrome binary instead.
set -euo pipefail

if [ -n "${CONVLENS_CHROMIUM:-}" ]; then
  [ -x "$CONVLENS_CHROMIUM" ] && exit 0
  echo "error: CONVLENS_CHROMIUM=$CONVLENS_CHROMIUM is not an executable" >&2
  exit 1
fi
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done

fail() {
  cat >&2 <<'MSG'
error: Chromium is needed by the playground's browser tests and could not be installed.
  Debian/Ubuntu:  sudo apt-get install -y chromium      (Ubuntu: chromium-browser)
  or set CONVLENS_CHROMIUM=/path/to/chromium, then run the tests again.
MSG
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail
  sudo="sudo"
fi
echo "==> installing Chromium from the OS packages (browser tests)"
$sudo apt-get update -q >/dev/null || fail
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium >/dev/null || fail
command -v chromium >/dev/null 2>&1 || fail
