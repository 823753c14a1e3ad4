"""Exports stream from the database: peak Python memory does not grow with the number of rows
(1.2 million certificates must never be built in memory). Measured with tracemalloc, not timed."""

import tracemalloc
from datetime import date

import pytest
from django.db import connection

from certificates.models import Certificate
from core.exports import export_to_file, get_dataset
from members.models import Person
from tests.core.conftest import make_employer

SMALL, LARGE = 2_000, 20_000


class NullSink:
    """Counts bytes instead of keeping them, so only the exporter's own memory is measured."""

    def __init__(self):
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)


def _grow_to(n: int) -> None:
    """Generate persons with one certificate each until there are n of them."""
    employer = make_employer() if n == SMALL else None
    employer = employer or Person.objects.first().employer
    start = Person.objects.count()
    people = Person.objects.bulk_create(
        Person(
            kigo="200",
            bango=str(i),
            edaban="00",
            relationship="本人",
            insured_type="一般",
            employer=employer,
            # a long name makes per-row memory visible if rows were ever kept
            name="長谷川　" + "由紀子" * 10 + str(i),
            name_kana="ハセガワ　ユキコ",
            birth_date=date(1970, 1, 1),
            sex="女",
            acquired_on=date(2000, 4, 1),
        )
        for i in range(start, n)
    )
    Certificate.objects.bulk_create(
        Certificate(
            number=f"2025-{p.bango.zfill(7)}",
            person=p,
            reason="未登録",
            issue_date=date(2025, 12, 2),
            valid_until=date(2030, 12, 1),
            route="事業主経由",
            printed_name=p.name,
            printed_name_kana=p.name_kana,
        )
        for p in people
    )


def _peak_export_memory() -> tuple[int, int]:
    dataset = get_dataset("certificates")
    sink = NullSink()
    connection.queries_log.clear()
    tracemalloc.start()
    try:
        result = export_to_file(dataset, dataset.base_queryset(), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result.row_count, peak


@pytest.mark.django_db
def test_export_memory_stays_flat_as_rows_grow():
    _grow_to(SMALL)
    rows_small, peak_small = _peak_export_memory()
    _grow_to(LARGE)
    rows_large, peak_large = _peak_export_memory()

    assert (rows_small, rows_large) == (SMALL, LARGE)
    # Ten times the rows: an exporter that kept rows would need about ten times the memory (over
    # 10 MB here). Streaming keeps one chunk of rows; allow some noise, not growth.
    per_row_if_kept = 200  # bytes: far less than one row of this data really takes
    assert peak_large < peak_small * 1.5, (peak_small, peak_large)
    assert peak_large - peak_small < (LARGE - SMALL) * per_row_if_kept / 10, (
        peak_small,
        peak_large,
    )
