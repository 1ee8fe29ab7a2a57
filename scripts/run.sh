#!/usr/bin/env bash
# Install what is needed, create demo data on first start, serve on http://127.0.0.1:8050.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh requirements.txt
exec .venv/bin/python app.py
