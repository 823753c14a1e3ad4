"""Signals of the registry, so that other apps react to an import without members importing them."""

from django.dispatch import Signal

# Sent inside the import's transaction once a registration-status snapshot is written (never for a
# dry run's rolled-back one; receivers that act later use transaction.on_commit).
# Arguments: snapshot (RegistrationSnapshot), acting_user.
registration_snapshot_imported = Signal()

# Sent inside the writer's transaction once persons' losses are recorded (person_record_loss, the
# members import, the 75th birthdays). Arguments: persons (a QuerySet of the persons whose lost_on
# was just written), acting_user. certificates puts their 有効 certificates up for return
# (certificates.receivers), so that members never imports certificates.
persons_lost = Signal()
