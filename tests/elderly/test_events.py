"""高齢受給者証 as events (rules.md "高齢受給者証 (70–74), as events"): detection at the boundaries,
approval by a second person, issue, the replaced card's return, repeatability."""

from __future__ import annotations

import subprocess
from datetime import date, datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from certificates.lifecycle import daily_jobs_run
from certificates.services import certificate_issue
from elderly.models import BatchState, ElderlyCard, ElderlyEvent
from elderly.services import (
    detect_events,
    elderly_batch_approve,
    elderly_cards_apply_losses,
    elderly_cards_record_returns,
    elderly_events_prepare,
    income_basis_record,
)
from tests.certificates.factories import dependent, member

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def certify(person, *, issue=date(2026, 4, 1), until=date(2028, 3, 31), route="事業主経由"):
    return certificate_issue(
        person=person, reason="未登録", issue_date=issue, valid_until=until, route=route
    )


def at(day: date):
    """Freeze 'today' (timezone.localdate) for the services."""
    return mock.patch("django.utils.timezone.localdate", return_value=day)


def kinds(found):
    return {(f.person.pk, f.kind, f.effective_from, f.ratio) for f in found}


# --- reaching 70 -----------------------------------------------------------------------------------


def test_reaching_70_is_listed_in_the_month_of_the_birthday_eve_effective_next_1st():
    m = member(birth_date=date(1956, 12, 10), standard_remuneration=300_000)
    certify(m)
    # 70th birthday 2026-12-10, its eve 12-09: listed in December, effective 2027-01-01.
    assert detect_events(today=date(2026, 11, 30)) == []
    found = detect_events(today=date(2026, 12, 1))
    assert kinds(found) == {(m.pk, "70歳到達", date(2027, 1, 1), "3割")}
    assert kinds(detect_events(today=date(2026, 12, 31))) == kinds(found)


def test_birthday_on_the_first_takes_effect_in_the_birthday_month_itself():
    m = member(birth_date=date(1956, 12, 1), standard_remuneration=200_000)
    certify(m)
    # eve 2026-11-30: listed in November, effective 2026-12-01.
    assert kinds(detect_events(today=date(2026, 11, 1))) == {
        (m.pk, "70歳到達", date(2026, 12, 1), "2割")
    }
    assert detect_events(today=date(2026, 10, 31)) == []


def test_a_mynumber_card_user_without_certificate_needs_no_elderly_card():
    member(birth_date=date(1956, 12, 10))
    assert detect_events(today=date(2026, 12, 1)) == []


def test_a_person_lost_before_the_effective_date_is_not_listed():
    m = member(birth_date=date(1956, 12, 10))
    certify(m)
    m.lost_on = date(2027, 1, 1)
    m.save()
    assert detect_events(today=date(2026, 12, 1)) == []


# --- the other events ------------------------------------------------------------------------------


def test_new_dependent_already_70_to_74_is_effective_from_recognition():
    m = member(birth_date=date(1960, 1, 1), standard_remuneration=500_000)
    d = dependent(m, birth_date=date(1953, 3, 3), acquired_on=date(2026, 10, 15))
    certify(d, issue=date(2026, 11, 2))
    found = detect_events(today=date(2026, 11, 20))
    # member under 70: the dependent pays 2割 whatever the member earns (§110)
    assert kinds(found) == {(d.pk, "被扶養者認定", date(2026, 10, 15), "2割")}


def test_new_certificate_holder_aged_72_gets_a_card_from_the_issue_date():
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=100_000)
    certify(m, issue=date(2026, 11, 2))
    assert kinds(detect_events(today=date(2026, 11, 2))) == {
        (m.pk, "資格確認書交付", date(2026, 11, 2), "2割")
    }
    assert detect_events(today=date(2026, 11, 1)) == []  # the certificate is not in force yet


def _issue_one(person, *, today, supervisor):
    with at(today):
        batch = elderly_events_prepare(today=today)
        elderly_batch_approve(batch=batch, acting_user=supervisor)
    return ElderlyCard.objects.get(person=person, batch=batch)


def test_remuneration_change_reissues_from_the_first_of_its_month(supervisor):
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=279_999)
    certify(m)
    old = _issue_one(m, today=date(2026, 11, 2), supervisor=supervisor)
    assert old.copay_ratio == "2割"
    m.standard_remuneration = 280_000
    m.save()
    found = detect_events(today=date(2026, 12, 10))
    assert kinds(found) == {(m.pk, "標準報酬月額変更", date(2026, 12, 1), "3割")}
    new = _issue_one(m, today=date(2026, 12, 10), supervisor=supervisor)
    old.refresh_from_db()
    assert new.replaces == old and new.copay_ratio == "3割"
    assert old.superseded_from == date(2026, 12, 1)
    assert old.return_due == date(
        2026, 12, 15
    )  # issued after the effective date: 5 days from issue
    assert old.effective_state(date(2026, 11, 30)) == "有効"
    assert old.effective_state(date(2026, 12, 10)) == "返却待ち"
    assert old.is_overdue(date(2026, 12, 16)) and not old.is_overdue(date(2026, 12, 15))
    assert ElderlyCard.objects.covering(date(2026, 12, 10)).get() == new
    # a change that does not change the ratio issues nothing
    m.standard_remuneration = 500_000
    m.save()
    assert detect_events(today=date(2026, 12, 20)) == []


def test_income_basis_granted_then_ended(clerk, supervisor):
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=410_000)
    d = dependent(m, birth_date=date(1955, 1, 20))
    certify(m)
    certify(d)
    _issue_one(m, today=date(2026, 11, 2), supervisor=supervisor)
    with at(date(2026, 11, 20)):
        app = income_basis_record(
            member=m, valid_from=date(2026, 11, 1), decided_on=date(2026, 11, 20), acting_user=clerk
        )
    found = detect_events(today=date(2026, 11, 20))
    assert kinds(found) == {
        (m.pk, "基準収入額適用", date(2026, 11, 1), "2割"),
        (d.pk, "基準収入額適用", date(2026, 11, 1), "2割"),
    }
    with at(date(2026, 11, 20)):
        elderly_batch_approve(
            batch=elderly_events_prepare(today=date(2026, 11, 20)), acting_user=supervisor
        )
    app.valid_to = date(2027, 1, 31)
    app.save()
    assert kinds(detect_events(today=date(2027, 1, 31))) == set()
    assert kinds(detect_events(today=date(2027, 2, 1))) == {
        (m.pk, "基準収入額適用終了", date(2027, 2, 1), "3割"),
        (d.pk, "基準収入額適用終了", date(2027, 2, 1), "3割"),
    }


def test_member_reaching_70_changes_the_dependents_ratio(supervisor):
    m = member(birth_date=date(1957, 1, 10), standard_remuneration=500_000)
    d = dependent(m, birth_date=date(1955, 1, 20))
    certify(m)
    certify(d)
    card = _issue_one(d, today=date(2026, 11, 2), supervisor=supervisor)
    assert card.copay_ratio == "2割"
    # the member's own start: 2027-02-01 (listed in January)
    found = detect_events(today=date(2027, 2, 3))
    assert (d.pk, "被保険者の高齢受給者到達", date(2027, 2, 1), "3割") in kinds(found)


def test_household_member_change_reissues(supervisor):
    m1 = member(birth_date=date(1980, 1, 1), standard_remuneration=500_000)
    m2 = member(birth_date=date(1953, 5, 5), standard_remuneration=500_000)
    d = dependent(m1, birth_date=date(1955, 1, 20), edaban="02")
    certify(d)
    card = _issue_one(d, today=date(2026, 11, 2), supervisor=supervisor)
    assert card.household == m1
    d.member = m2
    d.kigo, d.bango = m2.kigo, m2.bango
    d.save()
    found = detect_events(today=date(2026, 11, 10))
    ((f,),) = [[f for f in found if f.person.pk == d.pk]]
    assert f.kind == "被保険者変更" and f.ratio == "3割" and f.replaces == card


@override_settings(ELDERLY_REDETERMINATION_MONTH=8)
def test_yearly_redetermination_is_listed_in_july_for_1_august(supervisor):
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=100_000)
    certify(m, until=date(2029, 3, 31))
    first = _issue_one(m, today=date(2027, 5, 10), supervisor=supervisor)
    assert first.valid_until == date(2027, 7, 31)
    assert detect_events(today=date(2027, 6, 30)) == []
    found = detect_events(today=date(2027, 7, 1))
    assert kinds(found) == {(m.pk, "年次判定", date(2027, 8, 1), "2割")}
    second = _issue_one(m, today=date(2027, 7, 1), supervisor=supervisor)
    assert second.valid_until == date(2028, 7, 31) and second.replaces == first
    first.refresh_from_db()
    assert first.state == "返却不要"  # it ended the day before its successor: nothing to recover


@override_settings(ELDERLY_REDETERMINATION_MONTH=0)
def test_validity_never_passes_the_day_before_75_nor_the_certificate(supervisor):
    m = member(birth_date=date(1952, 3, 15), standard_remuneration=100_000)
    certify(m, until=date(2028, 3, 31))
    card = _issue_one(m, today=date(2026, 11, 2), supervisor=supervisor)
    assert card.valid_until == date(2027, 3, 14)  # 75th birthday 2027-03-15
    m2 = member(birth_date=date(1954, 3, 15), standard_remuneration=100_000)
    certify(m2, until=date(2027, 9, 30))
    card2 = _issue_one(m2, today=date(2026, 11, 2), supervisor=supervisor)
    assert card2.valid_until == date(2027, 9, 30)


# --- approval, repeatability, audit ----------------------------------------------------------------


def test_prepared_by_one_approved_by_another(clerk, supervisor, supervisor2):
    m = member(birth_date=date(1954, 2, 2))
    certify(m)
    with at(date(2026, 11, 2)):
        batch = elderly_events_prepare(today=date(2026, 11, 2), acting_user=supervisor)
        with pytest.raises(PermissionDenied, match="作成した"):
            elderly_batch_approve(batch=batch, acting_user=supervisor)
        with pytest.raises(PermissionDenied, match="承認者"):
            elderly_batch_approve(batch=batch, acting_user=clerk)
        assert not ElderlyCard.objects.exists()
        elderly_batch_approve(batch=batch, acting_user=supervisor2)
        with pytest.raises(ValidationError, match="承認できません"):
            elderly_batch_approve(batch=batch, acting_user=supervisor2)
    batch.refresh_from_db()
    assert batch.state == BatchState.ISSUED and batch.approved_by == supervisor2
    card = ElderlyCard.objects.get()
    assert card.number.startswith("K2026-") and card.route == "事業主経由"
    from core.models import AuditEvent

    assert AuditEvent.objects.filter(action="elderly_card.issued", object_id=str(card.pk)).exists()


def test_detection_is_safely_repeatable(supervisor):
    m = member(birth_date=date(1954, 2, 2))
    certify(m)
    with at(date(2026, 11, 2)):
        first = elderly_events_prepare(today=date(2026, 11, 2))
        assert first.event_count == 1
        assert elderly_events_prepare(today=date(2026, 11, 2)) is None  # same night again
        assert elderly_events_prepare(today=date(2026, 11, 3)) is None  # awaiting approval
        elderly_batch_approve(batch=first, acting_user=supervisor)
        assert elderly_events_prepare(today=date(2026, 11, 4)) is None  # issued
    assert ElderlyEvent.objects.count() == 1 and ElderlyCard.objects.count() == 1


def test_a_loss_recorded_before_approval_skips_the_line_with_its_reason(supervisor):
    m = member(birth_date=date(1956, 12, 10))
    certify(m)
    with at(date(2026, 12, 1)):
        batch = elderly_events_prepare(today=date(2026, 12, 1))
        m.lost_on = date(2026, 12, 20)
        m.save()
        elderly_batch_approve(batch=batch, acting_user=supervisor)
    batch.refresh_from_db()
    assert batch.state == BatchState.EMPTY and not ElderlyCard.objects.exists()
    assert "資格喪失" in batch.events.get().detail


def test_loss_puts_the_card_up_for_return_by_the_household_route(supervisor, clerk):
    m = member(
        birth_date=date(1954, 2, 2),
        insured_type="任意継続",
        voluntary_until=date(2027, 12, 31),
    )
    certify(m, route="自宅")
    card = _issue_one(m, today=date(2026, 11, 2), supervisor=supervisor)
    assert card.route == "自宅"
    m.lost_on = date(2026, 12, 5)
    m.save()
    assert elderly_cards_apply_losses(today=date(2026, 12, 4)) == []
    (changed,) = elderly_cards_apply_losses(today=date(2026, 12, 5))
    assert changed.state == "返却待ち" and changed.return_due == date(2026, 12, 10)
    assert changed.return_route == "自宅"
    assert elderly_cards_apply_losses(today=date(2026, 12, 6)) == []
    with at(date(2026, 12, 8)):
        (returned,) = elderly_cards_record_returns(
            numbers=[card.number], returned_on=date(2026, 12, 8), acting_user=clerk
        )
        assert returned.state == "返却済"
        with pytest.raises(ValidationError, match="返却待ちではありません"):
            elderly_cards_record_returns(
                numbers=[card.number], returned_on=date(2026, 12, 8), acting_user=clerk
            )


def test_daily_jobs_run_includes_the_elderly_steps_and_repeats_safely():
    m = member(birth_date=date(1954, 2, 2))
    certify(m)
    with at(date(2026, 11, 2)):
        first = daily_jobs_run(today=date(2026, 11, 2))
        second = daily_jobs_run(today=date(2026, 11, 2))
    assert first["高齢受給者証の交付リスト"] == 1
    assert second["高齢受給者証の交付リスト"] == 0


def test_the_pdf_holds_the_card_and_the_return_note(supervisor, tmp_path):
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=279_999, name="髙橋 𠮷男")
    certify(m)
    old = _issue_one(m, today=date(2026, 11, 2), supervisor=supervisor)
    m.standard_remuneration = 280_000
    m.save()
    new = _issue_one(m, today=date(2026, 12, 10), supervisor=supervisor)
    pdf = tmp_path / "e.pdf"
    pdf.write_bytes(new.batch.pdf.read())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "高齢受給者証の送付について" in text
    assert "健康保険 高齢受給者証" in text
    assert "3割" in text and new.number in text and old.number in text
    assert "𠮷" in text
    assert new.batch.page_count == 4  # letter, its blank reverse, the card sheet, the cards' backs


def _pages(pdf) -> list[str]:
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("\f")[:-1]


def test_the_pdf_prints_duplex_with_backs_the_members_name_and_sex_on_the_back(
    supervisor, tmp_path
):
    """Printed duplex, the card sheet starts on a sheet's front (the letter's reverse is blank),
    the cards' backs are on its reverse (注意事項; 性別 there for a holder who asked for it, the front
    then saying 裏面参照), and a 家族 card shows the 被保険者氏名 (CARD_INSURED_NAME_ON_FAMILY)."""
    m = member(birth_date=date(1954, 2, 2), name="山田 太郎")
    wife = dependent(m, birth_date=date(1954, 3, 3), name="山田 花子")
    wife.sex, wife.sex_on_back = "女", True
    wife.save()
    certify(m)
    certify(wife)
    with at(date(2026, 11, 2)):
        batch = elderly_events_prepare(today=date(2026, 11, 2))
        elderly_batch_approve(batch=batch, acting_user=supervisor)
    batch.refresh_from_db()
    pdf = tmp_path / "duplex.pdf"
    pdf.write_bytes(batch.pdf.read())
    pages = _pages(pdf)
    assert len(pages) == batch.page_count == 4
    letter, reverse, sheet, backs = pages
    assert "高齢受給者証の送付について" in letter and "健康保険 高齢受給者証" not in letter
    assert reverse.strip() == ""
    assert sheet.count("健康保険 高齢受給者証") == 2
    # the member's own card and, as 被保険者氏名, the 家族 card
    assert sheet.count("被保険者氏名") == 1 and sheet.count("山田 太郎") == 2
    assert sheet.count("裏面参照") == 1
    assert backs.count("注意事項") == 2 and backs.count("性別") == 1
    assert "性別 女" in backs and "女" not in sheet


# --- ELDERLY_RATIO_ON_CERTIFICATE=1: the 資格確認書 prints the ratio ---------------------------------


@override_settings(ELDERLY_RATIO_ON_CERTIFICATE=True)
def test_with_the_ratio_on_the_certificate_a_change_reissues_the_certificate(supervisor, tmp_path):
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=279_999)
    old = certificate_issue(
        person=m,
        reason="未登録",
        issue_date=date(2026, 4, 1),
        valid_until=date(2028, 3, 31),
        route="事業主経由",
        elderly_start=date(2024, 3, 1),
        copay_ratio="2割",
    )
    assert detect_events(today=date(2026, 11, 2)) == []  # the printed ratio fits
    m.standard_remuneration = 280_000
    m.save()
    with at(date(2026, 12, 10)):
        batch = elderly_events_prepare(today=date(2026, 12, 10))
        elderly_batch_approve(batch=batch, acting_user=supervisor)
    event = batch.events.get()
    assert event.kind == "標準報酬月額変更" and event.valid_until == old.valid_until
    new = event.new_certificate
    old.refresh_from_db()
    assert (new.reason, new.copay_ratio, new.elderly_start) == (
        "再交付(記載事項変更)",
        "3割",
        date(2024, 3, 1),
    )
    assert new.replaces == old and old.state == "返却待ち"
    assert not ElderlyCard.objects.exists()
    batch.refresh_from_db()
    assert batch.skipped == []
    pdf = tmp_path / "c.pdf"
    pdf.write_bytes(batch.pdf.read())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "健康保険 資格確認書" in text and "一部負担金の割合 3割" in text
    assert "健康保険 高齢受給者証" not in text
    assert detect_events(today=date(2026, 12, 11)) == []  # repeat: the new certificate fits


@override_settings(ELDERLY_RATIO_ON_CERTIFICATE=True)
def test_with_the_ratio_on_the_certificate_reaching_70_reissues_only_when_it_differs():
    m = member(birth_date=date(1956, 12, 10), standard_remuneration=300_000)
    certificate_issue(
        person=m,
        reason="未登録",
        issue_date=date(2026, 4, 1),
        valid_until=date(2028, 3, 31),
        route="事業主経由",
        elderly_start=date(2027, 1, 1),
        copay_ratio="3割",
    )
    assert detect_events(today=date(2026, 12, 1)) == []
    m.standard_remuneration = 200_000
    m.save()
    assert kinds(detect_events(today=date(2026, 12, 1))) == {
        (m.pk, "70歳到達", date(2027, 1, 1), "2割")
    }


def _record_remuneration(person, yen: int, at_jst: datetime):
    """The 標準報酬月額 as an import records it, at a given moment (its history row's date)."""
    person.standard_remuneration = yen
    person.save()
    person.history.filter(
        history_id=person.history.order_by("-history_id").first().history_id
    ).update(history_date=at_jst)


def test_remuneration_recorded_on_the_last_day_is_effective_from_that_month(supervisor):
    """280,000 vs 279,999 at a month boundary: the import of 31 January 23:30 seen by the nightly
    job of 1 February takes effect on 1 January (the month of the new 標準報酬月額); the reverse
    change recorded on 1 February 00:10 takes effect on 1 February."""
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=279_999)
    certify(m, issue=date(2026, 12, 1))
    card = _issue_one(m, today=date(2026, 12, 2), supervisor=supervisor)
    assert card.copay_ratio == "2割"
    _record_remuneration(m, 280_000, datetime(2027, 1, 31, 23, 30, tzinfo=JST))
    found = detect_events(today=date(2027, 2, 1))
    assert kinds(found) == {(m.pk, "標準報酬月額変更", date(2027, 1, 1), "3割")}
    new = _issue_one(m, today=date(2027, 2, 1), supervisor=supervisor)
    assert (new.effective_from, new.copay_ratio) == (date(2027, 1, 1), "3割")
    _record_remuneration(m, 279_999, datetime(2027, 2, 1, 0, 10, tzinfo=JST))
    found = detect_events(today=date(2027, 2, 3))
    assert kinds(found) == {(m.pk, "標準報酬月額変更", date(2027, 2, 1), "2割")}
    # a change within the same ratio issues nothing
    _issue_one(m, today=date(2027, 2, 3), supervisor=supervisor)
    _record_remuneration(m, 200_000, datetime(2027, 2, 20, 9, 0, tzinfo=JST))
    assert detect_events(today=date(2027, 3, 1)) == []


def test_remuneration_effective_date_is_never_before_the_card_it_replaces(supervisor):
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=279_999)
    certify(m, issue=date(2026, 12, 7))
    card = _issue_one(m, today=date(2026, 12, 10), supervisor=supervisor)
    assert card.effective_from == date(2026, 12, 7)
    _record_remuneration(m, 280_000, datetime(2026, 12, 15, 12, 0, tzinfo=JST))
    found = detect_events(today=date(2026, 12, 20))
    # recorded in December, but the card in force began on 7 December: not before it
    assert kinds(found) == {(m.pk, "標準報酬月額変更", date(2026, 12, 7), "3割")}
