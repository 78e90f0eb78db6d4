#!/usr/bin/env bash
# Run ConvLens (TorchServe) in the foreground with the config written by scripts/write_config.py.
# TorchServe's state (key_file.json with the tokens, logs, pid file, unpacked archives) lives in .run/
# (or in $CONVLENS_RUN_DIR). CONVLENS_ENDPOINTS chooses what it serves: endpoints and profiles (attribution, inspect,
# synthesis, style, all; scripts/profiles.py --list), e.g. CONVLENS_ENDPOINTS=stylize,classify; unset: all.
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
# Workers import torch only when their endpoint uses it (scripts/worker_site/sitecustomize.py; the frontend passes
# PYTHONPATH on to them): a stylize worker runs ONNX Runtime alone.
export PYTHONPATH="$PWD/scripts/worker_site${PYTHONPATH:+:$PYTHONPATH}"
cd "$RUN"
umask 077  # key_file.json (the tokens), logs and unpacked archives: readable by their owner only
export TMPDIR="$RUN/tmp" TEMP="$RUN/tmp" LOG_LOCATION="$RUN/logs" METRICS_LOCATION="$RUN/logs"
"$TORCHSERVE" --start --foreground --ncs --ts-config "$RUN/config.properties" &
server=$!
# TorchServe's own launcher leaves the Java frontend running on Ctrl-C: stop it properly (pid file in $TMPDIR).
trap 'echo "==> stopping ConvLens"; "$TORCHSERVE" --stop >/dev/null 2>&1 || true; wait "$server"; exit 0' INT TERM
wait "$server"
