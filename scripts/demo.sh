#!/usr/bin/env bash
# `make demo`: the SQLite default database (var/db.sqlite3), a small demo society, demo logins, one
# bulk issuance run through the batch commands, then the admin on http://localhost:${PORT:-8000}/admin/.
# Re-running keeps the data: it seeds and issues only when the database has no people / no run yet.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
PY=.venv/bin/python
PORT="${PORT:-8000}"
DEMO_PERSONS="${DEMO_PERSONS:-300}"
# A demo server: debug pages and static files from runserver, reachable from other hosts.
export DEBUG="${DEBUG:-1}"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-*}"

manage() { "$PY" manage.py "$@"; }
query() { # print one value computed with the ORM
  "$PY" -c "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup(); $1"
}

manage migrate --noinput -v 1

TODAY="$(query "from django.utils import timezone; print(timezone.localdate())")"
if [ "$(query "from members.models import Person; print(int(Person.objects.exists()))")" = "0" ]; then
  manage seed_demo --persons "$DEMO_PERSONS" --seed 1 --as-of "$TODAY"
else
  echo "demo: people already in the database; not seeding again"
fi
LOGINS="$(manage create_demo_users)"

# The 一括職権交付 through the batch commands (rules.md "Batch commands"): a clerk creates the run, a
# second person approves it, and it is executed (tasks run in-process without CELERY_BROKER_URL).
if ! manage help issuance_run >/dev/null 2>&1; then
  echo "demo: issuance_run is not available in this checkout; skipping the bulk issuance" >&2
elif [ "$(query "from certificates.models import IssuanceRun; print(int(IssuanceRun.objects.exists()))")" = "0" ]; then
  # Valid for two years (rules.md: at most 5 years after the issue date).
  VALID_UNTIL="$(query "from datetime import date, timedelta; from members.dates import add_months; print(add_months(date.fromisoformat('$TODAY'), 24) - timedelta(days=1))")"
  out="$(manage issuance_run create --as-of "$TODAY" --issue-date "$TODAY" --valid-until "$VALID_UNTIL" --by clerk)"
  echo "$out"
  RUN_ID="$(printf '%s\n' "$out" | tail -n 1 | tr -d '[:space:]')"
  case "$RUN_ID" in
    '' | *[!0-9]*)
      echo "demo: issuance_run create did not end with a run id (got '$RUN_ID')" >&2
      exit 1
      ;;
  esac
  manage issuance_run approve "$RUN_ID" --by supervisor
  manage issuance_run execute "$RUN_ID" --wait
else
  echo "demo: a bulk run already exists; not issuing again"
fi

cat <<BANNER

==========================================================================
 資格確認書 管理システム (demo)
 Admin:  http://localhost:$PORT/admin/
$LOGINS
 Stop with Ctrl-C. Data stays in var/db.sqlite3 (delete var/ to start over).
==========================================================================

BANNER
exec "$PY" manage.py runserver "0.0.0.0:$PORT"
