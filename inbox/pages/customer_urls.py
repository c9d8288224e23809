from django.urls import path

from inbox.pages import customers as views

urlpatterns = [
    path("import/", views.import_page, name="customers-import"),
]
