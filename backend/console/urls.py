"""Operator console pages, mounted under /console/ (see backend/config/urls.py)."""

from django.contrib.auth import views as auth
from django.urls import path

from . import views

app_name = "console"

incident = "incidents/<id:incident_id>/"

urlpatterns = [
    path(
        "login/",
        auth.LoginView.as_view(template_name="console/login.html", next_page="console:list"),
        name="login",
    ),
    path("logout/", auth.LogoutView.as_view(next_page="console:login"), name="logout"),
    path("", views.incident_list, name="list"),
    path("incidents/new/", views.incident_new, name="new"),
    path("incidents/import-cap/", views.cap_upload, name="cap-upload"),
    path(incident, views.incident_detail, name="incident"),
    path(incident + "edit/", views.incident_edit, name="edit"),
    path(incident + "activate/", views.incident_activate, name="activate"),
    path(
        incident + "activation/<id:request_id>/approve/",
        views.activation_approve,
        name="approve",
    ),
    path(
        incident + "activation/<id:request_id>/withdraw/",
        views.activation_withdraw,
        name="withdraw",
    ),
    path(incident + "decline/", views.incident_decline, name="decline"),
    path(incident + "resolve/", views.incident_resolve, name="resolve"),
    path(incident + "updates/", views.update_post, name="update"),
    path(incident + "triage/", views.triage, name="triage"),
    path(incident + "triage/<id:checkin_id>/", views.triage_update, name="triage-update"),
    path(incident + "events/", views.events, name="events"),
    path(incident + "export.csv", views.export_csv, name="export"),
    path("audit/", views.audit_log, name="audit"),
    path("activation-log/", views.public_log, name="public-log"),
]
