"""What certificates do when the register changes: receivers of members' signals (connected in
CertificatesConfig.ready), so that members never imports this app."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from .lifecycle import certificates_apply_registration_snapshot, certificates_require_return_for
from .models import Certificate, CertificateState


def on_persons_lost(sender, *, persons, acting_user=None, **kwargs) -> None:
    """Losses were recorded (members.signals.persons_lost): the 有効 certificates of those persons
    are put up for return (certificates_require_return_for), only for the persons who hold one."""
    holders = (
        persons.filter(
            Exists(Certificate.objects.filter(person=OuterRef("pk"), state=CertificateState.ACTIVE))
        )
        .select_related("member")
        .order_by("pk")
    )
    losses = [(p, p.lost_on) for p in holders]
    if losses:
        certificates_require_return_for(losses, acting_user=acting_user)


def on_registration_snapshot_imported(sender, *, snapshot, acting_user=None, **kwargs) -> None:
    """rules.md "No return needed": a certificate made unnecessary by a 登録済 status in this snapshot
    becomes 返却不要 (except for 要配慮者), in the same transaction as the import."""
    certificates_apply_registration_snapshot(snapshot=snapshot, acting_user=acting_user)
