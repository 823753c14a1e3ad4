"""On PostgreSQL the admin's searches by 記号・番号 and by カナ reach the big tables through an index
(a million persons, a million certificates: a search must not read every row).

The planner is told not to scan sequentially and the tables are analysed; then every scan of a big
table in the plan of the changelist's query must be driven by an index condition. A sequential scan,
or an index scan that only filters (walking the whole primary key), fails the test."""

import json
import os
from datetime import date

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory

from certificates.models import Certificate
from members.dates import derived_person_fields
from members.models import HOUSEHOLD_PENDING, Person, RegistrationStatus

from . import builders

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL)",
    ),
    pytest.mark.django_db,
]

BIG_TABLES = {
    "members_person",
    "members_registrationstatus",
    "certificates_certificate",
}


def full_scans(plan: dict) -> list[str]:
    """Scans of a big table not driven by an index condition, anywhere in the plan tree."""
    found = []
    node_type = plan.get("Node Type", "")
    relation = plan.get("Relation Name")
    if relation in BIG_TABLES:
        if node_type == "Seq Scan":
            found.append(f"Seq Scan on {relation}")
        elif node_type in ("Index Scan", "Index Only Scan") and "Index Cond" not in plan:
            found.append(f"{node_type} using {plan.get('Index Name')} without a condition")
    for child in plan.get("Plans", []):
        found += full_scans(child)
    return found


def changelist_queryset(model, term: str, user):
    """The queryset the admin's changelist pages, for a search."""
    request = RequestFactory().get("/", {"q": term})
    request.user = user
    cl = site._registry[model].get_changelist_instance(request)
    return cl.queryset[: cl.list_per_page]


def plan_of(queryset) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


FILLER = 30_000  # rows enough that reading a whole table costs more than any index path


# The derived dates of a person born 1980-01-01, from their one definition.
_DERIVED_1980 = tuple(
    derived_person_fields(birth_date=date(1980, 1, 1), member_id=None, pk=None)[f]
    for f in ("age_cover_until", "elderly_from")
)


def add_filler(n: int) -> None:
    """n more persons (サトウ), each with a status and a certificate, written with plain SQL: only
    their number matters here, so that the planner's costs are those of a big table."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO members_employer (code, name, postal_code, address, created_at,"
            " updated_at) VALUES ('F0001', '充填商事', '', '', now(), now()) RETURNING id"
        )
        employer_id = cur.fetchone()[0]
        cur.execute(
            """
            INSERT INTO members_person (kigo, bango, edaban, relationship, insured_type,
                employer_id, standard_remuneration, name, name_kana, birth_date, sex,
                postal_code, address, acquired_on, loss_reason, needs_consideration,
                sex_on_back, household_id, age_cover_until, elderly_from, created_at, updated_at)
            SELECT 'F' || (g / 100), (g %% 100)::text, '00', '本人', '一般', %s, 300000,
                   '佐藤 太郎' || g, 'サトウ タロウ' || g, DATE '1980-01-01', '男', '', '',
                   DATE '2010-04-01', '', false, false, %s, %s, %s, now(), now()
            FROM generate_series(1, %s) g
            """,
            [employer_id, HOUSEHOLD_PENDING, *_DERIVED_1980, n],
        )
        # a 本人 is their own household (as members.models.persons_settle_households does)
        cur.execute(
            "UPDATE members_person SET household_id = id WHERE household_id = %s",
            [HOUSEHOLD_PENDING],
        )
        cur.execute(
            "INSERT INTO members_registrationstatus (snapshot_id, person_id, as_of, status)"
            " SELECT (SELECT min(id) FROM members_registrationsnapshot), id, DATE '2025-11-01',"
            " '登録済' FROM members_person WHERE kigo LIKE 'F%%'"
        )
        cur.execute(
            """
            INSERT INTO certificates_certificate (number, person_id, reason, issue_date,
                valid_until, route, copay_ratio, printed_name, printed_name_kana,
                registration_status, state, state_changed_at, state_note, return_route,
                created_at, updated_at)
            SELECT '2020-F' || lpad(id::text, 9, '0'), id, '未登録', DATE '2020-12-01',
                   DATE '2021-11-30', '事業主経由', '', name, name_kana, '未登録', '返却不要',
                   now(), '', '', now(), now()
            FROM members_person WHERE kigo LIKE 'F%%'
            """
        )


@pytest.fixture
def registry(db):
    """Persons with statuses and certificates; two of them are ワタナベ, the rest not."""
    persons = builders.households(3, kana="サトウ") + builders.households(1, kana="ワタナベ")
    builders.certificates(persons)
    add_filler(FILLER)
    return persons


def key_of(p: Person) -> str:
    return f"{p.kigo}-{p.bango}-{p.edaban}"


def searches(persons, model):
    target = persons[-2]  # a ワタナベ 本人
    if model is RegistrationStatus:  # its search box takes 記号 or 番号 alone (members/admin.py)
        return [
            ("カナ", "ワタナベ", {target.pk, persons[-1].pk}),
            ("カナ(半角)", "ﾜﾀﾅﾍﾞ ﾀﾛｳ", {target.pk}),
            ("記号", target.kigo, {target.pk, persons[-1].pk}),
        ]
    return [
        ("カナ", "ワタナベ", {target.pk, persons[-1].pk}),
        ("カナ(ひらがな)", "わたなべ", {target.pk, persons[-1].pk}),
        ("カナ(半角)", "ﾜﾀﾅﾍﾞ ﾀﾛｳ", {target.pk}),
        ("記号", target.kigo, {target.pk, persons[-1].pk}),
        ("記号・番号", f"{target.kigo}-{target.bango}", {target.pk, persons[-1].pk}),
        ("記号・番号・枝番", key_of(target), {target.pk}),
    ]


@pytest.mark.parametrize("model", [Person, RegistrationStatus, Certificate])
def test_search_by_key_and_kana_uses_indexes(model, registry, supervisor):
    for label, term, wanted in searches(registry, model):
        qs = changelist_queryset(model, term, supervisor)
        scans = full_scans(plan_of(qs))
        assert scans == [], f"{model.__name__} search {label} {term!r}: {scans}"
        found = {getattr(row, "person_id", row.pk) for row in qs}
        assert found == wanted, f"{model.__name__} search {label} {term!r}"


def test_certificate_search_by_number_uses_the_unique_index(registry, supervisor):
    cert = Certificate.objects.order_by("pk")[7]
    qs = changelist_queryset(Certificate, cert.number, supervisor)
    assert full_scans(plan_of(qs)) == []
    assert [c.pk for c in qs] == [cert.pk]


def test_a_plan_that_reads_every_row_is_caught(registry):
    """The check itself: a contains-search (LIKE '%…%') has no index and is reported."""
    qs = Person.objects.filter(name__contains="太郎")
    assert full_scans(plan_of(qs)) != []


def test_person_search_by_kanji_name_is_a_prefix_through_the_index(registry, supervisor):
    """氏名 is searched by prefix (family name first) with the person_name_prefix index; the space
    between family and given name may be typed full-width, half-width or left out."""
    hanako = {p.pk for p in registry if p.edaban == "01"}  # 山田 花子1…: the 家族
    for term, wanted in [
        ("山田", {p.pk for p in registry}),
        ("山田　花子", hanako),
        ("山田 花子", hanako),
        (registry[0].name, {registry[0].pk}),
    ]:
        qs = changelist_queryset(Person, term, supervisor)
        assert full_scans(plan_of(qs)) == [], term
        assert {p.pk for p in qs} == wanted, term


def test_a_name_in_the_middle_is_not_found(registry, supervisor):
    """The price of the index, said plainly in the search help: 花子 alone finds no 山田 花子."""
    assert list(changelist_queryset(Person, "花子", supervisor)) == []


def test_certificate_search_by_kanji_name_uses_indexes(registry, supervisor):
    target = registry[1]  # 山田 花子…, a 家族 (a term with digits is a 記号・番号 there)
    for term in ("山田　花子", "山田 花子"):
        qs = changelist_queryset(Certificate, term, supervisor)
        assert full_scans(plan_of(qs)) == [], term
        assert target.pk in {c.person_id for c in qs}, term
