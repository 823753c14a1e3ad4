#!/usr/bin/env bash
# `make install`: the Debian packages the project needs (only the missing ones), then .venv/ from the
# pinned requirements (only when it is missing or the requirements changed).
set -euo pipefail
cd "$(dirname "$0")/.."

# Fonts for PDFs (IPAmj明朝 holds 𠮷 and the other 異体字; IPAex for the rest), pdftotext for the
# PDF tests, Redis and PostgreSQL for `make test`, Chromium for the browser tests, WeasyPrint's
# libraries (Pango, HarfBuzz subsetting, fontconfig); for the stack pass of `make test` (tests/stack):
# the Docker engine (docker.io), Debian's docker-compose (bookworm has no compose plugin; the stack
# test uses `docker compose` where the plugin exists) and debootstrap (the stand-in base image).
DEB_PACKAGES=(
  fonts-ipamj-mincho fonts-ipaexfont poppler-utils redis-server postgresql chromium
  docker.io docker-compose debootstrap
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig
)

PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "install: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
# Debian's own python3.11 needs python3.11-venv for `python -m venv` (ensurepip).
if ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
  DEB_PACKAGES+=(python3.11-venv)
fi

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = "installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install: Debian packages missing: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install: run as root (or with sudo) to install: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The venv is rebuilt only when missing, made by another Python, or when requirements changed.
STAMP=.venv/.requirements.sha256
wanted="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sys; assert sys.version_info[:2] == (3, 11)" 2>/dev/null; then
  echo "install: creating .venv with $PYTHON"
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$wanted" ]; then
  echo "install: installing pinned requirements into .venv"
  # Playwright drives Debian's /usr/bin/chromium: never download a browser build.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  echo "$wanted" >"$STAMP"
fi
echo "install: ok (.venv with $(.venv/bin/python --version), Debian packages present)"
