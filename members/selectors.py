"""Reads of the registry. Each owns its query shape; none runs a query per person."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from functools import reduce
from operator import or_

from django.db.models import Q

from .dates import LATE_ELDERLY_AGE, late_elderly_start
from .models import Person

# Households per query when loading by key. Each query is an OR of `kigo = ? AND bango IN (...)`,
# which walks the (kigo, bango, edaban) unique index; kept under SQLite's historical 999-parameter
# limit.
_CHUNK = 900


def _household_filters(households: Iterable[tuple[str, str]]) -> Iterator[Q]:
    by_kigo: dict[str, list[str]] = defaultdict(list)
    for kigo, bango in sorted(set(households)):
        by_kigo[kigo].append(bango)
    batch: list[Q] = []
    size = 0
    for kigo, bangos in by_kigo.items():
        for i in range(0, len(bangos), _CHUNK):
            part = bangos[i : i + _CHUNK]
            batch.append(Q(kigo=kigo, bango__in=part))
            size += len(part) + 1
            if size >= _CHUNK:
                yield reduce(or_, batch)
                batch, size = [], 0
    if batch:
        yield reduce(or_, batch)


def persons_in_households(households: Iterable[tuple[str, str]]) -> list[Person]:
    """Every stored person (本人 and 家族) whose (記号, 番号) is one of `households`."""
    result: list[Person] = []
    for condition in _household_filters(households):
        result.extend(Person.objects.filter(condition))
    return result


def person_ids_by_keys(keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """(記号, 番号, 枝番) → person id, for the keys that are stored."""
    wanted = set(keys)
    found: dict[tuple[str, str, str], int] = {}
    for condition in _household_filters((k, b) for k, b, _ in wanted):
        for pk, kigo, bango, edaban in Person.objects.filter(condition).values_list(
            "pk", "kigo", "bango", "edaban"
        ):
            if (kigo, bango, edaban) in wanted:
                found[(kigo, bango, edaban)] = pk
    return found


def late_elderly_birth_cutoff(on: date) -> date:
    """The latest birth date whose 75th birthday falls on or before `on` (a 29 February birth reaches
    75 on 1 March in a common year, so it is after the 28 February cutoff)."""
    year = on.year - LATE_ELDERLY_AGE
    return date(year, on.month, min(on.day, calendar.monthrange(year, on.month)[1]))


def persons_reaching_late_elderly(*, on: date) -> list[Person]:
    """Persons without a recorded loss whose 75th birthday is on or before `on`, earliest birthday
    first (so that a dependent's own earlier 75th birthday is recorded before their member's). One
    query, on the birth_date index."""
    qs = (
        Person.objects.filter(lost_on__isnull=True, birth_date__lte=late_elderly_birth_cutoff(on))
        .select_related("member")
        .order_by("birth_date", "pk")
    )
    return [p for p in qs if late_elderly_start(p.birth_date) <= on]
