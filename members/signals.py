"""Signals of the registry, so that other apps react to an import without members importing them."""

from django.dispatch import Signal

# Sent inside the import's transaction once a registration-status snapshot is written (never for a
# dry run's rolled-back one; receivers that act later use transaction.on_commit).
# Arguments: snapshot (RegistrationSnapshot), acting_user.
registration_snapshot_imported = Signal()
