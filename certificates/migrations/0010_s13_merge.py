# Joins three migrations written side by side this round (the after-issue models moved from fees, the
# no-overlap constraint, the history indexes); they touch different tables or only the state, so
# the order between them does not matter.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("certificates", "0009_s13_after_issue_from_fees"),
        ("certificates", "0009_s14_no_overlap"),
        ("certificates", "0009_sperf_history_indexes"),
    ]

    operations = []
