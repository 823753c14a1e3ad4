"""The certificates app's export kinds for auditors (`manage.py export_csv certificates|runs|returns`,
and the admin changelists of certificates, runs and 返却管理), registered with core.exports from
CertificatesConfig.ready. The columns are the contract of docs/contracts.md."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.exports import CHUNK_SIZE, Dataset

from .models import Certificate, CertificateState


def _today() -> date:
    return timezone.localdate()


CERTIFICATE_HEADER = (
    "証明書番号",
    "記号",
    "番号",
    "枝番",
    "氏名",
    "氏名カナ",
    "交付年月日",
    "有効期限",
    "交付事由",
    "状態",
    "送付先",
    "高齢受給者証発効日",
    "一部負担金割合",
    "一括交付ID",
)


def _effective_state_of():
    """Certificate.effective_state (the single source of the "as of today" rule) applied to plain
    values, through one reused unsaved instance instead of a model instance per row."""
    probe = Certificate()
    today = _today()

    def state(stored: str, valid_until: date) -> str:
        probe.state = stored
        probe.valid_until = valid_until
        return probe.effective_state(today)

    return state


def _certificate_rows(qs: QuerySet) -> Iterator[list]:
    state = _effective_state_of()
    values = qs.values_list(
        "number",
        "person__kigo",
        "person__bango",
        "person__edaban",
        "printed_name",
        "printed_name_kana",
        "issue_date",
        "valid_until",
        "reason",
        "state",
        "route",
        "elderly_start",
        "copay_ratio",
        "run_id",
    )
    for (
        number,
        kigo,
        bango,
        edaban,
        name,
        kana,
        issue_date,
        valid_until,
        reason,
        stored_state,
        route,
        elderly_start,
        copay_ratio,
        run_id,
    ) in values.iterator(chunk_size=CHUNK_SIZE):
        yield [
            number,
            kigo,
            bango,
            edaban,
            name,
            kana,
            issue_date,
            valid_until,
            reason,
            state(stored_state, valid_until),
            route,
            elderly_start,  # as stored: the issuing rules already left it empty when out of range
            copay_ratio,
            run_id,
        ]


RETURNS_HEADER = (
    "証明書番号",
    "記号",
    "番号",
    "枝番",
    "氏名",
    "交付年月日",
    "有効期限",
    "状態",
    "状態の理由",
    "返却期限",
    "返却経路",
    "返却日",
    "期限超過",
)


def _returns_rows(qs: QuerySet) -> Iterator[list]:
    state = _effective_state_of()
    today = _today()
    values = qs.values_list(
        "number",
        "person__kigo",
        "person__bango",
        "person__edaban",
        "printed_name",
        "issue_date",
        "valid_until",
        "state",
        "state_note",
        "return_due",
        "return_route",
        "returned_on",
    )
    for (
        number,
        kigo,
        bango,
        edaban,
        name,
        issue_date,
        valid_until,
        stored_state,
        note,
        due,
        route,
        returned_on,
    ) in values.iterator(chunk_size=CHUNK_SIZE):
        # Overdue (施行規則§51: within 5 days of the loss): still pending after the due date, or
        # received after it.
        if returned_on is not None:
            overdue = due is not None and returned_on > due
        else:
            overdue = (
                stored_state == CertificateState.RETURN_PENDING and due is not None and today > due
            )
        yield [
            number,
            kigo,
            bango,
            edaban,
            name,
            issue_date,
            valid_until,
            state(stored_state, valid_until),
            note,
            due,
            route,
            returned_on,
            overdue,
        ]


RUNS_HEADER = (
    "一括交付ID",
    "状態",
    "基準日",
    "交付年月日",
    "有効期限",
    "作成者",
    "作成日時",
    "承認者",
    "承認日時",
    "実行者",
    "実行開始",
    "完了日時",
    "対象者数",
    "交付数",
)


def _runs_rows(qs: QuerySet) -> Iterator[list]:
    values = qs.values_list(
        "pk",
        "state",
        "status_date",
        "issue_date",
        "valid_until",
        "created_by__username",
        "created_at",
        "approved_by__username",
        "approved_at",
        "executed_by__username",
        "started_at",
        "finished_at",
        "target_count",
        "issued_count",
    )
    for row in values.iterator(chunk_size=CHUNK_SIZE):
        yield list(row)


CERTIFICATES = Dataset(
    name="certificates",
    label="資格確認書",
    model_label="certificates.Certificate",
    header=CERTIFICATE_HEADER,
    rows=_certificate_rows,
    order_by=("number",),
)
RUNS = Dataset(
    name="runs",
    label="一括職権交付",
    model_label="certificates.IssuanceRun",
    header=RUNS_HEADER,
    rows=_runs_rows,
)
RETURNS = Dataset(
    name="returns",
    label="返却管理",
    model_label="certificates.Certificate",
    header=RETURNS_HEADER,
    rows=_returns_rows,
    # Certificates that are or were 返却待ち: a due date is set when the return is required and
    # kept after receipt.
    base_filter=Q(state=CertificateState.RETURN_PENDING) | Q(return_due__isnull=False),
    order_by=("return_due", "number"),
)
