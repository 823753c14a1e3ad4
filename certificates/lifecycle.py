"""What happens to certificates after issue (returns, disposal, holds). Called by the services of
other apps, always inside their transaction."""

from datetime import date, timedelta

from django.utils import timezone

from core.models import audit_event

from .models import Certificate, CertificateState, Route

RETURN_DAYS = 5  # 施行規則§51: returned within 5 days of the 資格喪失


def certificates_require_return(*, person, lost_on: date, acting_user=None) -> list[Certificate]:
    """A holder lost qualification: each certificate still valid on the loss date becomes 返却待ち,
    due 5 days after the 資格喪失年月日, via the employer — or directly to the society for 任意継続
    members and their dependents. Certificates already expired by then need no return."""
    household = person.household_member
    route = Route.HOME if household.insured_type == "任意継続" else Route.EMPLOYER
    changed = []
    qs = Certificate.objects.select_for_update().filter(
        person=person, state=CertificateState.ACTIVE
    )
    for cert in qs:
        if cert.valid_until < lost_on:
            cert.state = CertificateState.NO_RETURN
            cert.state_note = "有効期限切れ"
        else:
            cert.state = CertificateState.RETURN_PENDING
            cert.return_due = lost_on + timedelta(days=RETURN_DAYS)
            cert.return_route = route
            cert.state_note = f"資格喪失({person.loss_reason or '喪失'})"
        cert.state_changed_at = timezone.now()
        cert.save(
            update_fields=[
                "state",
                "state_note",
                "return_due",
                "return_route",
                "state_changed_at",
                "updated_at",
            ]
        )
        audit_event(
            action="certificate.return_required",
            actor=acting_user,
            obj=cert,
            state=cert.state,
            return_due=cert.return_due.isoformat() if cert.return_due else None,
        )
        changed.append(cert)
    return changed
