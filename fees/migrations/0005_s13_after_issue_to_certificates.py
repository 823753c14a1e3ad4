# State only: the after-issue models now belong to the certificates app (certificates 0009_s13, which
# keeps their tables and content types); nothing changes in the database.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('fees', '0004_historical_names_in_japanese'),
        ('certificates', '0009_s13_after_issue_from_fees'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[

                migrations.RemoveField(
                    model_name='returnedmail',
                    name='certificate',
                ),
                migrations.RemoveField(
                    model_name='returnedmail',
                    name='document',
                ),
                migrations.RemoveField(
                    model_name='returnedmail',
                    name='recorded_by',
                ),
                migrations.RemoveField(
                    model_name='returnedmail',
                    name='resolved_by',
                ),
                migrations.RemoveField(
                    model_name='returnreminder',
                    name='certificate',
                ),
                migrations.RemoveField(
                    model_name='returnreminder',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='returnreminder',
                    name='document',
                ),
                migrations.DeleteModel(
                    name='HeldCertificate',
                ),
                migrations.DeleteModel(
                    name='ReturnPendingCertificate',
                ),
                migrations.DeleteModel(
                    name='ReturnedMail',
                ),
                migrations.DeleteModel(
                    name='ReturnReminder',
                ),
            ],
        ),
    ]
