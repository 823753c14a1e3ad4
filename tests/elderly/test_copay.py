"""elderly.copay: the §110 ratio as one query expression, at its boundaries."""

from datetime import date

import pytest

from elderly.copay import elderly_birth_cutoff, late_birth_cutoff, ratio_on
from members.dates import elderly_start, late_elderly_start
from members.models import IncomeBasisApplication
from tests.certificates.factories import dependent, member

ON = date(2026, 12, 1)


@pytest.mark.parametrize(
    "on",
    [date(2026, 12, 1), date(2026, 12, 31), date(2028, 2, 29), date(2027, 3, 1), date(2027, 1, 15)],
)
def test_cutoffs_split_birth_dates_exactly_as_members_dates(on):
    from datetime import timedelta

    e = elderly_birth_cutoff(on)
    assert elderly_start(e) <= on < elderly_start(e + timedelta(days=1))
    lc = late_birth_cutoff(on)
    assert late_elderly_start(lc) <= on < late_elderly_start(lc + timedelta(days=1))


def test_born_on_the_first_is_elderly_from_the_birthday_month_itself():
    assert elderly_birth_cutoff(date(2026, 12, 1)) == date(1956, 12, 1)


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
