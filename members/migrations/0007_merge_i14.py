# Joins the 基準収入額適用 migration (written beside the others) to the members graph.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0006_i14_income_basis"),
        ("members", "0006_merge_i13_i19"),
    ]

    operations = []
