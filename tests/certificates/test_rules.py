"""Table-driven tests of the rules at every boundary of rules.md ("Age rules" and "Who receives a
資格確認書 ex officio").

Every case runs twice: against the independent reference model (tests/certificates/
reference_rules.py, no database), and against the production selection, the queryset of
certificates.selectors.issuance_targets (the person written to the database, the run's queryset
read back), which must give the same Decision, field by field — on PostgreSQL and on SQLite."""

from datetime import date

import pytest

from certificates.rules import Status, checklist_step, ec_registration_lapse

from .queryset_rules import queryset_evaluate
from .reference_rules import Holder, evaluate

ISSUE = date(2026, 12, 1)
RUN_UNTIL = date(2031, 11, 30)


def holder(**kw) -> Holder:
    base = dict(
        birth_date=date(1980, 5, 10),
        acquired_on=date(2010, 4, 1),
        lost_on=None,
        needs_consideration=False,
        insured_type="一般",
        voluntary_until=None,
        standard_remuneration=300_000,
    )
    base.update(kw)
    return Holder(**base)


def dep(**kw) -> Holder:
    base = dict(
        is_dependent=True, member_birth_date=date(1978, 3, 3), standard_remuneration=300_000
    )
    base.update(kw)
    return holder(**base)


UNREG = Status("未登録")


_EVALUATOR = {"name": "reference"}


@pytest.fixture(
    autouse=True, params=["reference", pytest.param("queryset", marks=pytest.mark.django_db)]
)
def evaluator(request):
    """Which evaluation `ev` checks: the reference model, or the production queryset as well."""
    _EVALUATOR["name"] = request.param
    yield request.param
    _EVALUATOR["name"] = "reference"


def ev(h, status=UNREG, actives=(), issue=ISSUE, until=RUN_UNTIL, window=60):
    kw = dict(issue_date=issue, run_valid_until=until, renewal_window_days=window)
    expected = evaluate(h, status, list(actives), **kw)
    if _EVALUATOR["name"] == "queryset":
        got = queryset_evaluate(h, status, list(actives), **kw)
        assert got == expected, f"queryset {got} != reference {expected}"
    return expected


# --- reasons from the status ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status("未登録"), "未登録"),
        (None, "登録状況不明"),
        (Status("登録解除"), "登録解除"),
        (Status("カード返納"), "カード返納"),
        (Status("登録済"), None),
    ],
)
def test_reason_follows_the_status(status, reason):
    d = ev(holder(), status)
    assert (d.reason if d else None) == reason


@pytest.mark.parametrize(
    ("needs", "status", "reason"),
    [
        (True, Status("登録済"), "要配慮者"),  # issued even when 登録済
        (True, Status("未登録"), "未登録"),  # 要配慮者 only when no other reason holds
        (True, None, "登録状況不明"),
        (True, Status("カード返納"), "カード返納"),
        (False, Status("登録済"), None),
    ],
)
def test_consideration_flag_only_when_no_other_reason(needs, status, reason):
    d = ev(holder(needs_consideration=needs), status)
    assert (d.reason if d else None) == reason


# --- 電子証明書失効: the registration lapses on the last day of the 3rd month after the expiry month


@pytest.mark.parametrize(
    ("ec_expiry", "lapse"),
    [
        (date(2025, 9, 15), date(2025, 12, 31)),
        (date(2025, 9, 1), date(2025, 12, 31)),
        (date(2025, 9, 30), date(2025, 12, 31)),
        (date(2025, 11, 30), date(2026, 2, 28)),
        (date(2027, 11, 30), date(2028, 2, 29)),  # leap year
        (date(2026, 8, 31), date(2026, 11, 30)),
    ],
)
def test_ec_registration_lapse_is_the_end_of_the_third_month(ec_expiry, lapse):
    assert ec_registration_lapse(ec_expiry) == lapse


@pytest.mark.parametrize(
    ("ec_expiry", "target"),
    [
        (date(2026, 8, 31), True),  # lapses 2026-11-30, before the issue month's end
        (date(2026, 9, 1), True),  # lapses 2026-12-31 = issue month's end (2026-12-31)
        (date(2026, 9, 30), True),  # same month
        (date(2026, 10, 1), False),  # lapses 2027-01-31, after the issue month's end
        (date(2027, 3, 1), False),  # not even expired yet
    ],
)
def test_ec_expired_is_a_target_when_lapse_is_within_issue_month(ec_expiry, target):
    d = ev(holder(), Status("電子証明書失効", ec_expiry))
    assert (d is not None) == target
    if target:
        assert d.reason == "電子証明書失効"


def test_ec_expired_issue_date_late_in_month_uses_month_end_not_issue_date():
    # issue 2026-12-10; lapse 2026-12-31 is after the issue date but within its month → target
    d = ev(holder(), Status("電子証明書失効", date(2026, 9, 20)), issue=date(2026, 12, 10))
    assert d is not None and d.reason == "電子証明書失効"


def test_ec_expired_not_lapsed_but_consideration_flag_gives_consideration():
    d = ev(holder(needs_consideration=True), Status("電子証明書失効", date(2026, 10, 1)))
    assert d.reason == "要配慮者"


# --- qualification on the issue date ----------------------------------------------------------


@pytest.mark.parametrize(
    ("acquired", "lost", "target"),
    [
        (date(2026, 12, 1), None, True),  # acquired on the issue date
        (date(2026, 12, 2), None, False),  # acquired after
        (date(2010, 4, 1), date(2026, 12, 1), False),  # lost on the issue date
        (date(2010, 4, 1), date(2026, 11, 30), False),
        (date(2010, 4, 1), date(2026, 12, 2), True),  # loses the day after: still qualified
    ],
)
def test_qualified_on_issue_date(acquired, lost, target):
    assert (ev(holder(acquired_on=acquired, lost_on=lost)) is not None) == target


@pytest.mark.parametrize(
    ("birth", "target", "valid_until"),
    [
        (date(1951, 11, 30), False, None),  # 75th birthday before the issue date
        (date(1951, 12, 1), False, None),  # 75th birthday on the issue date: not qualified
        (date(1951, 12, 2), True, date(2026, 12, 1)),  # the day after: valid for one day
        (date(1952, 6, 15), True, date(2027, 6, 14)),
    ],
)
def test_75th_birthday_around_issue_date(birth, target, valid_until):
    d = ev(holder(birth_date=birth))
    assert (d is not None) == target
    if d:
        assert d.valid_until == valid_until


def test_75th_birthday_on_the_first_vs_the_second_of_a_month():
    # Born on the 1st: 75 on 1 June 2027 → valid to 31 May. Born on the 2nd → valid to 1 June.
    assert ev(holder(birth_date=date(1952, 6, 1))).valid_until == date(2027, 5, 31)
    assert ev(holder(birth_date=date(1952, 6, 2))).valid_until == date(2027, 6, 1)


def test_born_29_february_reaches_75_on_1_march_in_a_common_year():
    # 民法§143②: the anniversary 2027-02-29 does not exist → 75 from 1 March 2027
    assert ev(holder(birth_date=date(1952, 2, 29))).valid_until == date(2027, 2, 28)


# --- 高齢受給者 start (70) and 一部負担金割合 -------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "start"),
    [
        (date(1957, 1, 1), date(2027, 1, 1)),  # birthday on the 1st: the birthday month
        (date(1957, 1, 2), date(2027, 2, 1)),  # 2nd: the next month
        (date(1957, 1, 10), date(2027, 2, 1)),
        (date(1956, 12, 1), date(2026, 12, 1)),  # starts on the issue date itself
        (date(1956, 12, 2), date(2027, 1, 1)),
        (date(1955, 3, 15), date(2025, 4, 1)),  # already 高齢受給者 before the issue date
    ],
)
def test_elderly_start_birthday_on_first_vs_second(birth, start):
    d = ev(holder(birth_date=birth))
    assert d.elderly_start == start
    assert d.copay_ratio in ("2割", "3割")


def test_elderly_start_after_validity_end_is_left_empty():
    # turns 70 in 2032, run expiry 2027-11-30
    d = ev(holder(birth_date=date(1962, 5, 10)), until=date(2027, 11, 30))
    assert d.elderly_start is None and d.copay_ratio == ""


def test_elderly_start_on_the_validity_end_is_kept_and_the_day_after_is_not():
    # born 1957-11-01 → start 2027-11-01 = the run's expiry: kept, with the member's own ratio
    d = ev(holder(birth_date=date(1957, 11, 1)), until=date(2027, 11, 1))
    assert (d.elderly_start, d.copay_ratio) == (date(2027, 11, 1), "3割")
    # born 1957-11-02 → start 2027-12-01, one day after the expiry 2027-11-30: left empty
    d2 = ev(holder(birth_date=date(1957, 11, 2)), until=date(2027, 11, 30))
    assert (d2.elderly_start, d2.copay_ratio) == (None, "")


@pytest.mark.parametrize(
    ("remuneration", "ratio"),
    [(280_000, "3割"), (279_999, "2割"), (None, "2割"), (1_000_000, "3割")],
)
def test_member_ratio_uses_own_remuneration(remuneration, ratio):
    d = ev(holder(birth_date=date(1955, 3, 15), standard_remuneration=remuneration))
    assert d.copay_ratio == ratio


@pytest.mark.parametrize(
    ("member_birth", "remuneration", "ratio"),
    [
        (date(1954, 6, 10), 280_000, "3割"),  # member 72, high income
        (date(1954, 6, 10), 279_999, "2割"),  # member 72, low income
        (date(1966, 6, 10), 500_000, "2割"),  # member 60 (not 70–74): 2割 whatever the income
        (
            date(1956, 12, 2),
            500_000,
            "2割",
        ),  # member's own start 2027-01-01 is after the issue date
    ],
)
def test_dependent_ratio_follows_the_member(member_birth, remuneration, ratio):
    h = dep(
        birth_date=date(1955, 3, 15),
        member_birth_date=member_birth,
        standard_remuneration=remuneration,
    )
    assert ev(h).copay_ratio == ratio


def test_dependent_ratio_is_taken_when_the_dependent_starts():
    # dependent starts 2027-05-01; the high-income member (born 1956-12-10) is 高齢受給者 from
    # 2027-01-01 → 3割 from the dependent's start.
    h = dep(
        birth_date=date(1957, 4, 15),
        member_birth_date=date(1956, 12, 10),
        standard_remuneration=400_000,
    )
    d = ev(h)
    assert d.elderly_start == date(2027, 5, 1) and d.copay_ratio == "3割"


# --- validity end --------------------------------------------------------------------------


def test_validity_end_is_the_run_expiry_by_default():
    assert ev(holder()).valid_until == RUN_UNTIL


def test_dependent_capped_at_day_before_members_75th_birthday():
    h = dep(birth_date=date(1990, 1, 1), member_birth_date=date(1953, 4, 1))
    assert ev(h).valid_until == date(2028, 3, 31)
    h2 = dep(birth_date=date(1990, 1, 1), member_birth_date=date(1953, 4, 2))
    assert ev(h2).valid_until == date(2028, 4, 1)


def test_dependent_capped_by_own_75th_birthday_when_earlier():
    h = dep(birth_date=date(1952, 8, 20), member_birth_date=date(1960, 1, 1))
    assert ev(h).valid_until == date(2027, 8, 19)


def test_dependent_not_qualified_once_member_is_75():
    h = dep(birth_date=date(1990, 1, 1), member_birth_date=date(1951, 12, 1))
    assert ev(h) is None
    h2 = dep(birth_date=date(1990, 1, 1), member_birth_date=date(1951, 12, 2))
    assert ev(h2).valid_until == date(2026, 12, 1)


def test_dependent_not_qualified_when_member_lost_on_or_before_issue_date():
    assert ev(dep(member_lost_on=date(2026, 12, 1))) is None
    assert ev(dep(member_lost_on=date(2026, 12, 2))) is not None


@pytest.mark.parametrize(
    ("voluntary_until", "expected"),
    [
        (date(2027, 3, 31), date(2027, 3, 31)),
        (date(2026, 12, 1), date(2026, 12, 1)),  # ends on the issue date: still qualified that day
        (date(2026, 11, 30), None),  # already ended
        (date(2033, 1, 1), RUN_UNTIL),  # after the run's expiry
    ],
)
def test_voluntary_member_and_dependents_capped_at_voluntary_end(voluntary_until, expected):
    m = holder(insured_type="任意継続", voluntary_until=voluntary_until)
    d = dep(insured_type="任意継続", voluntary_until=voluntary_until)
    for h in (m, d):
        got = ev(h)
        assert (got.valid_until if got else None) == expected
        if got:
            assert got.route == "自宅"


def test_route_employer_for_general_households():
    assert ev(holder()).route == "事業主経由"
    assert ev(dep()).route == "事業主経由"


def test_earliest_cap_wins_for_voluntary_dependent_near_75():
    h = dep(
        birth_date=date(1952, 2, 10),  # own 75th: 2027-02-10
        member_birth_date=date(1952, 1, 5),  # member's 75th: 2027-01-05
        insured_type="任意継続",
        voluntary_until=date(2027, 3, 31),
    )
    assert ev(h).valid_until == date(2027, 1, 4)


# --- renewal window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active_until", "outcome"),
    [
        (date(2026, 11, 30), "未登録"),  # expired before the issue date: not blocking
        (date(2026, 12, 1), "更新"),  # valid on the issue date, within the window
        (date(2027, 1, 30), "更新"),  # issue + 60 days: the window's last day
        (date(2027, 1, 31), None),  # issue + 61 days: blocks
        (date(2030, 1, 1), None),
    ],
)
def test_renewal_window_edges(active_until, outcome):
    d = ev(holder(), actives=[active_until])
    assert (d.reason if d else None) == outcome
    if d and outcome == "更新":
        assert d.renews


def test_renewal_window_is_configurable():
    assert ev(holder(), actives=[date(2027, 1, 31)], window=61).reason == "更新"
    assert ev(holder(), actives=[date(2026, 12, 1)], window=0).reason == "更新"
    assert ev(holder(), actives=[date(2026, 12, 2)], window=0) is None


def test_renewal_only_when_still_without_a_usable_card():
    assert ev(holder(), Status("登録済"), actives=[date(2027, 1, 1)]) is None
    d = ev(holder(needs_consideration=True), Status("登録済"), actives=[date(2027, 1, 1)])
    assert d.reason == "更新"  # a renewal is reported as 更新 even for 要配慮者


def test_renewal_plus_a_blocking_certificate_is_not_a_target():
    assert ev(holder(), actives=[date(2027, 1, 1), date(2029, 1, 1)]) is None


# --- the letter's checklist ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "step"),
    [
        (None, "1→2"),
        (Status("カード返納"), "1→2"),
        (Status("未登録"), "2"),
        (Status("登録解除"), "2"),
        (Status("電子証明書失効", date(2026, 1, 1)), "3→2"),
        (Status("登録済"), ""),
    ],
)
def test_checklist_step(status, step):
    assert checklist_step(status) == step


@pytest.mark.parametrize(
    ("h", "active_until", "outcome"),
    [
        # 75 on 2026-12-02: the current certificate already ends on 2026-12-01, the end of cover
        (holder(birth_date=date(1951, 12, 2)), date(2026, 12, 1), None),
        # 75 on 2027-01-15: current ends 2027-01-10, a renewal to 2027-01-14 still adds days
        (holder(birth_date=date(1952, 1, 15)), date(2027, 1, 10), "更新"),
        (holder(birth_date=date(1952, 1, 15)), date(2027, 1, 14), None),
        # 任意継続満了日 2027-01-20 equals the current certificate's end
        (
            holder(insured_type="任意継続", voluntary_until=date(2027, 1, 20)),
            date(2027, 1, 20),
            None,
        ),
        (
            holder(insured_type="任意継続", voluntary_until=date(2027, 1, 20)),
            date(2027, 1, 19),
            "更新",
        ),
    ],
)
def test_renewal_that_would_not_extend_cover_is_not_a_target(h, active_until, outcome):
    # rules.md "Runs are idempotent": re-running the same selection issues nothing new.
    d = ev(h, actives=[active_until])
    assert (d.reason if d else None) == outcome
