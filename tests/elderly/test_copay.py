"""certificates.rules.copay_ratio_on: the §110 ratio (with 基準収入額適用) as one query expression,
at its boundaries — for one person, and as a bulk run's selection uses it."""

from datetime import date

import pytest

from certificates.rules import copay_ratio_on
from certificates.services import run_create
from members.models import IncomeBasisApplication, Person
from tests.certificates.factories import dependent, member, snapshot


def ratio_on(person, on):
    return (
        Person.objects.filter(pk=person.pk)
        .annotate(ratio=copay_ratio_on(on))
        .values_list("ratio", flat=True)
        .get()
    )


ON = date(2026, 12, 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remuneration", "ratio"), [(280_000, "3割"), (279_999, "2割"), (None, "2割")]
)
def test_member_uses_own_remuneration_at_280000(remuneration, ratio):
    m = member(birth_date=date(1955, 3, 10), standard_remuneration=remuneration)
    assert ratio_on(m, ON) == ratio


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("member_birth", "ratio"),
    [
        (date(1956, 12, 1), "3割"),  # member's start is ON itself (birthday on the 1st)
        (date(1956, 12, 2), "2割"),  # member's start is 2027-01-01: not yet a 高齢受給者
        (date(1970, 1, 1), "2割"),  # member under 70 earning a lot: the dependent pays 2割 (§110)
    ],
)
def test_dependent_is_3wari_only_when_the_member_is_a_high_income_elderly(member_birth, ratio):
    m = member(birth_date=member_birth, standard_remuneration=500_000)
    d = dependent(m, birth_date=date(1954, 5, 5))
    assert ratio_on(d, ON) == ratio


@pytest.mark.django_db
def test_dependent_of_member_at_279999_pays_2wari():
    m = member(birth_date=date(1953, 1, 10), standard_remuneration=279_999)
    d = dependent(m, birth_date=date(1954, 5, 5))
    assert ratio_on(d, ON) == "2割"
    m.standard_remuneration = 280_000
    m.save()
    assert ratio_on(d, ON) == "3割"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("valid_from", "valid_to", "ratio"),
    [
        (date(2026, 8, 1), None, "2割"),  # holding, open-ended
        (ON, ON, "2割"),  # holding on its first and last day
        (date(2026, 8, 1), date(2026, 11, 30), "3割"),  # ended the day before
        (date(2026, 12, 2), None, "3割"),  # not started yet
    ],
)
def test_income_basis_window_for_member_and_dependent(valid_from, valid_to, ratio):
    m = member(birth_date=date(1953, 6, 15), standard_remuneration=410_000)
    d = dependent(m, birth_date=date(1954, 5, 5))
    IncomeBasisApplication.objects.create(
        member=m, valid_from=valid_from, valid_to=valid_to, decided_on=date(2026, 7, 1)
    )
    assert ratio_on(m, ON) == ratio
    assert ratio_on(d, ON) == ratio


@pytest.mark.django_db
def test_another_households_income_basis_does_not_count():
    m = member(birth_date=date(1953, 6, 15), standard_remuneration=410_000)
    other = member(birth_date=date(1953, 6, 15), standard_remuneration=410_000)
    IncomeBasisApplication.objects.create(
        member=other, valid_from=date(2026, 1, 1), decided_on=date(2026, 1, 1)
    )
    assert ratio_on(m, ON) == "3割"
    assert ratio_on(other, ON) == "2割"


@pytest.mark.django_db
def test_a_bulk_runs_ratio_follows_income_basis_on_the_later_of_issue_and_start(clerk):
    # The run prints the ratio of max(issue date, the holder's start): the same expression, with
    # the 基準収入額適用 window seen from that per-person day.
    m = member(birth_date=date(1953, 6, 15), standard_remuneration=410_000)
    d = dependent(m, birth_date=date(1957, 3, 10))  # start 2027-03-01, after the issue date
    IncomeBasisApplication.objects.create(
        member=m, valid_from=date(2026, 8, 1), valid_to=date(2027, 2, 28), decided_on=ON
    )
    snapshot(date(2026, 11, 30), [(m, "未登録", None), (d, "未登録", None)])
    run = run_create(
        status_date=date(2026, 11, 30),
        issue_date=ON,
        valid_until=date(2028, 11, 30),
        acting_user=clerk,
    )
    ratios = dict(run.targets.values_list("person_id", "copay_ratio"))
    assert ratios == {m.pk: "2割", d.pk: "3割"}  # m: window holds on ON; d: ended before 03-01
