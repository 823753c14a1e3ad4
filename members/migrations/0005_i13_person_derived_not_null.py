"""Derived columns of Person made NOT NULL once filled (0004; a separate transaction, as PostgreSQL
refuses to alter a table with pending foreign-key trigger events)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0004_i13_person_derived_dates"),
    ]

    operations = [
        migrations.AlterField(
            model_name="historicalperson",
            name="age_cover_until",
            field=models.DateField(
                editable=False,
                help_text="75歳の誕生日の前日。",
                verbose_name="年齢による資格の終期",
            ),
        ),
        migrations.AlterField(
            model_name="historicalperson",
            name="elderly_from",
            field=models.DateField(
                editable=False,
                help_text="70歳に達する日の翌月1日(1日生まれはその月)。",
                verbose_name="高齢受給者の開始日",
            ),
        ),
        migrations.AlterField(
            model_name="person",
            name="age_cover_until",
            field=models.DateField(
                editable=False,
                help_text="75歳の誕生日の前日。",
                verbose_name="年齢による資格の終期",
            ),
        ),
        migrations.AlterField(
            model_name="person",
            name="elderly_from",
            field=models.DateField(
                editable=False,
                help_text="70歳に達する日の翌月1日(1日生まれはその月)。",
                verbose_name="高齢受給者の開始日",
            ),
        ),
        migrations.AlterField(
            model_name="person",
            name="household",
            field=models.ForeignKey(
                editable=False,
                help_text="本人は本人自身、家族はその被保険者。",
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="members.person",
                verbose_name="世帯(被保険者)",
            ),
        ),
    ]
