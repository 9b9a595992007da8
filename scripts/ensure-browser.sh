#!/usr/bin/env bash
# Makes sure the headless browser for tests/system/test_browser.py is there: Debian's
# chromium at /usr/bin/chromium (Playwright drives it; it never downloads its own).
# Installs it with apt-get when missing; CI runs this as root.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
  echo "ensure-browser: CHROMIUM=$CHROMIUM does not exist" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "ensure-browser: /usr/bin/chromium is missing; run as root: apt-get update && apt-get install -y chromium" >&2
  exit 1
fi

echo "ensure-browser: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q chromium
"$CHROMIUM" --version
