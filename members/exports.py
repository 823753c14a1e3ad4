"""The register's export kind for auditors (`manage.py export_csv members`, and the persons' admin
changelist): the members CSV columns (members.formats.MEMBER_COLUMNS, the same header the import
reads), registered with core.exports from MembersConfig.ready."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from core.exports import CHUNK_SIZE, Dataset

from .formats import MEMBER_COLUMNS


def _members_rows(qs: QuerySet) -> Iterator[list]:
    values = qs.values_list(
        "employer__code",
        "employer__name",
        "kigo",
        "bango",
        "edaban",
        "relationship",
        "insured_type",
        "name",
        "name_kana",
        "birth_date",
        "sex",
        "postal_code",
        "address",
        "acquired_on",
        "lost_on",
        "voluntary_until",
        "standard_remuneration",
        "needs_consideration",
    )
    for row in values.iterator(chunk_size=CHUNK_SIZE):
        yield list(row)


MEMBERS = Dataset(
    name="members",
    label="加入者",
    model_label="members.Person",
    header=MEMBER_COLUMNS,
    rows=_members_rows,
    order_by=("kigo", "bango", "edaban"),
)
