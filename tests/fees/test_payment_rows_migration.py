"""fees 0006_s19: the rows an import applied and listed move from two JSON lists on PaymentImport to
PaymentImportRow rows; an import recorded before the migration keeps every row, its reason and its
order, and migrating back restores the lists."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("fees", "0005_s13_after_issue_to_certificates")]
AFTER = [("fees", "0006_s19_payment_import_rows")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    leaves = [n for n in executor.loader.graph.leaf_nodes() if n[0] != "fees"]
    return executor.loader.project_state([*leaves, *targets]).apps


def _latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_listed_rows_survive_the_move_and_the_way_back():
    old = _migrate(BEFORE)
    try:
        imp = old.get_model("fees", "PaymentImport").objects.create(
            source_name="furikomi.csv",
            sha256="0" * 64,
            row_count=3,
            applied_count=1,
            rejected_count=2,
            applied=[{"row": 2, "number": "2026-000001", "amount": 1000, "paid_on": "2026-05-01"}],
            rejected=[
                {
                    "row": 4,
                    "number": "2026-000009",
                    "amount": 1000,
                    "paid_on": "2026-05-01",
                    "reason": "該当する請求書がありません",
                },
                {
                    "row": 3,
                    "number": "2026-000001",
                    "amount": 900,
                    "paid_on": "2026-05-02",
                    "reason": "入金額 900円 が請求金額 1,000円 と一致しません",
                },
            ],
        )
        new = _migrate(AFTER)
        rows = list(
            new.get_model("fees", "PaymentImportRow")
            .objects.filter(payment_import_id=imp.pk)
            .order_by("row")
            .values_list("row", "number", "amount", "applied", "reason")
        )
        assert rows == [
            (2, "2026-000001", 1000, True, ""),
            (3, "2026-000001", 900, False, "入金額 900円 が請求金額 1,000円 と一致しません"),
            (4, "2026-000009", 1000, False, "該当する請求書がありません"),
        ]
        back = _migrate(BEFORE)
        restored = back.get_model("fees", "PaymentImport").objects.get(pk=imp.pk)
        assert [r["row"] for r in restored.applied] == [2]
        assert [(r["row"], r["reason"]) for r in restored.rejected] == [
            (3, "入金額 900円 が請求金額 1,000円 と一致しません"),
            (4, "該当する請求書がありません"),
        ]
    finally:
        _latest()
