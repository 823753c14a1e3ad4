"""The after-issue models moved from fees to certificates by state-only migrations (certificates
0009_s13, fees 0005_s13): a row written through the fees model before the move is read by the
certificates model from the same table, and the content types — so the groups' permissions — are the
same rows, renamed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.fees.builders import issue, member

BEFORE = [("certificates", "0008_merge_i12_i13"), ("fees", "0004_historical_names_in_japanese")]


def _migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _migrate(targets):
    """Migrate certificates and fees to `targets`; the state of every app at that point."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    ours = {app for app, _ in targets}
    leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in ours]
    return executor.loader.project_state([*leaves, *targets]).apps


@pytest.mark.django_db(transaction=True)
def test_rows_and_permissions_written_before_the_move_survive_it():
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    from certificates.models import ReturnedMail

    t = timezone.localdate()
    cert = issue(member(), issue_date=t - timedelta(days=3), valid_until=t + timedelta(days=300))
    old = _migrate(BEFORE)
    try:
        OldCT = old.get_model("contenttypes", "ContentType")
        # the migration back gave the content types to fees again, as a database made before the move
        held_ct = OldCT.objects.get(app_label="fees", model="heldcertificate")
        perm = old.get_model("auth", "Permission").objects.get(
            content_type=held_ct, codename="view_heldcertificate"
        )
        group = old.get_model("auth", "Group").objects.create(name="移行前の事務担当")
        group.permissions.add(perm)
        mail = old.get_model("fees", "ReturnedMail").objects.create(
            certificate_id=cert.pk, returned_on=t
        )
    finally:
        _migrate_to_latest()  # also re-applies what came after 0008 beside the move
    ContentType.objects.clear_cache()
    assert ReturnedMail.objects.get(pk=mail.pk).certificate_id == cert.pk
    assert ContentType.objects.get(pk=held_ct.pk).app_label == "certificates"
    assert not ContentType.objects.filter(app_label="fees", model="heldcertificate").exists()
    assert (
        Group.objects.get(name="移行前の事務担当").permissions.get().content_type_id == held_ct.pk
    )
