from django.urls import path

from . import views

app_name = "core"
urlpatterns = [
    path("exports/<int:pk>/download/", views.export_job_download, name="export_job_download"),
    path("exports/<int:pk>/report/", views.export_job_report, name="export_job_report"),
]
