#!/usr/bin/env bash
# Starts the action server and the web chat page, then the Rasa server (or
# `rasa shell` with "shell"), and stops the other two when the Rasa process ends.
set -euo pipefail
cd "$(dirname "$0")/.."
RASA=(.venv/bin/python scripts/rasa_cli.py)  # rasa, without jax (see that file)
MODEL=models/klonopin-faq.tar.gz
ACTIONS_PORT=${ACTIONS_PORT:-5055}
RASA_PORT=${RASA_PORT:-5005}
WEB_PORT=${WEB_PORT:-8080}
CORS_ORIGIN=${CORS_ORIGIN:-http://localhost:$WEB_PORT}
# The token the Rasa server presents to the action server (endpoints.yml reads
# it); a fresh random one per run unless the deployer sets one.
ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')}
export ACTIONS_PORT ACTION_SERVER_TOKEN
# Masks message texts, phone numbers and tokens in both servers' logs (ops/log_redaction.py).
LOGGING=(--logging-config-file ops/logging.yml)

scripts/run_actions.sh &
actions_pid=$!
web_pid=
trap 'kill "$actions_pid" $web_pid 2>/dev/null || true' EXIT INT TERM

if [ "${1:-}" = "shell" ]; then
  "${RASA[@]}" shell --model "$MODEL" --endpoints endpoints.yml "${LOGGING[@]}"
else
  .venv/bin/python scripts/serve_web.py --port "$WEB_PORT" --rasa-url "http://localhost:$RASA_PORT" &
  web_pid=$!
  echo "Assistant starting: REST on http://localhost:$RASA_PORT/webhooks/rest/webhook, actions on ${ACTIONS_HOST:-127.0.0.1}:$ACTIONS_PORT"
  echo "Web chat: http://localhost:$WEB_PORT/ (talks to http://localhost:$RASA_PORT)"
  "${RASA[@]}" run --model "$MODEL" --endpoints endpoints.yml --credentials credentials.yml \
    --port "$RASA_PORT" --cors "$CORS_ORIGIN" "${LOGGING[@]}"
fi
