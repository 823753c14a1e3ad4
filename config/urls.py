from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from core import dashboard_views

admin.site.site_header = "資格確認書 管理システム"
admin.site.site_title = "資格確認書 管理"
admin.site.index_title = "業務メニュー"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("documents/", include("documents.urls")),
    path("core/", include("core.urls")),
    # 本日の業務's return recovery rate (admin pages outside any one model)
    path(
        "admin/recovery/",
        admin.site.admin_view(dashboard_views.recovery_view),
        name="admin_recovery",
    ),
    path(
        "admin/recovery.csv",
        admin.site.admin_view(dashboard_views.recovery_csv),
        name="admin_recovery_csv",
    ),
    path("admin/", admin.site.urls),
]
