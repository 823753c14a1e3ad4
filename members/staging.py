"""A staging area for the large imports: a temporary table on the import's own connection.

An import streams its file through the row validators and loads the valid rows here in bounded
chunks (PostgreSQL: `COPY … FROM STDIN` through psycopg's `cursor.copy()`; SQLite: `executemany`),
then checks the cross-row rules and merges into the register with set-wise SQL. The table lives in
the import's transaction: created inside it, dropped before it commits, gone with it when the
import is refused or is a dry run. Temporary tables are private to their connection, so two imports
in two processes never see each other's rows, and PostgreSQL does not write them to the WAL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from django.db import connection

CHUNK_ROWS = 5000  # rows held in memory before they go to the staging table

_TYPES = {
    "postgresql": {"text": "text", "int": "bigint", "date": "date", "bool": "boolean"},
    "sqlite": {"text": "text", "int": "integer", "date": "text", "bool": "integer"},
}


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def distinct(a: str, b: str) -> str:
    """NULL-safe inequality of two SQL expressions."""
    if connection.vendor == "postgresql":
        return f"({a} IS DISTINCT FROM {b})"
    return f"({a} IS NOT {b})"


def param_date(value: date | None):
    return connection.ops.adapt_datefield_value(value) if value is not None else None


def param_datetime(value):
    return connection.ops.adapt_datetimefield_value(value) if value is not None else None


class Stage:
    """One temporary table: `columns` are loaded from the file, `extra` are filled by the merge."""

    def __init__(
        self,
        name: str,
        columns: Sequence[tuple[str, str]],
        extra: Sequence[tuple[str, str]] = (),
    ):
        if connection.vendor not in _TYPES:  # pragma: no cover - the project runs on these two
            raise NotImplementedError(f"no staging table for {connection.vendor}")
        self.name = name
        self.table = qn(name)
        self.columns = [c for c, _ in columns]
        self._kinds = [k for _, k in columns]
        self._extra = list(extra)
        self.rows = 0

    def create(self) -> None:
        types = _TYPES[connection.vendor]
        cols = [f"{qn(c)} {types[k]}" for c, k in zip(self.columns, self._kinds, strict=True)]
        cols += [f"{qn(c)} {types[k]}" for c, k in self._extra]
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self._temp_name()}")
            cursor.execute(f"CREATE TEMPORARY TABLE {self.table} ({', '.join(cols)})")

    def _temp_name(self) -> str:
        """The table in the connection's temporary schema only: a DROP must never reach a
        regular table of the same name."""
        schema = "pg_temp" if connection.vendor == "postgresql" else "temp"
        return f"{schema}.{self.table}"

    def index(self, *columns: str) -> None:
        name = qn(f"{self.name}_{'_'.join(columns)}")
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE INDEX {name} ON {self.table} ({', '.join(qn(c) for c in columns)})"
            )
            if connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {self.table}")

    def load(self, rows: list[tuple]) -> None:
        """Append one chunk of rows (tuples in `columns` order, Python values)."""
        if not rows:
            return
        names = ", ".join(qn(c) for c in self.columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                raw = cursor.cursor  # psycopg's own cursor, in Django's transaction
                with raw.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                converters = [
                    (lambda v: v.isoformat() if v is not None else None)
                    if k == "date"
                    else (lambda v: int(v) if v is not None else None)
                    if k == "bool"
                    else None
                    for k in self._kinds
                ]
                converted = (
                    tuple(
                        conv(v) if conv is not None else v
                        for conv, v in zip(converters, row, strict=True)
                    )
                    for row in rows
                )
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(
                    f"INSERT INTO {self.table} ({names}) VALUES ({marks})",  # noqa: S608
                    converted,
                )
        self.rows += len(rows)

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self._temp_name()}")


def numbered(model, select_sql: str, *, order: str) -> str:
    """`select_sql` with a first column `new_id`: the primary keys `model`'s table hands out next,
    one per row in `order`, taken the way the table takes them (PostgreSQL: its sequence, so a
    concurrent insert never gets the same id; SQLite: after the AUTOINCREMENT high-water mark,
    read by the same INSERT statement that writes the rows, under SQLite's single writer lock).

    A set-wise INSERT can then write a row's own id into another column of the same row (a 本人 is
    their own household) instead of updating every new row afterwards."""
    table = model._meta.db_table
    pk = model._meta.pk.column
    if connection.vendor == "postgresql":
        return (
            f"SELECT nextval(pg_get_serial_sequence('{qn(table)}', '{pk}')) AS new_id, q.* "  # noqa: S608
            f"FROM ({select_sql} ORDER BY {order}) q"
        )
    high = (
        f"MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), "  # noqa: S608
        f"COALESCE((SELECT MAX({qn(pk)}) FROM {qn(table)}), 0))"
    )
    return (
        f"SELECT {high} + ROW_NUMBER() OVER (ORDER BY {order}) AS new_id, q.* "  # noqa: S608
        f"FROM ({select_sql}) q"
    )


# PostgreSQL advisory lock key held by a registry import for its transaction: two imports of the
# register (say a members file from the command line and one from the admin) run one after the
# other instead of racing on the same 事業所 and persons.
REGISTRY_IMPORT_LOCK = 0x1919_0001


def serialize_registry_imports() -> None:
    """Wait for any other registry import to commit or roll back (PostgreSQL; SQLite has a
    single writer anyway). Call inside the import's transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRY_IMPORT_LOCK])


def execute(sql: str, params: Iterable = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.rowcount


def fetch(sql: str, params: Iterable = (), *, size: int = 2000):
    """Rows of a query, fetched in bounded batches."""
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        while batch := cursor.fetchmany(size):
            yield from batch


def scalar(sql: str, params: Iterable = ()):
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        row = cursor.fetchone()
        return row[0] if row else None
