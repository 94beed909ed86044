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
  # pip's and setuptools' own output goes to a log: it would bury the demo's URL (issue #17)
  log=.venv/install.log
  echo "[carewatch-setup] installing CareWatch's Python packages into .venv (details: $log)"
  if ! { PYTHONWARNINGS=ignore .venv/bin/python -m pip install --upgrade pip \
         && PYTHONWARNINGS=ignore .venv/bin/python -m pip install -e ".[dev]"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "[carewatch-setup] installing the Python packages failed; the whole log is $log" >&2
    exit 1
  fi
  touch "$stamp"
fi
