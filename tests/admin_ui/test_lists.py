"""Lists a clerk reads at 1366 px: filters fold away, pages stay small, the person list links to
the 加入者カルテ."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/members/person/",
        "/admin/certificates/certificate/",
        "/admin/certificates/returnpendingcertificate/",
        "/admin/fees/reissueapplication/",
    ],
)
def test_list_pages_are_small_and_their_filters_fold(url, clerk):
    call_command("seed_demo", persons=150, seed=5, stdout=io.StringIO())
    client = Client()
    client.force_login(clerk)
    page = client.get(url).content.decode()
    assert len(page.encode()) < 300_000
    assert '<details class="filters-fold">' in page  # folded: no filter applied
    assert "絞り込み" in page


def test_an_applied_filter_keeps_the_filters_open(clerk):
    client = Client()
    client.force_login(clerk)
    page = client.get("/admin/members/person/", {"qualification": "lost"}).content.decode()
    assert '<details class="filters-fold" open>' in page and "(適用中)" in page
