"""本日の業務: counts per role linking to the lists, and the return recovery rate."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from certificates.lifecycle import certificates_record_returns
from core.dashboard import recovery_rates, today_items
from tests.admin_ui.crawl import english_words

pytestmark = pytest.mark.django_db


def _items(user):
    return {i.label: i for i in today_items(user)}


def test_each_role_sees_what_it_acts_on(society, clerk, supervisor, auditor, supervisor2):
    clerk_items = _items(clerk)
    assert "承認待ちの一括交付" not in clerk_items  # clerks do not approve
    assert clerk_items["交付待ち(入金済・免除)"].count == 1  # 山田: paid, not issued
    assert clerk_items["返却期限超過"].count == 1  # 鈴木
    assert clerk_items["督促状がまだの期限超過"].count == 0  # reminded already
    assert clerk_items["宛所不明で再送待ち"].count == 1  # 加藤
    assert clerk_items["入金待ちの再交付申請"].count == 0
    sup_items = _items(supervisor2)
    assert sup_items["承認待ちの一括交付"].count == 0 and "実行待ちの一括交付" in sup_items


def test_left_out_runs_and_the_days_elderly_list_are_counted(society, clerk, supervisor2):
    from certificates.models import CopayRatio, IssuanceRun, Route, RunState
    from elderly.models import ElderlyBatch, ElderlyEvent, ElderlyEventKind

    before = _items(clerk)
    assert before["印刷未了の一括交付"].count == 0
    assert before["承認待ちの高齢受給者証"].count == 0
    run = IssuanceRun.objects.create(
        status_date=society.today,
        issue_date=society.today,
        valid_until=society.today,
        created_by=clerk,
        approved_by=supervisor2,
        approved_at=timezone.now(),
        state=RunState.PRINT_INCOMPLETE,
    )
    batch = ElderlyBatch.objects.create(detected_on=society.today)
    holder = society.sato
    ElderlyEvent.objects.create(
        batch=batch,
        person=holder,
        household=holder.household,
        certificate=holder.certificates.get(),
        kind=ElderlyEventKind.REACHING_70,
        effective_from=society.today,
        valid_until=society.today,
        copay_ratio=CopayRatio.TWO,
        route=Route.EMPLOYER,
    )
    after = _items(clerk)
    assert after["印刷未了の一括交付"].count == 1
    assert after["承認待ちの高齢受給者証"].count == 1
    client = Client()
    client.force_login(clerk)
    for label in ("印刷未了の一括交付", "承認待ちの高齢受給者証"):
        assert client.get(after[label].url).status_code == 200
    assert str(run.pk) in client.get(after["印刷未了の一括交付"].url).content.decode()


def test_home_page_links_each_count_to_its_list(society, clerk):
    client = Client()
    client.force_login(clerk)
    page = client.get("/admin/").content.decode()
    assert "本日の業務" in page
    assert english_words(page) == []
    for item in today_items(clerk):
        assert f'href="{item.url}"' in page.replace("&amp;", "&")
        assert client.get(item.url).status_code == 200, item.url


def test_recovery_rate_within_5_and_30_days_of_the_loss(society, clerk, auditor):
    suzuki_cert = society.suzuki.certificates.get()
    lost_on = society.suzuki.lost_on  # 21 days ago
    certificates_record_returns(
        numbers=[suzuki_cert.number], returned_on=lost_on + timedelta(days=10), acting_user=clerk
    )
    (month,) = [r for r in recovery_rates() if r.month == lost_on.replace(day=1)]
    assert (month.asked, month.within_short, month.within_month) == (1, 0, 1)
    assert month.month_rate == 100.0 and month.short_rate == 0.0
    client = Client()
    client.force_login(auditor)
    page = client.get("/admin/recovery/").content.decode()
    assert "100.00%" in page and english_words(page) == []
    response = client.get("/admin/recovery.csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "喪失月"
    assert [lost_on.strftime("%Y-%m"), "1", "0", "0.00", "1", "100.00"] in rows
