from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = "資格確認書"

    def ready(self) -> None:
        from core.exports import register_dataset

        from .exports import CERTIFICATES, RETURNS, RUNS

        register_dataset(CERTIFICATES)
        register_dataset(RUNS)
        register_dataset(RETURNS, proxies=["certificates.ReturnPendingCertificate"])
