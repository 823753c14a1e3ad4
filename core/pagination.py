"""A paginator for changelists of tables with millions of rows (issue 8: 1.2 million persons).

Django's admin counts the rows of every changelist page (`SELECT COUNT(*)`), and on PostgreSQL an
exact count reads the whole table (MVCC: no stored row count): seconds per page view on
members_person, certificates, history and audit tables. For an *unfiltered* list above a threshold
the count shown is PostgreSQL's own estimate, `pg_class.reltuples` (kept by ANALYZE / autovacuum,
usually within a few percent); a filtered or searched list, a small table, a table never analysed, or
another database counts exactly, since a filter's result can be far from the table's size.

Used together with `show_full_result_count = False` (no second COUNT(*) of the unfiltered table):

    class PersonAdmin(admin.ModelAdmin):
        paginator = EstimatedCountPaginator
        show_full_result_count = False
"""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many rows (estimated) an exact count is cheap enough and never wrong.
DEFAULT_THRESHOLD = 100_000


def estimated_threshold() -> int:
    return getattr(settings, "ADMIN_ESTIMATED_COUNT_THRESHOLD", DEFAULT_THRESHOLD)


def is_unfiltered(queryset: QuerySet) -> bool:
    """No WHERE, no DISTINCT, no slicing, no GROUP BY and no combinator (UNION …): the rows are
    exactly the table's rows, so the table's row estimate estimates them."""
    q = queryset.query
    return (
        not q.where
        and not q.distinct
        and not q.combinator
        and q.group_by is None
        and q.low_mark == 0
        and q.high_mark is None
    )


def table_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the table's rows, or None (another database, never analysed)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    table = queryset.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples::bigint FROM pg_class c WHERE c.oid = to_regclass(%s)",
            [connection.ops.quote_name(table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:  # -1: never vacuumed or analysed
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator):
    """Exact count, except for an unfiltered queryset on PostgreSQL whose table holds more rows than
    the threshold (ADMIN_ESTIMATED_COUNT_THRESHOLD, default 100,000): then pg_class.reltuples."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and is_unfiltered(qs):
            estimate = table_estimate(qs)
            if estimate is not None and estimate > estimated_threshold():
                return estimate
        return super().count
