# Joins two migrations written side by side (the run approval guard and the targets' skip reason);
# they touch different columns, so the order between them does not matter.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("certificates", "0007_i12_run_approval_guard"),
        ("certificates", "0007_i13_runtarget_skip_reason"),
    ]

    operations = []
