#!/usr/bin/env bash
# Create .venv and install CareWatch with its dev tools (idempotent, quick when up to date).
#
# The interpreter: $PYTHON if set; else the distribution's /usr/bin/python3 when it is 3.11 or newer;
# else the first python3 on PATH. The distribution's is preferred over a PATH shim (pyenv, a
# hand-built one) because Debian and Ubuntu build it with PGO and LTO, and a default source build
# has neither: measured on the 2-core CI machine (2026-12-01), a pure-Python loop ran 1.9x faster on
# Debian 12's 3.11.2 than on pyenv's 3.11.7, and ingest's backlog drain (bench drain) likewise.
# A .venv made on another interpreter than the one chosen is made again.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[carewatch-setup] %s\n' "$*" >&2; }

new_enough() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x /usr/bin/python3 ] && new_enough /usr/bin/python3; then
  PY=/usr/bin/python3
else
  PY=python3
fi
want=$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')
made_on=.venv/.carewatch-python
if [ -x .venv/bin/python ] && [ "$(cat "$made_on" 2>/dev/null)" != "$want" ]; then
  log "remaking .venv on $want (it was made on $(cat "$made_on" 2>/dev/null || echo 'another interpreter'))"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  echo "$want" > "$made_on"
fi
stamp=.venv/.carewatch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # pip's and setuptools' own output goes to a log: it would bury the demo's URL (issue #17)
  log=.venv/install.log
  echo "[carewatch-setup] installing CareWatch's Python packages into .venv on $want (details: $log)"
  if ! { PYTHONWARNINGS=ignore .venv/bin/python -m pip install --upgrade pip \
         && PYTHONWARNINGS=ignore .venv/bin/python -m pip install -e ".[dev]"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "[carewatch-setup] installing the Python packages failed; the whole log is $log" >&2
    exit 1
  fi
  touch "$stamp"
fi
