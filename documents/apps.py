from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "帳票(PDF)"

    def ready(self) -> None:
        # Hooks into certificates, registered here so that certificates never imports this app.
        from certificates.paperwork import register_letters
        from certificates.signals import run_issued

        from .receivers import AfterIssueLetters

        run_issued.connect(_schedule_run_documents, dispatch_uid="documents.run_issued")
        register_letters(AfterIssueLetters())


def _schedule_run_documents(sender, *, run_id: int, **kwargs) -> None:
    from . import services  # looked up at call time (tests replace run_documents_schedule)

    services.run_documents_schedule(run_id=run_id)
