#!/usr/bin/env bash
# Run ConvLens (TorchServe) in the foreground with the config written by scripts/write_config.py.
# TorchServe's state (key_file.json with the tokens, logs, pid file, unpacked archives) lives in .run/
# (or in $CONVLENS_RUN_DIR). CONVLENS_ENDPOINTS chooses what it serves: endpoints and profiles (attribution, inspect,
# synthesis, style, all; scripts/profiles.py --list), e.g. CONVLENS_ENDPOINTS=stylize,classify; unset: all.
# When a chosen endpoint uses torch, workers are forked from a zygote that imported torch once (docs/operations.md,
# "Fork server"); CONVLENS_ZYGOTE=0 turns that off.
set -euo pipefail
cd "$(dirname "$0")/.."
endpoints=$(.venv/bin/python scripts/profiles.py) || exit 64  # unknown names: the error names them
RUN="$(mkdir -p "${CONVLENS_RUN_DIR:-.run}" && cd "${CONVLENS_RUN_DIR:-.run}" && pwd)"
mkdir -p "$RUN/tmp"
.venv/bin/python scripts/write_config.py --out "$RUN/config.properties"
host="${CONVLENS_HOST:-127.0.0.1}"
cat <<MSG
==> ConvLens starting (Ctrl-C stops it)
    HTTP inference   http://$host:${CONVLENS_HTTP_PORT:-8080}/predictions/{$endpoints}
    gRPC inference   $host:${CONVLENS_GRPC_PORT:-7070}  (InferenceAPIsService.Predictions)
    management       http://$host:${CONVLENS_MANAGEMENT_PORT:-8081}   metrics http://$host:${CONVLENS_METRICS_PORT:-8082}/metrics
    tokens           $RUN/key_file.json  (inference token: "inference" -> "key")
    endpoints        $endpoints  (CONVLENS_ENDPOINTS=${CONVLENS_ENDPOINTS:-all})
    readiness        curl -H "Authorization: Bearer \$(python3 -c 'import json;print(json.load(open("$RUN/key_file.json"))["management"]["key"])')" http://$host:${CONVLENS_MANAGEMENT_PORT:-8081}/models/${endpoints%%,*}
MSG
TORCHSERVE="$PWD/.venv/bin/torchserve"
PYTHON="$PWD/.venv/bin/python"
use_zygote=0
case "$(echo "${CONVLENS_ZYGOTE:-1}" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')" in
  0|off|false|no) ;;
  *) if .venv/bin/python scripts/profiles.py "$endpoints" --uses-torch; then use_zygote=1; fi ;;
esac
# Workers import torch only when their endpoint uses it (scripts/worker_site/sitecustomize.py; the frontend passes
# PYTHONPATH on to them): a stylize worker runs ONNX Runtime alone.
export PYTHONPATH="$PWD/scripts/worker_site${PYTHONPATH:+:$PYTHONPATH}"
cd "$RUN"
umask 077  # key_file.json (the tokens), logs and unpacked archives: readable by their owner only
export TMPDIR="$RUN/tmp" TEMP="$RUN/tmp" LOG_LOCATION="$RUN/logs" METRICS_LOCATION="$RUN/logs"
zygote=""
stop_zygote() { if [ -n "$zygote" ]; then kill -TERM "$zygote" 2>/dev/null || true; wait "$zygote" || true; fi; }
if [ "$use_zygote" = 1 ]; then
  # Its own session: Ctrl-C reaches it only through stop_zygote, after TorchServe has stopped its workers.
  setsid "$PYTHON" -m convlens_zygote.server --socket "$RUN/zygote/zygote.sock" &
  zygote=$!
  for _ in $(seq 100); do [ -S "$RUN/zygote/zygote.sock" ] && break; sleep 0.1; done  # binds before importing
  export CONVLENS_ZYGOTE_SOCKET="$RUN/zygote/zygote.sock"
fi
trap stop_zygote EXIT
"$TORCHSERVE" --start --foreground --ncs --ts-config "$RUN/config.properties" &
server=$!
# TorchServe's own launcher leaves the Java frontend running on Ctrl-C: stop it properly (pid file in $TMPDIR).
trap 'echo "==> stopping ConvLens"; "$TORCHSERVE" --stop >/dev/null 2>&1 || true; wait "$server"; stop_zygote; exit 0' INT TERM
wait "$server"
