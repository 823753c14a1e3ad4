"""Writes of the fees app, by sub-domain: reissue applications (`reissue`), the fee's invoices
(`invoices`), the bank-transfer import (`payments`). The certificate's own life after issue (returns,
返却督促, 宛所不明 and the resend) is in certificates.returns; the address correction in members.services.

Importers use `fees.services.<name>`; the names below are the public ones.
"""

from .invoices import invoice_confirm_payment, invoice_waive
from .payments import payments_import
from .reissue import (
    certificate_find,
    expected_route,
    reissue_application_cancel,
    reissue_application_issue,
    reissue_application_receive_change,
    reissue_application_receive_loss,
)

__all__ = [
    "certificate_find",
    "expected_route",
    "invoice_confirm_payment",
    "invoice_waive",
    "payments_import",
    "reissue_application_cancel",
    "reissue_application_issue",
    "reissue_application_receive_change",
    "reissue_application_receive_loss",
]
