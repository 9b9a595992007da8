#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (rasa 3.6 needs >=3.8,<3.11).
# Looks at $PYTHON, python3.10 on PATH, pyenv's versions, then uv's managed Pythons.
set -u
is310() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }
candidates=("${PYTHON:-}")
candidates+=("$(command -v python3.10 2>/dev/null || true)")
for root in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
  [ -n "$root" ] || continue
  for p in "$root"/versions/3.10*/bin/python; do candidates+=("$p"); done
done
if command -v pyenv >/dev/null 2>&1; then
  candidates+=("$(pyenv prefix 3.10 2>/dev/null | head -n1)/bin/python")
fi
if command -v uv >/dev/null 2>&1; then
  candidates+=("$(uv python find 3.10 2>/dev/null || true)")
fi
for c in "${candidates[@]}"; do
  if is310 "$c"; then echo "$c"; exit 0; fi
done
echo "No Python 3.10 found. Install one (python3.10 on PATH, 'pyenv install 3.10', or 'uv python install 3.10'), or set PYTHON=/path/to/python3.10." >&2
exit 1
