from django.urls import path

app_name = "documents"
# The documents helper adds the permission-checked download view here.
urlpatterns: list = []
