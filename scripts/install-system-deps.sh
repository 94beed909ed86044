#!/usr/bin/env bash
# Install what CareWatch needs from Debian's packages, idempotently:
#   Mosquitto, PostgreSQL (15 where Debian ships it) with TimescaleDB, python3-venv; with --browser
#   chromium for the browser tests; with --tests both of those, faketime (the suite runs its
#   time-sensitive tests a second time with the clock a year ahead, issue #35) and poppler's pdftotext
#   with poppler-data (the printable documents' test reads their Chinese back, issue #40).
# TimescaleDB: bookworm has no binary package, so we build Debian trixie's source package
# (Apache-2 edition) against the local PostgreSQL. A built extension is reused, never rebuilt.
# Never starts, stops or reconfigures the machine's own services.
set -euo pipefail

log() { printf '[carewatch-setup] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "not root and no sudo: install the packages listed in README.md by hand"; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

WANT_BROWSER=0
WANT_FAKETIME=0
WANT_PDFTEXT=0
for arg in "$@"; do
  case "$arg" in
    --browser) WANT_BROWSER=1 ;;
    --tests) WANT_BROWSER=1; WANT_FAKETIME=1; WANT_PDFTEXT=1 ;;
    *) log "unknown option $arg"; exit 2 ;;
  esac
done

APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq || log "apt-get update reported errors (continuing with what it fetched)"
    APT_UPDATED=1
  fi
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
install_pkgs() {
  local missing=()
  for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_update
    log "apt-get install ${missing[*]}"
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# --- PostgreSQL major version: 15 where Debian has it (bookworm), else the distro default.
pick_pg_version() {
  if [ -n "${CAREWATCH_PG_VERSION:-}" ]; then echo "$CAREWATCH_PG_VERSION"; return; fi
  if [ -x /usr/lib/postgresql/15/bin/postgres ]; then echo 15; return; fi
  local c; c=$(candidate postgresql-15)
  if [ -z "$c" ] || [ "$c" = "(none)" ]; then apt_update; c=$(candidate postgresql-15); fi
  if [ -n "$c" ] && [ "$c" != "(none)" ]; then echo 15; return; fi
  # trixie and later: the distro's default major
  candidate postgresql | sed -E 's/^([0-9]+)\+.*/\1/'
}

PGV=$(pick_pg_version)
log "PostgreSQL major version: $PGV"
# fonts-wqy-zenhei: the Chinese TrueType face the web embeds in its printable documents (web/documents.py)
# pgbackrest: the database's WAL archive, backups and point-in-time restore (runtime/backup.py)
install_pkgs mosquitto mosquitto-clients "postgresql-$PGV" "postgresql-client-$PGV" ca-certificates fonts-wqy-zenhei \
  pgbackrest

PG_CONFIG=/usr/lib/postgresql/$PGV/bin/pg_config
timescaledb_present() {
  [ -f "/usr/share/postgresql/$PGV/extension/timescaledb.control" ] &&
    ls /usr/lib/postgresql/"$PGV"/lib/timescaledb*.so >/dev/null 2>&1
}

if timescaledb_present; then
  log "TimescaleDB already installed for PostgreSQL $PGV (reused, not rebuilt)"
else
  # A binary package where the distro has one (trixie: postgresql-17-timescaledb).
  c=$(candidate "postgresql-$PGV-timescaledb")
  if [ -z "$c" ] || [ "$c" = "(none)" ]; then apt_update; c=$(candidate "postgresql-$PGV-timescaledb"); fi
  if [ -n "$c" ] && [ "$c" != "(none)" ]; then
    install_pkgs "postgresql-$PGV-timescaledb"
  else
    log "building TimescaleDB (Apache-2 edition) from Debian trixie's source package"
    install_pkgs "postgresql-server-dev-$PGV" libssl-dev cmake build-essential dpkg-dev
    SRC_LIST=/etc/apt/sources.list.d/carewatch-trixie-src.sources
    if [ ! -f "$SRC_LIST" ]; then
      $SUDO tee "$SRC_LIST" >/dev/null <<'SRC'
# Added by CareWatch's scripts/install-system-deps.sh: source packages only, for timescaledb.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
      APT_UPDATED=0
    fi
    apt_update
    BUILD=$(mktemp -d /tmp/carewatch-tsdb.XXXXXX)
    (
      cd "$BUILD"
      apt-get source -qq timescaledb >/dev/null 2>&1 || apt-get source timescaledb
      cd "$(find . -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)"
      # the build asks git for a commit id and, in an unpacked source tree, git answers "fatal: not a
      # git repository" (harmless, but it reads as a failure): its output is shown only if a step fails
      quiet() { "$@" >"$BUILD/step.log" 2>&1 || { cat "$BUILD/step.log" >&2; return 1; }; }
      quiet cmake -S . -B build -DPG_CONFIG="$PG_CONFIG" -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF \
        -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DUSE_TELEMETRY=OFF -DCMAKE_BUILD_TYPE=Release
      quiet cmake --build build -j"$(nproc)"
      quiet $SUDO cmake --install build
    )
    rm -rf "$BUILD"
    timescaledb_present || { log "TimescaleDB build finished but the extension is not installed"; exit 1; }
    log "TimescaleDB installed for PostgreSQL $PGV"
  fi
fi

# The distribution's interpreter is the one bootstrap-venv.sh prefers (it is built with PGO and LTO;
# see there): give it venv and ensurepip, as well as whatever python3 is first on PATH.
for py in /usr/bin/python3 python3; do
  if command -v "$py" >/dev/null 2>&1 && ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    install_pkgs python3-venv
    break
  fi
done

if [ "$WANT_BROWSER" -eq 1 ]; then
  install_pkgs chromium chromium-driver fonts-noto-cjk
fi
if [ "$WANT_FAKETIME" -eq 1 ]; then
  install_pkgs faketime  # libfaketime: LD_PRELOAD moves the clock of a process and its children
fi
if [ "$WANT_PDFTEXT" -eq 1 ]; then
  # pdftotext and pdffonts, and the Adobe-GB1 tables poppler needs for the STSong-Light fallback's text
  install_pkgs poppler-utils poppler-data
fi
log "system dependencies ready"
