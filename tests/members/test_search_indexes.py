"""On PostgreSQL, every branch of the admin's person search can use an index (a table of a million
persons must not be scanned for each search). The planner is told not to scan sequentially; a branch
without a usable index then shows up as a sequential scan or as an index scan without an index
condition (a full walk of some other index with a filter)."""

import json
import os

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory

from members.models import Person

from .builders import make_member

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL)",
    ),
    pytest.mark.django_db,
]


@pytest.mark.parametrize("term", ["ヤマダ", "やまだ", "山田", "1001", "10-1001"])
def test_person_search_uses_indexes(term, clerk):
    make_member(bango="1001", name="山田 太郎", name_kana="ヤマダ\u3000タロウ")
    admin = site._registry[Person]
    request = RequestFactory().get("/", {"q": term})
    request.user = clerk
    queryset, _ = admin.get_search_results(request, Person.objects.all(), term)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    # Without ORDER BY: the question is whether the WHERE can be answered from indexes.
    plan = json.loads(queryset.order_by().explain(format="json"))
    assert _full_scans(plan[0]["Plan"]) == [], json.dumps(plan, ensure_ascii=False, indent=1)
    assert list(queryset) != []


def _full_scans(node) -> list[str]:
    found = []
    kind = node["Node Type"]
    if kind == "Seq Scan" or (
        kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node
    ):
        found.append(f"{kind} {node.get('Index Name', '')}")
    for child in node.get("Plans", []):
        found += _full_scans(child)
    return found
