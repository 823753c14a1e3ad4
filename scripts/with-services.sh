#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL and Redis (see services.sh), always stopping them after:
#   scripts/with-services.sh .venv/bin/python scripts/bench.py
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh
trap services_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export PATH="$PWD/.venv/bin:$PATH" VIRTUAL_ENV="$PWD/.venv"
services_start
set +e
"$@"
rc=$?
set -e
exit "$rc"
