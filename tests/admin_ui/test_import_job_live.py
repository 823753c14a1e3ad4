"""A background import's page follows the job without reloading: the page carries the htmx poll,
the same URL asked by htmx answers the fragment alone, and once the job has ended the fragment has
the report and no trigger (polling stops). Someone else's job is refused."""

import pytest
from django.test import Client
from django.urls import reverse

from members.import_jobs import ImportJob, ImportJobState, ImportKind

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _job(user, **kw) -> ImportJob:
    return ImportJob.objects.create(
        kind=ImportKind.MEMBERS, requested_by=user, source_name="加入者.csv", **kw
    )


def test_the_job_page_is_polled_until_the_job_ends_then_shows_the_report(clerk):
    job = _job(clerk, state=ImportJobState.RUNNING, phase="検証", fraction=0.4)
    url = reverse("admin:members_person_import_job", args=[job.pk])
    client = Client()
    client.force_login(clerk)
    page = client.get(url)
    body = page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert "http-equiv" not in body  # no reload of the whole page
    assert f'hx-get="{url}" hx-trigger="every 2s" hx-swap="outerHTML"' in body
    assert "<html" in body and "40%" in body and "（検証）" in body

    fragment = client.get(url, **HTMX)
    text = fragment.content.decode()
    assert "<html" not in text and text.strip().startswith('<div id="import-job"')
    assert 'data-state="処理中"' in text and "hx-trigger" in text
    assert "HX-Request" in fragment["Vary"]

    job.state, job.summary = ImportJobState.DONE, "加入者の取込が完了しました: 2行 / 新規 2"
    job.save()
    text = client.get(url, **HTMX).content.decode()
    assert "hx-trigger" not in text and 'data-state="完了"' in text  # polling stops
    assert job.summary in text and "<progress" not in text


def test_a_refused_job_ends_with_its_rows_and_no_poll(clerk):
    job = _job(
        clerk,
        state=ImportJobState.REFUSED,
        summary="2件のエラーのため取り込みませんでした",
        errors=[[3, "性別", "性別は 男 または 女"]],
        error_total=2,
    )
    url = reverse("admin:members_person_import_job", args=[job.pk])
    client = Client()
    client.force_login(clerk)
    text = client.get(url, **HTMX).content.decode()
    assert "hx-trigger" not in text and "取り込めませんでした（何も保存していません）" in text
    assert "<td>3</td><td>性別</td>" in text and "ほか1件のエラーがあります" in text


def test_someone_elses_job_is_refused_page_and_fragment(clerk, supervisor):
    job = _job(supervisor)
    url = reverse("admin:members_person_import_job", args=[job.pk])
    client = Client()
    client.force_login(clerk)
    assert client.get(url).status_code == 403
    assert client.get(url, **HTMX).status_code == 403
