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
#   4. docker compose stack: `stack` tests (tests/stack): the image built, the stack brought up and
#      driven as README "Production with docker compose" says; dockerd is started for it when none
#      runs (and stopped afterwards). Runs only when no paths are given or tests/stack is among them.
# TEST_PASSES (default "1 2 3 4") picks passes, e.g. TEST_PASSES=4 for the stack alone.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
START=$(date +%s)
BUDGET="${TEST_BUDGET_SECONDS:-4800}"  # CI allows 90 minutes in all; keep well inside
WORKERS="${TEST_WORKERS:-2}"

# shellcheck source=scripts/services.sh
source scripts/services.sh
# shellcheck source=scripts/docker.sh
source scripts/docker.sh
trap 'services_stop; docker_stop' EXIT
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

PASSES=" ${TEST_PASSES:-1 2 3 4} "
declare -a NAMES RCS
run_pass() {
  local name="$1" n="$2" db="$3"
  shift 3
  [[ "$PASSES" == *" $n "* ]] || return 0
  local left=$((BUDGET - ($(date +%s) - START)))
  if [ "$left" -le 60 ]; then
    echo "test: no time left for pass '$name' (budget ${BUDGET}s)" >&2
    NAMES+=("$n $name")
    RCS+=(124)
    return
  fi
  echo
  echo "=== pass $n: $name ==="
  local unset_db=()
  [ "$db" = "sqlite" ] && unset_db=(-u DATABASE_URL)
  if [ "$db" = "stack" ] && ! docker_start; then
    NAMES+=("$n $name")
    RCS+=(1)
    return
  fi
  local pass_start
  pass_start=$(date +%s)
  env "${unset_db[@]}" STACK_TEST="$([ "$db" = stack ] && echo 1 || echo 0)" TEST_MEDIA_BASE="$TEST_SERVICES_DIR/media-$n" timeout -k 30 "$left" \
    pytest -p pytest_isolation --junitxml="$TEST_SERVICES_DIR/junit-$n.xml" "$@"
  local rc=$?
  [ "$rc" -eq 124 ] && echo "test: pass '$name' timed out" >&2
  echo "test: pass $n took $(($(date +%s) - pass_start))s"
  NAMES+=("$n $name")
  RCS+=("$rc")
}

UNIT='not bench and not services and not browser and not stack'
run_pass "PostgreSQL" 1 pg -m "$UNIT" "${xdist[@]}" "$@"
run_pass "PostgreSQL + Redis (services, browser)" 2 pg -m "(services or browser) and not bench and not stack" "$@"
run_pass "SQLite" 3 sqlite -m "$UNIT" "${xdist[@]}" "$@"
stack_wanted=1
if [ "$#" -gt 0 ]; then
  stack_wanted=0
  for arg in "$@"; do
    case "$arg" in tests/stack* | ./tests/stack* | tests | tests/ | ./tests) stack_wanted=1 ;; esac
  done
fi
if [ "$stack_wanted" -eq 1 ]; then
  run_pass "docker compose stack" 4 stack -m "stack" "$@"
  docker_remove_stack_leftovers  # only if the pass was cut off before its own clean-up
  docker_stop
fi

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
  echo "pass ${NAMES[$i]}: $verdict"
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
