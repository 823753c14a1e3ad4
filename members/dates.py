"""Pure date rules (no database).

年齢計算ニ関スル法律 (明治35年法律第50号) counts age from the day of birth, and 民法§143 ends each
year of age on the day before the anniversary of birth. So a person *reaches* age N (N歳に達する日)
on the day before their Nth birthday. When the anniversary does not exist (born 29 February, non-leap
year), 民法§143② ends the period on the last day of that month: 28 February.
"""

import calendar
from datetime import date, timedelta

ELDERLY_AGE = 70  # 高齢受給者 (健康保険法§74)
LATE_ELDERLY_AGE = 75  # 後期高齢者医療 (高齢者医療確保法§52)


def month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def add_months(d: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (民法§143②)."""
    total = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(total, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(d.day, last))


def first_of_next_month(d: date) -> date:
    return month_end(d) + timedelta(days=1)


def attain_date(birth_date: date, age: int) -> date:
    """N歳に達する日: the day before the Nth birthday (28 Feb for a 29 Feb birth in a common year)."""
    year = birth_date.year + age
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, birth_date.month, birth_date.day) - timedelta(days=1)


def age_on(birth_date: date, on: date) -> int:
    """Age on a date as the rules count it: N from the Nth birthday, the day after N歳に達する日
    (rules.md: "a person aged 75 or more on a date" is one whose 75th birthday is on or before it)."""
    age = on.year - birth_date.year
    if attain_date(birth_date, age) >= on:
        age -= 1
    return age


def late_elderly_start(birth_date: date) -> date:
    """The day 後期高齢者医療 begins and this society's cover ends: the 75th birthday itself
    (the day after 75歳に達する日; 1 March for a 29 February birth in a common year)."""
    return attain_date(birth_date, LATE_ELDERLY_AGE) + timedelta(days=1)


def is_late_elderly_on(birth_date: date, on: date) -> bool:
    """Aged 75 or more on the date: not qualified in this society on that date."""
    return on >= late_elderly_start(birth_date)


def elderly_start(birth_date: date) -> date:
    """高齢受給者 start (健康保険法§74①二): the first day of the month after the month that contains
    70歳に達する日. Born on the 1st, that day is the previous month's last day, so the start is the
    birthday month itself (born 1960-01-01 → 2030-01-01; born 1960-01-10 → 2030-02-01)."""
    return first_of_next_month(attain_date(birth_date, ELDERLY_AGE))


def fiscal_year(d: date) -> int:
    """年度 (April to March)."""
    return d.year if d.month >= 4 else d.year - 1


def age_cover_until(birth_date: date) -> date:
    """The last day this society covers a person by age: the day before the 75th birthday (born
    29 February: 28 February in a common year, the 75th birthday being 1 March, 民法§143)."""
    return late_elderly_start(birth_date) - timedelta(days=1)


# The columns of members.Person that derived_person_fields computes (and nothing else writes).
DERIVED_PERSON_FIELDS = ("household_id", "age_cover_until", "elderly_from")


def derived_person_fields(*, birth_date: date, member_id: int | None, pk: int | None) -> dict:
    """The date law stored on a person, so that every rule becomes a column comparison that runs
    the same in bulk and for one person (certificates.rules):

    - household_id: the household's 被保険者, the person themselves for a 本人 (None while a new
      本人 has no id yet: members.models.Person settles it in the same transaction);
    - age_cover_until: the last day of cover by age (the day before the 75th birthday);
    - elderly_from: the day the person becomes a 高齢受給者 (健康保険法§74①二).

    The only definition of these values: Person.save, the bulk inserts (imports, seed_demo) and
    the data migration call it."""
    return {
        "household_id": member_id if member_id is not None else pk,
        "age_cover_until": age_cover_until(birth_date),
        "elderly_from": elderly_start(birth_date),
    }
