"""The fees app's export kind for auditors (`manage.py export_csv invoices`, and the invoices' admin
changelist): every field of the invoice with whose it is, registered with core.exports from
FeesConfig.ready."""

from core.exports import Dataset, generic_dataset

from .models import Invoice


def invoices_dataset() -> Dataset:
    return generic_dataset(Invoice, name="invoices", label="請求書")
