"""The registry imports at size: a file is streamed through a staging table in chunks, so a refusal
found in the last row (or only across rows, or only against the register) must still leave every
table exactly as it was, and memory must not grow with the file."""

from __future__ import annotations

import csv
import hashlib
import tracemalloc
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F

from members import register_import
from members.models import Person, RegistrationSnapshot, RegistrationStatus

from .builders import (
    MEMBER_FIELDS,
    MEMBERS_HEADER,
    STATUS_FIELDS,
    STATUS_HEADER,
    VALID_MY_NUMBER,
    dependent_row,
    make_dependent,
    make_member,
    member_row,
    status_row,
)

pytestmark = pytest.mark.django_db

ROWS = 12_000  # more than two staging chunks of 5,000 rows


def fingerprint() -> dict[str, tuple[int, str]]:
    """Every table of the database: its row count and a digest of all its rows."""
    result = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY 1")  # noqa: S608
            rows = cursor.fetchall()
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()
            result[table] = (len(rows), digest)
    return result


def household_rows(count: int, *, start: int = 5000):
    """`count` rows: households of a 本人 and one 家族."""
    for i in range(count):
        bango = str(start + i // 2)
        if i % 2 == 0:
            yield member_row(番号=bango, 事業所記号=f"E{i % 50:02d}", 事業所名称=f"事業所{i % 50}")
        else:
            yield dependent_row(番号=bango)


def write_members(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(MEMBERS_HEADER + "\r\n")
        writer = csv.writer(fh)
        for row in rows:
            writer.writerow([row[c] for c in MEMBER_FIELDS])
    return path


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *map(str, args), stdout=out)
    return out.getvalue()


def refused(command: str, *args) -> str:
    with pytest.raises(CommandError) as exc:
        run(command, *args)
    return str(exc.value)


@pytest.fixture
def stored(db, clerk):
    """A stored household whose row in the big file would update it."""
    head = make_member(kigo="10", bango="1001", address="元の住所")
    make_dependent(head)
    return head


LAST_ROW_REFUSALS = [
    # (id, last row, column named, text)
    ("cell error", member_row(番号="99999", 性別="X"), "性別", "指定できません"),
    ("my number", member_row(番号="99999", 住所=f"東京都 {VALID_MY_NUMBER}"), "住所", "個人番号"),
    (
        "duplicate of row 2",
        member_row(番号="5000", 事業所記号="E00", 事業所名称="事業所0"),
        "記号・番号・枝番",
        "2行目と重複",
    ),
    ("dependent without member", dependent_row(番号="88888"), "記号・番号", "本人がファイルにも"),
    (
        "relationship change",
        dependent_row(番号="1001", 枝番="00"),
        "本人家族区分",
        "変更できません",
    ),
    ("second member", member_row(番号="1001", 枝番="05"), "枝番", "枝番00で登録済み"),
]


@pytest.mark.parametrize(
    ("last", "column", "text"),
    [r[1:] for r in LAST_ROW_REFUSALS],
    ids=[r[0] for r in LAST_ROW_REFUSALS],
)
def test_a_bad_last_row_of_a_large_file_leaves_every_table_unchanged(
    tmp_path, stored, clerk, last, column, text
):
    rows = [*household_rows(ROWS), member_row(番号="1001", 住所="新しい住所")]
    path = write_members(tmp_path / "big.csv", [*rows, last])
    before = fingerprint()

    message = refused("import_members", path, "--by", clerk.username)

    last_line = len(rows) + 2
    assert f"{last_line}行目 「{column}」" in message and text in message
    assert VALID_MY_NUMBER not in message
    assert fingerprint() == before


def test_a_large_file_is_imported_whole(tmp_path, stored, clerk):
    rows = [*household_rows(ROWS), member_row(番号="1001", 住所="新しい住所")]
    out = run("import_members", write_members(tmp_path / "big.csv", rows), "--by", clerk.username)
    assert f"{ROWS + 1}行 / 新規 {ROWS} / 更新 1" in out
    assert Person.objects.count() == ROWS + 2
    assert Person.history.filter(history_type="+").count() == ROWS + 2
    # every 家族 points at the 本人 of their household, across chunk boundaries
    assert not Person.objects.filter(relationship="家族", member__isnull=True).exists()
    assert not Person.objects.filter(relationship="家族").exclude(bango=F("member__bango")).exists()
    stored.refresh_from_db()
    assert stored.address == "新しい住所"


def test_a_bad_last_row_of_a_large_status_file_leaves_every_table_unchanged(tmp_path, clerk):
    for i in range(0, 2000):
        make_member(kigo="30", bango=str(i))
    path = tmp_path / "status.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(STATUS_HEADER + "\r\n")
        writer = csv.writer(fh)
        for i in range(0, 2000):
            row = status_row(記号="30", 番号=str(i))
            writer.writerow([row[c] for c in STATUS_FIELDS])
        writer.writerow([status_row(記号="30", 番号="0")[c] for c in STATUS_FIELDS])
    before = fingerprint()
    message = refused(
        "import_registration_status", path, "--as-of", "2025-11-30", "--by", clerk.username
    )
    assert "2002行目 「記号・番号・枝番」" in message and "2行目と重複" in message
    assert fingerprint() == before
    assert not RegistrationSnapshot.objects.exists() and not RegistrationStatus.objects.exists()


def test_error_count_is_exact_while_only_the_first_errors_are_kept(tmp_path):
    rows = [member_row(番号=str(7000 + i), 性別="?") for i in range(1500)]
    message = refused("import_members", write_members(tmp_path / "bad.csv", rows))
    assert "1500件のエラー" in message and "ほか1400件" in message


def _peak_import_memory(tmp_path: Path, rows: int) -> int:
    path = write_members(tmp_path / f"m{rows}.csv", household_rows(rows))
    tracemalloc.start()
    try:
        register_import.members_import(source=str(path), source_name=path.name, dry_run=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(tmp_path, monkeypatch):
    """Peak Python allocations of a 4,000-row and a 20,000-row import (dry runs): with the file
    streamed through the staging table in chunks, five times the rows is not five times the memory.
    (The former import held every row: ≈ 3 KB each.)"""
    monkeypatch.setattr(register_import, "CHUNK_ROWS", 500)
    small = _peak_import_memory(tmp_path, 4_000)
    large = _peak_import_memory(tmp_path, 20_000)
    assert large < small * 1.5, (small, large)
    # and the whole 20,000-row file is far from held: 16,000 more rows at ≈ 3 KB would be 48 MB
    assert large - small < 4_000_000, (small, large)
