"""Admin screens of the fees app, in Japanese, for clerks and supervisors, one module per sub-domain:

- `applications`: 再交付申請 — receive a 記載事項変更 or 滅失・き損 application (form), issue after payment,
  cancel.
- `invoices`: 請求書 — confirm payment (clerks), waive with a reason (承認者 only), PDF download.
- `payments`: 振込データ取込 — upload a bank-transfer CSV; the result lists applied and rejected rows.

Every change goes through a service (fees.services); the screens only parse input and show results.
Nothing here can be deleted: history is kept. The returns and 送付保留 screens are the certificates
app's (certificates.admin_returns).
"""

from . import applications, invoices, payments  # noqa: F401  (registers the screens)
