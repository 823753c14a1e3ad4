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
    # the derived columns (members.dates), across chunk boundaries, in the rows and their history
    from members.dates import derived_person_fields
    from members.models import HOUSEHOLD_PENDING

    for p in Person.objects.all().iterator():
        expected = derived_person_fields(birth_date=p.birth_date, member_id=p.member_id, pk=p.pk)
        assert (p.household_id, p.age_cover_until, p.elderly_from) == tuple(expected.values()), p
    assert not Person.history.filter(household_id=HOUSEHOLD_PENDING).exists()


def test_new_persons_take_ids_the_way_the_table_hands_them_out(tmp_path, clerk):
    """The import writes each new 本人's id into their household in the INSERT itself: the ids must
    be the table's own (PostgreSQL's sequence, SQLite's AUTOINCREMENT mark), never one a deleted row
    had, in file order, and the next ordinary insert must find them taken."""
    gone = make_member(kigo="40", bango="1")
    high = gone.pk
    Person.objects.filter(pk=high).delete()
    rows = [*household_rows(6, start=7000)]
    run("import_members", write_members(tmp_path / "ids.csv", rows), "--by", clerk.username)

    imported = list(Person.objects.order_by("pk"))
    for kind in ("本人", "家族"):  # 本人 first (家族 point at them), each in file order
        assert [p.bango for p in imported if p.relationship == kind] == [
            r["番号"] for r in rows if r["本人家族区分"] == kind
        ]
    assert imported[0].relationship == "本人" and imported[-1].relationship == "家族"
    assert imported[0].pk > high  # a deleted row's id is never handed out again
    members = [p for p in imported if p.relationship == "本人"]
    assert members and all(p.household_id == p.pk for p in members)
    for p in imported:
        if p.relationship == "家族":
            assert (
                p.household_id == p.member_id == next(m.pk for m in members if m.bango == p.bango)
            )
    history = dict(
        Person.history.exclude(id=high).values_list("id", "household_id")
    )  # the imported rows' "+" history, written from the rows as stored
    assert history == {p.pk: p.household_id for p in imported}
    after = make_member(kigo="40", bango="2")
    assert after.pk > imported[-1].pk


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


def _last_analyze(table: str):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(last_analyze, last_autoanalyze) FROM pg_stat_user_tables"
            " WHERE relname = %s",
            [table],
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_register_is_analyzed_after_a_large_import(tmp_path):
    """core.db.analyze_if_stale runs once the import has committed: the next run's selection is
    planned with the new rows counted."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    table = Person._meta.db_table
    before = _last_analyze(table)
    run("import_members", write_members(tmp_path / "m.csv", household_rows(2000)))
    after = _last_analyze(table)
    assert after is not None and (before is None or after > before)
    # a dry run is rolled back: nothing to analyze
    run(
        "import_members",
        write_members(tmp_path / "d.csv", household_rows(2000, start=90_000)),
        "--dry-run",
    )
    assert _last_analyze(table) == after


# --- losses, applied set-wise with person_record_loss's rules ---------------------------------


def test_losses_of_a_household_follow_person_record_loss(tmp_path, clerk):
    from datetime import date

    from core.models import AuditEvent

    rows = [
        member_row(番号="1001", 資格喪失年月日="2026-03-31"),
        dependent_row(番号="1001", 資格喪失年月日="2025-12-31"),  # own loss earlier: recorded
        dependent_row(
            番号="1001", 枝番="02", 氏名カナ="ヤマダ ジロウ", 資格喪失年月日="2026-06-30"
        ),
        dependent_row(番号="1001", 枝番="03", 氏名カナ="ヤマダ サブロウ"),
    ]
    out = run("import_members", write_members(tmp_path / "l.csv", rows), "--by", clerk.username)
    # 本人 + three dependents following + the 01's own earlier loss; the 02's later date is kept
    assert "資格喪失の記録 5" in out and "変更しなかった行: 1" in out
    lost = {p.edaban: (p.lost_on, p.loss_reason) for p in Person.objects.all()}
    assert lost == {
        "00": (date(2026, 3, 31), "その他"),
        "01": (date(2025, 12, 31), "被扶養者でなくなった"),
        "02": (date(2026, 3, 31), "被保険者の資格喪失"),
        "03": (date(2026, 3, 31), "被保険者の資格喪失"),
    }
    head = Person.objects.get(edaban="00")
    dep1 = Person.objects.get(edaban="01")
    assert [h.history_type for h in dep1.history.order_by("history_id")] == ["+", "~", "~"]
    assert [h.lost_on for h in dep1.history.order_by("history_id")] == [
        None,
        date(2026, 3, 31),
        date(2025, 12, 31),
    ]
    assert all(h.history_user == clerk for h in dep1.history.all())
    events = AuditEvent.objects.filter(action="person.loss_recorded", object_id=str(dep1.pk))
    details = sorted((e.detail for e in events), key=lambda d: d["lost_on"], reverse=True)
    assert details == [
        {
            "lost_on": "2026-03-31",
            "reason": "被保険者の資格喪失",
            "previous_lost_on": None,
            "member_id": head.pk,
        },
        {
            "lost_on": "2025-12-31",
            "reason": "被扶養者でなくなった",
            "previous_lost_on": "2026-03-31",
        },
    ]
    assert all(e.actor == clerk for e in events)
    assert AuditEvent.objects.filter(action="person.loss_recorded").count() == 5


def test_a_member_loss_before_a_dependent_joined_refuses_the_file(tmp_path, clerk):
    from datetime import date

    head = make_member(kigo="10", bango="1001")
    make_dependent(head, acquired_on=date(2026, 2, 1))
    before = fingerprint()
    rows = [*household_rows(6000), member_row(番号="1001", 資格喪失年月日="2026-01-31")]
    message = refused("import_members", write_members(tmp_path / "x.csv", rows))
    assert (
        "6002行目 「資格喪失年月日」: 被扶養者（枝番01）の資格取得年月日がこの資格喪失年月日より後です"
        in message
    )
    assert fingerprint() == before


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_second_import_waits_for_the_first_to_end(tmp_path):
    """Two registry imports never interleave (a transaction-scoped advisory lock): the second one
    waits until the first has committed or rolled back."""
    import threading

    import psycopg

    from members.staging import REGISTRY_IMPORT_LOCK

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    s = connection.settings_dict
    other = psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"],
        port=s["PORT"],
    )
    other.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRY_IMPORT_LOCK])  # "the first import"
    path = write_members(tmp_path / "m.csv", household_rows(10))
    done = threading.Event()

    def second():
        from django.db import connection as thread_connection

        try:
            run("import_members", path)
            done.set()
        finally:
            thread_connection.close()

    thread = threading.Thread(target=second)
    thread.start()
    assert not done.wait(2)  # still waiting for the lock
    assert Person.objects.count() == 0
    other.rollback()  # the first import ends
    other.close()
    thread.join(60)
    assert done.is_set() and Person.objects.count() == 10
