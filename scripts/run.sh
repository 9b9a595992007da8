#!/usr/bin/env bash
# Starts the action server and the web chat page, then the Rasa server (or
# `rasa shell` with "shell"), and stops the other two when the Rasa process ends.
# `rasa shell` serves no web page, and its Rasa server and action server have
# ports of their own (5006, 5056), so it runs beside `make run`. Ports come from
# RASA_PORT, ACTIONS_PORT and WEB_PORT; one already taken stops this script, with
# exit status 1, before anything starts.
set -euo pipefail
cd "$(dirname "$0")/.."
RASA=(.venv/bin/python -m tools.rasa_cli)  # rasa, without jax (see tools/rasa_cli.py)
MODEL=models/klonopin-faq.tar.gz
if [ "${1:-}" = "shell" ]; then
  ACTIONS_PORT=${ACTIONS_PORT:-5056}
  RASA_PORT=${RASA_PORT:-5006}
else
  ACTIONS_PORT=${ACTIONS_PORT:-5055}
  RASA_PORT=${RASA_PORT:-5005}
fi
WEB_PORT=${WEB_PORT:-8080}
ports=("$RASA_PORT:RASA_PORT:Rasa server" "$ACTIONS_PORT:ACTIONS_PORT:action server")
[ "${1:-}" = "shell" ] || ports+=("$WEB_PORT:WEB_PORT:web chat")

# A port another process listens on (often a `make run` in another terminal) would
# fail later, deep in a server's log, and leave the other servers running: check first.
for entry in "${ports[@]}"; do
  IFS=: read -r port variable what <<<"$entry"
  if ! .venv/bin/python -c '
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
    try:
        s.bind(("", int(sys.argv[1])))
    except OSError:
        sys.exit(1)' "$port"; then
    echo "scripts/run.sh: port $port, for the $what, is already in use (is \`make run\` or \`make shell\` running?)." >&2
    echo "Stop that process, or choose another port: $variable=$((port + 100)) make ${1:-run}" >&2
    exit 1
  fi
done
CORS_ORIGIN=${CORS_ORIGIN:-http://localhost:$WEB_PORT}
# The token the Rasa server presents to the action server (endpoints.yml reads
# it, and ACTIONS_PORT); a fresh random one per run unless the deployer sets one.
ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')}
export ACTIONS_PORT ACTION_SERVER_TOKEN
# Masks message texts, phone numbers and tokens in both servers' logs (ops/log_redaction.py).
LOGGING=(--logging-config-file ops/logging.yml)

scripts/run_actions.sh &
actions_pid=$!
web_pid=
trap 'kill "$actions_pid" $web_pid 2>/dev/null || true' EXIT INT TERM

if [ "${1:-}" = "shell" ]; then
  "${RASA[@]}" shell --model "$MODEL" --endpoints endpoints.yml --port "$RASA_PORT" "${LOGGING[@]}"
else
  .venv/bin/python -m web.server --port "$WEB_PORT" --rasa-url "http://localhost:$RASA_PORT" &
  web_pid=$!
  echo "Assistant starting: REST on http://localhost:$RASA_PORT/webhooks/rest/webhook, actions on ${ACTIONS_HOST:-127.0.0.1}:$ACTIONS_PORT"
  echo "Web chat: http://localhost:$WEB_PORT/ (talks to http://localhost:$RASA_PORT)"
  "${RASA[@]}" run --model "$MODEL" --endpoints endpoints.yml --credentials credentials.yml \
    --port "$RASA_PORT" --cors "$CORS_ORIGIN" "${LOGGING[@]}"
fi
