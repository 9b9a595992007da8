#!/usr/bin/env bash
# The action server as `make run` and `make actions` start it. It listens on
# 127.0.0.1 unless ACTIONS_HOST says otherwise (the cluster profile), and when
# ACTION_SERVER_TOKEN is set it answers only requests carrying that token
# (rasa_sdk_plugins/ does both; Rasa sends the token from endpoints.yml).
# Its logs go through ops/logging.yml, which masks message texts and phone numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
export SANIC_HOST=${ACTIONS_HOST:-127.0.0.1}
exec .venv/bin/python -m tools.rasa_cli run actions --actions actions --port "${ACTIONS_PORT:-5055}" \
  --logging-config-file ops/logging.yml "$@"
