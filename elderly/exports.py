"""The 高齢受給者証 export kind for auditors (`manage.py export_csv elderly_cards`), registered
with core.exports by this app (ElderlyConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils import timezone

from core.exports import CHUNK_SIZE, Dataset

from .models import ElderlyCard

ELDERLY_CARD_HEADER = (
    "高齢受給者証番号",
    "記号",
    "番号",
    "枝番",
    "氏名",
    "交付事由",
    "交付年月日",
    "発効期日",
    "有効期限",
    "一部負担金割合",
    "送付先",
    "状態",
    "返却期限",
    "返却日",
    "前の高齢受給者証番号",
    "証明書番号",
    "交付リストID",
    "承認者",
)


def _rows(qs: QuerySet) -> Iterator[list]:
    today = timezone.localdate()
    values = qs.values_list(
        "number",
        "person__kigo",
        "person__bango",
        "person__edaban",
        "person__name",
        "event",
        "issue_date",
        "effective_from",
        "valid_until",
        "copay_ratio",
        "route",
        "state",
        "superseded_from",
        "return_due",
        "returned_on",
        "replaces__number",
        "certificate__number",
        "batch_id",
        "batch__approved_by__username",
    )
    for row in values.iterator(chunk_size=CHUNK_SIZE):
        head, (state, superseded_from), tail = row[:11], row[11:13], row[13:]
        valid_until = head[8]
        yield [*head, ElderlyCard.state_as_of(state, superseded_from, valid_until, today), *tail]


ELDERLY_CARDS = Dataset(
    name="elderly_cards",
    label="高齢受給者証",
    model_label="elderly.ElderlyCard",
    header=ELDERLY_CARD_HEADER,
    rows=_rows,
    order_by=("number",),
)
