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


# Each export's columns, said once: (header, the stored field it reads). 状態 is the stored state as of
# today (Certificate.effective_state); a column with no field is computed by the rows function.
CERTIFICATE_COLUMNS = (
    ("証明書番号", "number"),
    ("記号", "person__kigo"),
    ("番号", "person__bango"),
    ("枝番", "person__edaban"),
    ("氏名", "printed_name"),
    ("氏名カナ", "printed_name_kana"),
    ("交付年月日", "issue_date"),
    ("有効期限", "valid_until"),
    ("交付事由", "reason"),
    ("状態", "state"),
    ("送付先", "route"),
    # as stored: the issuing rules already left it empty when out of range
    ("高齢受給者証発効日", "elderly_start"),
    ("一部負担金割合", "copay_ratio"),
    ("一括交付ID", "run_id"),
)
RETURNS_COLUMNS = (
    ("証明書番号", "number"),
    ("記号", "person__kigo"),
    ("番号", "person__bango"),
    ("枝番", "person__edaban"),
    ("氏名", "printed_name"),
    ("交付年月日", "issue_date"),
    ("有効期限", "valid_until"),
    ("状態", "state"),
    ("状態の理由", "state_note"),
    ("返却期限", "return_due"),
    ("返却経路", "return_route"),
    ("返却日", "returned_on"),
    ("期限超過", None),
)
RUNS_COLUMNS = (
    ("一括交付ID", "pk"),
    ("状態", "state"),
    ("基準日", "status_date"),
    ("交付年月日", "issue_date"),
    ("有効期限", "valid_until"),
    ("作成者", "created_by__username"),
    ("作成日時", "created_at"),
    ("承認者", "approved_by__username"),
    ("承認日時", "approved_at"),
    ("実行者", "executed_by__username"),
    ("実行開始", "started_at"),
    ("完了日時", "finished_at"),
    ("対象者数", "target_count"),
    ("交付数", "issued_count"),
)


def _header(columns) -> tuple[str, ...]:
    return tuple(header for header, _field in columns)


def _stored(qs: QuerySet, columns) -> Iterator[list]:
    """The stored columns' values, one list per row, in the columns' order."""
    fields = [field for _header, field in columns if field]
    for row in qs.values_list(*fields).iterator(chunk_size=CHUNK_SIZE):
        yield list(row)


def _index(columns, field: str) -> int:
    return [f for _header, f in columns].index(field)


CERTIFICATE_HEADER = _header(CERTIFICATE_COLUMNS)
RETURNS_HEADER = _header(RETURNS_COLUMNS)
RUNS_HEADER = _header(RUNS_COLUMNS)


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
    at_state = _index(CERTIFICATE_COLUMNS, "state")
    at_valid_until = _index(CERTIFICATE_COLUMNS, "valid_until")
    for row in _stored(qs, CERTIFICATE_COLUMNS):
        row[at_state] = state(row[at_state], row[at_valid_until])
        yield row


def _returns_rows(qs: QuerySet) -> Iterator[list]:
    state = _effective_state_of()
    today = _today()
    at_state = _index(RETURNS_COLUMNS, "state")
    at_valid_until = _index(RETURNS_COLUMNS, "valid_until")
    at_due = _index(RETURNS_COLUMNS, "return_due")
    at_returned_on = _index(RETURNS_COLUMNS, "returned_on")
    for row in _stored(qs, RETURNS_COLUMNS):
        stored_state, due, returned_on = row[at_state], row[at_due], row[at_returned_on]
        # Overdue (施行規則§51: within 5 days of the loss): still pending after the due date, or
        # received after it.
        if returned_on is not None:
            overdue = due is not None and returned_on > due
        else:
            overdue = (
                stored_state == CertificateState.RETURN_PENDING and due is not None and today > due
            )
        row[at_state] = state(stored_state, row[at_valid_until])
        yield [*row, overdue]


def _runs_rows(qs: QuerySet) -> Iterator[list]:
    yield from _stored(qs, RUNS_COLUMNS)


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
