from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "加入者"

    def ready(self) -> None:
        from core.exports import register_dataset

        from .exports import MEMBERS

        register_dataset(MEMBERS)
