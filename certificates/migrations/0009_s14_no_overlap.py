"""The database refuses two certificates of one person covering the same day
(certificates.constraints). Existing certificates get their early cover end: the day before a
successor's 交付年月日, or before the holder's 資格喪失年月日 for one awaiting return. A database
that already holds overlapping certificates stops here with their numbers."""

from datetime import timedelta

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations, models

import certificates.constraints

NOT_COVERING = ("無効", "返却済")


class BtreeGist(BtreeGistExtension):
    """Created on PostgreSQL only (Django's operation checks the vendor going forwards, not
    backwards); left installed when migrating back (harmless, and it may serve others)."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        return None


RETURN_PENDING = "返却待ち"


def _ended(cert, day):
    """The last covered day when cover ends the day before `day` (never before it began)."""
    return max(cert.issue_date, day) - timedelta(days=1)


def backfill(apps, schema_editor):
    Certificate = apps.get_model("certificates", "Certificate")
    covering = Certificate.objects.exclude(state__in=NOT_COVERING)
    ends = {}
    for new in covering.filter(replaces__isnull=False).select_related("replaces").iterator():
        old = new.replaces
        ends[old.pk] = min(ends.get(old.pk, old.valid_until), _ended(old, new.issue_date))
    pending = covering.filter(state=RETURN_PENDING, person__lost_on__isnull=False)
    for cert in pending.select_related("person").iterator():
        until = min(ends.get(cert.pk, cert.valid_until), _ended(cert, cert.person.lost_on))
        ends[cert.pk] = until
    for pk, until in ends.items():
        Certificate.objects.filter(pk=pk, valid_until__gt=until).update(covers_until=until)
    # Overlaps the constraint would refuse: named, so that they can be resolved first.
    last, clashes = {}, []
    rows = covering.order_by("person_id", "issue_date", "pk").values_list(
        "person_id", "number", "issue_date", "valid_until", "covers_until"
    )
    for person_id, number, start, valid_until, covers_until in rows.iterator():
        end = covers_until or valid_until
        if end < start:
            continue
        seen = last.get(person_id)
        if seen is not None and seen[1] >= start:
            clashes.append(f"{seen[0]} と {number}")
        if seen is None or end > seen[1]:
            last[person_id] = (number, end)
    if clashes:
        raise RuntimeError(
            "同じ日を対象とする資格確認書が同じ加入者にあります(片方を無効にしてから移行してください): "
            + "、".join(clashes[:50])
        )


class Migration(migrations.Migration):
    dependencies = [
        ("certificates", "0008_merge_i12_i13"),
        ("members", "0008_i17_person_sex_on_back"),
    ]

    operations = [
        BtreeGist(),  # PostgreSQL only: the person's equality inside the GiST index
        migrations.AddField(
            model_name="certificate",
            name="covers_until",
            field=models.DateField(
                blank=True, editable=False, null=True, verbose_name="対象の最終日(置換・資格喪失)"
            ),
        ),
        migrations.AddField(
            model_name="historicalcertificate",
            name="covers_until",
            field=models.DateField(
                blank=True, editable=False, null=True, verbose_name="対象の最終日(置換・資格喪失)"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="certificate",
            constraint=certificates.constraints.NoOverlapConstraint(
                name="certificate_no_overlapping_cover", states=["無効", "返却済"]
            ),
        ),
        migrations.AddConstraint(
            model_name="certificate",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("covers_until__isnull", True),
                    ("covers_until__lt", models.F("valid_until")),
                    _connector="OR",
                ),
                name="certificate_cover_ends_early_only",
            ),
        ),
    ]
