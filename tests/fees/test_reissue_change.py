"""記載事項変更: new details, a new certificate (same 有効期限), the old one 返却待ち."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from certificates.models import Certificate, CertificateState
from documents.models import DocumentKind
from fees.models import ApplicationState, Invoice, ReissueApplication
from fees.services import reissue_application_issue, reissue_application_receive_change
from tests.fees.builders import dependent, issue, member, refresh

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _cert(person=None):
    t = _today()
    return issue(
        person or member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700)
    )


def test_change_issues_a_new_certificate_with_the_new_name_and_asks_the_old_back(clerk):
    m = member(name="山田 花子", name_kana="ヤマダ ハナコ")
    old = _cert(m)
    received = _today() - timedelta(days=1)
    app = reissue_application_receive_change(
        certificate=old,
        route="事業主経由",
        received_on=received,
        new_name="髙﨑 花子",
        new_name_kana="ﾀｶｻｷ ﾊﾅｺ",
        acting_user=clerk,
    )
    assert app.state == ApplicationState.ISSUED and app.issued_by == clerk
    new = app.new_certificate
    assert new.reason == "再交付(記載事項変更)"
    assert new.printed_name == "髙﨑 花子"
    # normalised to full-width katakana by the registry (members.services.person_change_name)
    assert new.printed_name_kana.startswith("タカサキ") and "ﾀ" not in new.printed_name_kana
    assert new.valid_until == old.valid_until
    assert new.replaces_id == old.pk and new.state == CertificateState.ACTIVE
    old = refresh(old)
    assert old.printed_name == "山田 花子"  # history is not rewritten
    assert old.state == CertificateState.RETURN_PENDING
    assert old.return_due == received + timedelta(days=5)
    assert old.return_route == "事業主経由"
    assert old.state_note == "記載事項変更による再交付"
    assert refresh(m).name == "髙﨑 花子"
    assert app.document.kind == DocumentKind.REISSUE and app.document.item_ids == [new.pk]
    assert not Invoice.objects.exists()  # no fee for a change


def test_change_without_new_name_reprints_the_registry_details(clerk):
    m = member(name="佐藤 一郎", name_kana="サトウ イチロウ")
    old = _cert(m)
    m.name = "佐藤 壱郎"
    m.save(update_fields=["name"])
    app = reissue_application_receive_change(
        certificate=old, route="事業主経由", received_on=_today(), acting_user=clerk
    )
    assert app.new_certificate.printed_name == "佐藤 壱郎"


def test_voluntary_dependent_applies_directly_and_returns_directly(clerk):
    m = member(insured_type="任意継続", voluntary_until=_today() + timedelta(days=400))
    d = dependent(m)
    old = _cert(d)
    app = reissue_application_receive_change(
        certificate=old, route="直接", received_on=_today(), acting_user=clerk
    )
    assert refresh(old).return_route == "自宅"
    assert app.new_certificate.route == "自宅"


def test_change_refusals_change_nothing(clerk):
    old = _cert()
    with pytest.raises(ValidationError, match="両方入力"):
        reissue_application_receive_change(
            certificate=old,
            route="事業主経由",
            received_on=_today(),
            new_name="新しい 名前",
            acting_user=clerk,
        )
    with pytest.raises(ValidationError, match="届出経路"):
        reissue_application_receive_change(
            certificate=old, route="直接", received_on=_today(), acting_user=clerk
        )
    assert refresh(old).state == CertificateState.ACTIVE
    assert not ReissueApplication.objects.exists()
    t = _today()
    expired = issue(member(), issue_date=t - timedelta(days=400), valid_until=t - timedelta(days=1))
    with pytest.raises(ValidationError, match="返却不要のため記載事項変更の対象になりません"):
        reissue_application_receive_change(
            certificate=expired, route="事業主経由", received_on=t, acting_user=clerk
        )


def test_a_second_change_on_the_old_certificate_is_refused(clerk):
    old = _cert()
    reissue_application_receive_change(
        certificate=old, route="事業主経由", received_on=_today(), acting_user=clerk
    )
    with pytest.raises(ValidationError, match="すでに記載事項変更の申請があります"):
        reissue_application_receive_change(
            certificate=refresh(old), route="事業主経由", received_on=_today(), acting_user=clerk
        )
    assert Certificate.objects.filter(reason="再交付(記載事項変更)").count() == 1


def test_change_keeps_the_validity_capped_by_the_75th_birthday(clerk):
    # born so that the 75th birthday (next 1 January) falls before the old certificate's expiry
    birth = date(_today().year - 74, 1, 1)
    m = member(birth_date=birth)
    old = issue(
        m, issue_date=_today() - timedelta(days=3), valid_until=_today() + timedelta(days=900)
    )
    app = reissue_application_receive_change(
        certificate=old, route="事業主経由", received_on=_today(), acting_user=clerk
    )
    assert app.new_certificate.valid_until == date(birth.year + 75, 1, 1) - timedelta(days=1)


def test_issue_action_on_a_change_application_is_refused(clerk):
    app = reissue_application_receive_change(
        certificate=_cert(), route="事業主経由", received_on=_today(), acting_user=clerk
    )
    with pytest.raises(ValidationError, match="記載事項変更の申請です"):
        reissue_application_issue(application=app, acting_user=clerk)
