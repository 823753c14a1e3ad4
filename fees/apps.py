from django.apps import AppConfig


class FeesConfig(AppConfig):
    name = "fees"
    verbose_name = "手数料"

    def ready(self):
        # Hooks into the other apps, registered here so that none of them imports this one.
        from core.exports import register_dataset
        from documents.models import DocumentKind
        from documents.receivers import register_renderer

        from .exports import invoices_dataset
        from .paperwork import render_invoice

        register_renderer(DocumentKind.INVOICE, render_invoice)
        register_dataset(invoices_dataset())
