from django.apps import AppConfig


class ElderlyConfig(AppConfig):
    name = "elderly"
    verbose_name = "高齢受給者"

    def ready(self) -> None:
        # Hooks into the other apps, registered here so that none of them imports this one.
        from certificates.lifecycle import DAILY_STEPS
        from core.exports import register_dataset
        from members.signals import registration_snapshot_imported

        from .exports import ELDERLY_CARDS
        from .monthly import on_registration_snapshot_imported
        from .services import elderly_daily_jobs

        register_dataset(ELDERLY_CARDS)
        if elderly_daily_jobs not in DAILY_STEPS:
            DAILY_STEPS.append(elderly_daily_jobs)
        registration_snapshot_imported.connect(
            on_registration_snapshot_imported, dispatch_uid="elderly.monthly_run"
        )
