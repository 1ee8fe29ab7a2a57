#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the given requirements file, only when it changed.
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv 2>/dev/null || {
    echo "python3 -m venv failed: install it with 'apt-get install -y python3-venv'" >&2; exit 1; }
fi
stamp=".venv/.installed-$(basename "$req")"
want=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing the Python packages of $req into .venv (the first time takes a couple of minutes)..."
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  # One line per package as it is fetched and installed, so a long first install shows progress.
  set +e
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -r "$req" \
    | grep --line-buffered -E '^(Collecting|Successfully installed)'
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || { echo "pip could not install $req" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
