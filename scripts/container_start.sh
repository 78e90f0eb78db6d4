#!/usr/bin/env bash
# Container entry point (Dockerfile CMD): the same config and server start as `make serve` (scripts/serve.sh),
# plus the checks a container needs. Runs TorchServe in the foreground; SIGTERM stops it cleanly.
#
#   CONVLENS_HOST        listen address (the image sets 0.0.0.0). Any non-loopback address requires token
#                        authorization: scripts/write_config.py refuses to write a config otherwise, and this
#                        script refuses to start.
#   CONVLENS_TOKEN_AUTH  on (default) | off (accepted only with a loopback CONVLENS_HOST)
#   CONVLENS_TOKEN_DIR   optional directory with fixed tokens (files inference, management, optional api), e.g. a
#                        Kubernetes Secret volume; loaded by the plugin built from deploy/token-plugin/. Unset:
#                        TorchServe generates random tokens into $CONVLENS_RUN_DIR/key_file.json.
#   CONVLENS_RUN_DIR     TorchServe's state (config, key_file.json, logs, unpacked archives); must be writable.
#   CONVLENS_ENDPOINTS   what this container serves: endpoints and profiles (attribution, inspect, synthesis, style,
#                        all), comma-separated; unset: all. An unknown name stops it (exit 64) naming the name.
#   CONVLENS_ZYGOTE      on (default): workers of torch endpoints are forked from one process that imported torch
#                        once (docs/operations.md, "Fork server"); 0: TorchServe starts each worker itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# TorchServe prefers $TS_CONFIG_FILE over --ts-config: make sure the config written by write_config.py is the one.
unset TS_CONFIG_FILE

host="${CONVLENS_HOST:-127.0.0.1}"
.venv/bin/python scripts/profiles.py >/dev/null || exit 64  # unknown endpoint or profile names: the error names them
if [ "${CONVLENS_TOKEN_AUTH:-on}" != "on" ] && ! .venv/bin/python -c \
    'import sys; sys.path.insert(0, "scripts"); from write_config import is_loopback; sys.exit(not is_loopback(sys.argv[1]))' \
    "$host"; then
  echo "error: refusing to listen on $host with token authorization off (CONVLENS_TOKEN_AUTH=${CONVLENS_TOKEN_AUTH})." >&2
  echo "  Keep CONVLENS_TOKEN_AUTH=on, or bind loopback (CONVLENS_HOST=127.0.0.1)." >&2
  exit 64
fi

if [ -n "${CONVLENS_TOKEN_DIR:-}" ]; then
  if [ "${CONVLENS_TOKEN_AUTH:-on}" != "on" ]; then
    echo "error: CONVLENS_TOKEN_DIR is set but CONVLENS_TOKEN_AUTH is off." >&2
    exit 64
  fi
  for name in inference management; do
    if [ ! -r "$CONVLENS_TOKEN_DIR/$name" ]; then
      echo "error: CONVLENS_TOKEN_DIR=$CONVLENS_TOKEN_DIR has no readable '$name' token file." >&2
      exit 64
    fi
  done
  export CONVLENS_PLUGINS_PATH="${CONVLENS_PLUGINS_PATH:-$PWD/build/token-plugin}"
  if [ ! -f "$CONVLENS_PLUGINS_PATH/convlens-tokens.jar" ]; then
    echo "error: the token plugin is not built ($CONVLENS_PLUGINS_PATH/convlens-tokens.jar);" \
         "run .venv/bin/python scripts/build_token_plugin.py (needs a JDK)." >&2
    exit 64
  fi
fi

# serve.sh stops TorchServe properly on SIGTERM (docker stop, pod deletion) and then exits 0. TorchServe's own
# launcher exits 0 even when the server dies (a crash, unusable fixed tokens), so an exit nobody asked for is
# turned into a failure here: Docker's on-failure restart policy and `docker wait` then see it.
scripts/serve.sh &
serve=$!
trap 'kill -TERM "$serve" 2>/dev/null || true; wait "$serve"; exit $?' TERM INT
status=0
wait "$serve" || status=$?
echo "error: TorchServe exited without being asked to stop (status $status);" \
     "see ${CONVLENS_RUN_DIR:-.run}/logs and the output above." >&2
exit 70
