"""Planner statistics kept fresh where the project itself changes a table a lot (issue 18).

PostgreSQL plans from the statistics ANALYZE collects; autovacuum refreshes them only after it
notices the changes (its own schedule: a naptime of a minute, then one table at a time). Right
after `seed_demo --persons 100000` the tables still looked empty to the planner, and creating a
run took 258.7 s instead of 1.8 s after ANALYZE. `analyze_if_stale` is called where the project
makes a table change a lot and before it freezes a run's list, so the project never depends on
autovacuum having caught up. A no-op on SQLite (its planner keeps no such statistics).
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model

# A table is re-analyzed once more rows changed since its last ANALYZE than this share of the rows
# it had then (plus a few, as autovacuum's analyze threshold: 50 + 10%).
STALE_FRACTION = 0.1
STALE_ROWS = 50


def stale_tables(*models: type[Model], fraction: float = STALE_FRACTION) -> list[str]:
    """The tables of `models` whose statistics are stale on PostgreSQL ([] on SQLite)."""
    if connection.vendor != "postgresql" or not models:
        return []
    tables = sorted({m._meta.db_table for m in models})
    with connection.cursor() as cur:
        if not connection.in_atomic_block and connection.pg_version >= 150000:
            # This session's own changes are reported to the statistics collector lazily (up to
            # seconds later); flush them as this statement ends so the check below sees them
            # (PostgreSQL 15+; older servers report them within a second or so anyway).
            cur.execute("SELECT pg_stat_force_next_flush()")
        # a fresh view of the counters inside a transaction that has read them before
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT s.relname, s.n_mod_since_analyze, c.reltuples, "
            "s.last_analyze IS NULL AND s.last_autoanalyze IS NULL "
            "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)",
            [tables],
        )
        rows = cur.fetchall()
    stale = []
    for table, changed, reltuples, never in rows:
        # reltuples is -1 for a table never analyzed (PostgreSQL 14+)
        if changed > STALE_ROWS + fraction * max(reltuples, 0) or (never and changed > 0):
            stale.append(table)
    return stale


def analyze(*tables: str) -> None:
    """ANALYZE these tables on PostgreSQL (a no-op on SQLite: its planner keeps no such
    statistics). Table names come from the models, never from input."""
    if connection.vendor == "postgresql" and tables:
        with connection.cursor() as cur:
            cur.execute(f"ANALYZE {', '.join(connection.ops.quote_name(t) for t in tables)}")


def analyze_if_stale(*models: type[Model], fraction: float = STALE_FRACTION) -> list[str]:
    """ANALYZE each table of `models` that changed by more than `fraction` of its rows since it
    was last analyzed (pg_stat_user_tables.n_mod_since_analyze against pg_class.reltuples), or
    was never analyzed. Allowed inside a transaction. Returns the tables analyzed ([] on SQLite
    and when nothing changed enough)."""
    tables = stale_tables(*models, fraction=fraction)
    analyze(*tables)
    return tables
