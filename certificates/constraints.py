"""The database's guard of "a person never holds two certificates covering the same day, except
the moment one replaces another" (rules.md "Who receives a 資格確認書 ex officio"), on both databases.

The days a certificate covers are [交付年月日, its last covered day]: the last covered day is
Certificate.covers_until when its cover ended early (replaced by a successor, or a 資格喪失: the
writers store the day before), else its 有効期限. 無効 and 返却済 cover no day (NOT_COVERING). A
cover ended before it began (replaced on its own first day) is stored as the day before the
交付年月日: an empty range, which overlaps nothing.

PostgreSQL: an exclusion constraint over (person, daterange) with GiST (btree_gist for the person's
equality; the migration creates the extension). SQLite has no exclusion constraints: the same rule
as two triggers (insert, update) that abort with the constraint's name, which the sqlite3 driver
reports as an IntegrityError — as PostgreSQL's exclusion violation is.
"""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeOperators
from django.db import DEFAULT_DB_ALIAS
from django.db.backends.ddl_references import Statement, Table
from django.db.models import DateField, F, Func, Q


class CoverRange(Func):
    """daterange(交付年月日, last covered day + 1): half-open, so an end on the day before the start is
    the empty range."""

    template = "daterange(%(expressions)s)"
    output_field = DateRangeField()


class DayAfterCoverEnd(Func):
    """The day after the last covered day: COALESCE(covers_until, valid_until) + 1 (PostgreSQL)."""

    template = "(COALESCE(%(expressions)s) + 1)"
    output_field = DateField()


def cover_range():
    return CoverRange(F("issue_date"), DayAfterCoverEnd(F("covers_until"), F("valid_until")))


_SQLITE_TRIGGER = (
    "CREATE TRIGGER %(trigger)s BEFORE %(event)s ON %(table)s "
    "WHEN NEW.state NOT IN ({states}) "
    "AND NEW.issue_date <= COALESCE(NEW.covers_until, NEW.valid_until) "
    "BEGIN SELECT RAISE(ABORT, '{name}: 同じ日を対象とする資格確認書がすでにあります') "
    "FROM %(table)s AS c WHERE c.person_id = NEW.person_id AND c.id IS NOT NEW.id "
    "AND c.state NOT IN ({states}) "
    "AND c.issue_date <= COALESCE(c.covers_until, c.valid_until) "
    "AND c.issue_date <= COALESCE(NEW.covers_until, NEW.valid_until) "
    "AND NEW.issue_date <= COALESCE(c.covers_until, c.valid_until); END"
)


class NoOverlapConstraint(ExclusionConstraint):
    """ExclusionConstraint on PostgreSQL; the equivalent triggers on SQLite. `states` are the
    states that cover no day (the condition is "state not in states")."""

    def __init__(self, *, name, states, **kwargs):
        self.states = tuple(str(s) for s in states)
        kwargs.pop("expressions", None)
        kwargs.pop("condition", None)
        super().__init__(
            name=name,
            expressions=[
                (cover_range(), RangeOperators.OVERLAPS),
                ("person", RangeOperators.EQUAL),
            ],
            condition=~Q(state__in=self.states),
            **kwargs,
        )

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        kwargs.pop("expressions", None)
        kwargs.pop("condition", None)
        kwargs["states"] = list(self.states)
        return path, args, kwargs

    def __eq__(self, other):
        return isinstance(other, NoOverlapConstraint) and (
            self.name,
            self.states,
        ) == (other.name, other.states)

    # --- SQLite: triggers ------------------------------------------------------------------------

    def _sqlite_statements(self, model, schema_editor) -> list[Statement]:
        states = ", ".join(schema_editor.quote_value(s) for s in self.states)
        table = Table(model._meta.db_table, schema_editor.quote_name)
        return [
            Statement(
                _SQLITE_TRIGGER.replace("{states}", states).replace("{name}", self.name),
                trigger=schema_editor.quote_name(f"{self.name}_{event.split()[0].lower()}"),
                event=event,
                table=table,
            )
            for event in (
                "INSERT",
                "UPDATE OF person_id, state, issue_date, valid_until, covers_until",
            )
        ]

    def constraint_sql(self, model, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            return super().constraint_sql(model, schema_editor)
        if schema_editor.connection.vendor == "sqlite":
            # Inside CREATE TABLE (also SQLite's table rebuilds): the triggers follow the table.
            schema_editor.deferred_sql.extend(self._sqlite_statements(model, schema_editor))
        return None

    def create_sql(self, model, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor)
        if schema_editor.connection.vendor == "sqlite":
            first, second = self._sqlite_statements(model, schema_editor)
            schema_editor.execute(first)
            return second
        return None

    def remove_sql(self, model, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            return super().remove_sql(model, schema_editor)
        if schema_editor.connection.vendor == "sqlite":
            insert, update = (
                f"DROP TRIGGER IF EXISTS {schema_editor.quote_name(f'{self.name}_{e}')}"
                for e in ("insert", "update")
            )
            schema_editor.execute(insert)
            return update
        return None

    def validate(self, model, instance, exclude=None, using=DEFAULT_DB_ALIAS):
        # Certificates are written by set-wise SQL (certificates.issue_sql, retire_sql), never
        # through a form: the database is the guard, and its refusal is the IntegrityError.
        return None
