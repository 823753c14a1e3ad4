# Joins two migrations written side by side (the derived person dates and the import jobs); they
# touch different tables, so the order between them does not matter.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0004_i19_import_job"),
        ("members", "0005_i13_person_derived_not_null"),
    ]

    operations = []
