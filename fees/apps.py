from django.apps import AppConfig


class FeesConfig(AppConfig):
    name = "fees"
    verbose_name = "手数料"

    def ready(self):
        from certificates.paperwork import register_renderer
        from documents.models import DocumentKind

        from .paperwork import render_invoice

        register_renderer(DocumentKind.INVOICE, render_invoice)
