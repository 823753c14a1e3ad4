from django.apps import AppConfig


class ElderlyConfig(AppConfig):
    name = "elderly"
    verbose_name = "高齢受給者"

    def ready(self) -> None:
        from core.exports import register_dataset

        from .exports import ELDERLY_CARDS

        register_dataset(ELDERLY_CARDS)
