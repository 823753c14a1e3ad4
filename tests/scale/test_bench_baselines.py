"""The benchmark's hand-written baselines (scripts/bench_sql.py) spell the column lists out by hand
on purpose (they are the independent twin of the project's writers); a column the models gain must
reach them too, or the raw side fails (a NOT NULL history column) or writes less than the project.
This caught the raw 75th-birthday twin writing history rows without Person.sex_on_back."""

from __future__ import annotations

import sys
from pathlib import Path

from certificates.models import Certificate
from members.models import Person

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench_sql  # noqa: E402


def _columns(spelled: str) -> set[str]:
    return {c.strip() for c in spelled.split(",")}


def test_the_raw_person_columns_are_every_column_of_the_person():
    assert _columns(bench_sql.PERSON_COLUMNS) == {f.column for f in Person._meta.concrete_fields}


def test_the_raw_certificate_columns_are_every_column_of_the_certificate():
    assert _columns(bench_sql.CERT_COLUMNS) == {f.column for f in Certificate._meta.concrete_fields}
