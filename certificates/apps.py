from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = "資格確認書"

    def ready(self) -> None:
        # Hooks into the other apps, registered here so that members never imports this one.
        from core.exports import register_dataset
        from members.signals import persons_lost, registration_snapshot_imported

        from . import receivers
        from .exports import CERTIFICATES, RETURNS, RUNS

        register_dataset(CERTIFICATES)
        register_dataset(RUNS)
        register_dataset(RETURNS, proxies=["certificates.ReturnPendingCertificate"])
        persons_lost.connect(receivers.on_persons_lost, dispatch_uid="certificates.persons_lost")
        # connected before elderly's receiver (INSTALLED_APPS order): the 返却不要 step comes first
        registration_snapshot_imported.connect(
            receivers.on_registration_snapshot_imported,
            dispatch_uid="certificates.registration_snapshot",
        )
