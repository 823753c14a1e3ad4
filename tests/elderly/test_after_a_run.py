"""A bulk run and the 高齢受給者証 events: the run's holders aged 70–74 are listed the next night
(from the certificate's 交付年月日, at the ratio of that day), one who turns 70 years later only in
the month of their 70th birthday-eve."""

from datetime import date

import pytest

from certificates.services import run_approve, run_create, run_execute
from elderly.services import detect_events
from tests.certificates.factories import dependent, member, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_run_holders_get_their_card_from_the_events_not_years_ahead(clerk, supervisor):
    old = member(birth_date=date(1954, 2, 2), standard_remuneration=280_000)
    spouse = dependent(old, birth_date=date(1955, 1, 20))
    young = member(birth_date=date(1960, 6, 15), standard_remuneration=280_000)
    snapshot(
        date(2026, 11, 30),
        [(old, "未登録", None), (spouse, "未登録", None), (young, "未登録", None)],
    )
    run = run_create(
        status_date=date(2026, 11, 30),
        issue_date=date(2026, 12, 2),
        valid_until=date(2031, 11, 30),
        acting_user=clerk,
    )
    run_approve(run=run, acting_user=supervisor)
    run_execute(run=run, acting_user=supervisor)
    found = {
        (f.person.pk, f.kind, f.effective_from, f.ratio)
        for f in detect_events(today=date(2026, 12, 2))
    }
    assert found == {
        (old.pk, "資格確認書交付", date(2026, 12, 2), "3割"),
        (spouse.pk, "資格確認書交付", date(2026, 12, 2), "3割"),
    }
    # young turns 70 on 2030-06-15 (eve 06-14): listed in June 2030, effective 2030-07-01
    assert not [f for f in detect_events(today=date(2030, 5, 31)) if f.person.pk == young.pk]
    (f,) = [f for f in detect_events(today=date(2030, 6, 1)) if f.person.pk == young.pk]
    assert (f.kind, f.effective_from) == ("70歳到達", date(2030, 7, 1))
