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
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
