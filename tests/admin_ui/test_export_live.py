"""A background export's page follows the job without reloading (htmx fragment) until it is done."""

import pytest
from django.test import Client
from django.urls import reverse

from core.models import ExportJob, ExportJobState

pytestmark = pytest.mark.django_db


def test_export_job_state_is_polled_until_done(auditor, clerk):
    job = ExportJob.objects.create(
        requested_by=auditor,
        dataset="certificates",
        model_label="certificates.Certificate",
        encoding="cp932",
    )
    client = Client()
    client.force_login(auditor)
    page = client.get(reverse("admin:core_exportjob_change", args=[job.pk])).content.decode()
    state_url = reverse("admin:core_exportjob_state", args=[job.pk])
    assert f'hx-get="{state_url}"' in page and 'hx-trigger="every 2s"' in page
    fragment = client.get(state_url).content.decode()
    assert "待機" in fragment and "hx-trigger" in fragment
    job.state = ExportJobState.FAILED
    job.save()
    fragment = client.get(state_url).content.decode()
    assert "失敗" in fragment and "hx-trigger" not in fragment  # polling stops
    # someone else's job: not even its state
    other = Client()
    other.force_login(clerk)
    assert other.get(state_url).status_code in (403, 404)
