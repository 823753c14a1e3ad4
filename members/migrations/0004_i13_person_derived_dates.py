"""Derived columns of Person (issue 13): household, age_cover_until, elderly_from, filled for every
existing person and history row by members.dates.derived_person_fields, then made NOT NULL."""

import django.db.models.deletion
from django.db import migrations, models


def fill_derived(apps, schema_editor):
    # The one definition of the derived values (a pure function of the row), imported on purpose:
    # a copy here would be a second spelling of the date law.
    from members.dates import derived_person_fields

    for model_name in ("Person", "HistoricalPerson"):
        model = apps.get_model("members", model_name)
        pk = "history_id" if model_name == "HistoricalPerson" else "id"
        last = 0
        while True:
            rows = list(model.objects.filter(**{pk + "__gt": last}).order_by(pk)[:2000])
            if not rows:
                break
            for row in rows:
                derived = derived_person_fields(
                    birth_date=row.birth_date, member_id=row.member_id, pk=row.id
                )
                for name, value in derived.items():
                    setattr(row, name, value)
            model.objects.bulk_update(rows, ["household_id", "age_cover_until", "elderly_from"])
            last = getattr(rows[-1], pk)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0003_historical_names_in_japanese"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalperson",
            name="age_cover_until",
            field=models.DateField(
                editable=False,
                help_text="75歳の誕生日の前日。",
                null=True,
                verbose_name="年齢による資格の終期",
            ),
        ),
        migrations.AddField(
            model_name="historicalperson",
            name="elderly_from",
            field=models.DateField(
                editable=False,
                help_text="70歳に達する日の翌月1日(1日生まれはその月)。",
                null=True,
                verbose_name="高齢受給者の開始日",
            ),
        ),
        migrations.AddField(
            model_name="historicalperson",
            name="household",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                editable=False,
                help_text="本人は本人自身、家族はその被保険者。",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="members.person",
                verbose_name="世帯(被保険者)",
            ),
        ),
        migrations.AddField(
            model_name="person",
            name="age_cover_until",
            field=models.DateField(
                editable=False,
                help_text="75歳の誕生日の前日。",
                null=True,
                verbose_name="年齢による資格の終期",
            ),
        ),
        migrations.AddField(
            model_name="person",
            name="elderly_from",
            field=models.DateField(
                editable=False,
                help_text="70歳に達する日の翌月1日(1日生まれはその月)。",
                null=True,
                verbose_name="高齢受給者の開始日",
            ),
        ),
        migrations.AddField(
            model_name="person",
            name="household",
            field=models.ForeignKey(
                editable=False,
                help_text="本人は本人自身、家族はその被保険者。",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="members.person",
                verbose_name="世帯(被保険者)",
            ),
        ),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["age_cover_until"], name="person_age_cover_until"),
        ),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["elderly_from"], name="person_elderly_from"),
        ),
        migrations.RunPython(fill_derived, migrations.RunPython.noop),
    ]
