#!/usr/bin/env bash
# `make test`: the whole suite on a throwaway PostgreSQL (+ Redis for the integration tests), then the
# same suite again on SQLite, the embedded default. Services are always stopped afterwards; the exit
# code is non-zero when any pass failed. Extra arguments go to every pytest pass
# (e.g. `scripts/test.sh tests/members -x`).
#
# Passes:
#   1. PostgreSQL: everything but the integration/browser/bench tests, on TEST_WORKERS xdist workers
#   2. PostgreSQL + Redis: `services` and `browser` tests, serially (they restart shared Redis, kill
#      Celery workers, drive one browser: running two at once would make them interfere)
#   3. SQLite: pass 1 again without DATABASE_URL (postgres_only tests skip themselves)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
START=$(date +%s)
BUDGET="${TEST_BUDGET_SECONDS:-4800}"  # CI allows 90 minutes in all; keep well inside
WORKERS="${TEST_WORKERS:-2}"

# shellcheck source=scripts/services.sh
source scripts/services.sh
trap services_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export PATH="$ROOT/.venv/bin:$PATH" VIRTUAL_ENV="$ROOT/.venv"
export PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"  # the pytest_isolation plugin
export TEST_ARTIFACTS_DIR="${TEST_ARTIFACTS_DIR:-$ROOT/test-artifacts}"  # screenshots etc. (gitignored)
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"  # Playwright: executable_path, no download
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
mkdir -p "$TEST_ARTIFACTS_DIR"
unset CELERY_BROKER_URL  # the suite runs tasks in-process; integration tests start their own worker

services_start || exit 1

xdist=()
if [ "$WORKERS" != "0" ]; then
  xdist=(-n "$WORKERS" --dist loadfile)
fi

declare -a NAMES RCS
run_pass() {
  local name="$1" n="$2" db="$3"
  shift 3
  local left=$((BUDGET - ($(date +%s) - START)))
  if [ "$left" -le 60 ]; then
    echo "test: no time left for pass '$name' (budget ${BUDGET}s)" >&2
    NAMES+=("$name")
    RCS+=(124)
    return
  fi
  echo
  echo "=== pass $n: $name ==="
  local unset_db=()
  [ "$db" = "sqlite" ] && unset_db=(-u DATABASE_URL)
  env "${unset_db[@]}" TEST_MEDIA_BASE="$TEST_SERVICES_DIR/media-$n" timeout -k 30 "$left" \
    pytest -p pytest_isolation --junitxml="$TEST_SERVICES_DIR/junit-$n.xml" "$@"
  local rc=$?
  [ "$rc" -eq 124 ] && echo "test: pass '$name' timed out" >&2
  NAMES+=("$name")
  RCS+=("$rc")
}

UNIT='not bench and not services and not browser'
run_pass "PostgreSQL" 1 pg -m "$UNIT" "${xdist[@]}" "$@"
run_pass "PostgreSQL + Redis (services, browser)" 2 pg -m "(services or browser) and not bench" "$@"
run_pass "SQLite" 3 sqlite -m "$UNIT" "${xdist[@]}" "$@"

echo
echo "=== summary ($(($(date +%s) - START))s) ==="
final=0
ran=0
for i in "${!NAMES[@]}"; do
  rc="${RCS[$i]}"
  case "$rc" in
    0) verdict="passed"; ran=1 ;;
    5) verdict="no tests selected" ;;
    124) verdict="TIMED OUT" ;;
    *) verdict="FAILED (pytest exit $rc)" ;;
  esac
  echo "pass $((i + 1)) ${NAMES[$i]}: $verdict"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$final" -eq 0 ]; then
    final="$rc"
  fi
done
if [ "$final" -eq 0 ] && [ "$ran" -eq 0 ]; then
  final=5  # no pass ran a test: that is not a success
fi
totals="$(python3 "$ROOT/scripts/junit_summary.py" "$TEST_SERVICES_DIR"/junit-*.xml)"
services_stop
echo "$totals"  # last line: the totals of all passes
exit "$final"
