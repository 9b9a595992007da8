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

"${RASA[@]}" run actions --actions actions --port "$ACTIONS_PORT" &
actions_pid=$!
web_pid=
trap 'kill "$actions_pid" $web_pid 2>/dev/null || true' EXIT INT TERM

if [ "${1:-}" = "shell" ]; then
  "${RASA[@]}" shell --model "$MODEL" --endpoints endpoints.yml
else
  .venv/bin/python scripts/serve_web.py --port "$WEB_PORT" --rasa-url "http://localhost:$RASA_PORT" &
  web_pid=$!
  echo "Assistant starting: REST on http://localhost:$RASA_PORT/webhooks/rest/webhook, actions on :$ACTIONS_PORT"
  echo "Web chat: http://localhost:$WEB_PORT/ (talks to http://localhost:$RASA_PORT)"
  "${RASA[@]}" run --model "$MODEL" --endpoints endpoints.yml --credentials credentials.yml \
    --port "$RASA_PORT" --cors "$CORS_ORIGIN"
fi
