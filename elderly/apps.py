from django.apps import AppConfig


class ElderlyConfig(AppConfig):
    name = "elderly"
    verbose_name = "高齢受給者"
