#!/usr/bin/env bash
# Create .venv and install CareWatch with its dev tools (idempotent, quick when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.carewatch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # PYTHONWARNINGS: setuptools' notices about editable installs would bury the demo's URL
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --upgrade pip
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
