from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "資格確認書 管理システム"
admin.site.site_title = "資格確認書 管理"
admin.site.index_title = "業務メニュー"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("documents/", include("documents.urls")),
    path("core/", include("core.urls")),
    path("admin/", admin.site.urls),
]
