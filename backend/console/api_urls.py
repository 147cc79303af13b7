"""Operator API, mounted under /api/ (see backend/config/urls.py)."""

from django.urls import path

from . import api

urlpatterns = [
    path("incidents/from-cap/", api.FromCapView.as_view()),
    path("incidents/<id:incident_id>/preview/", api.PreviewView.as_view()),
    path("incidents/<id:incident_id>/cells/", api.CellsView.as_view()),
    path("incidents/<id:incident_id>/activation/", api.ActivationView.as_view()),
    path(
        "incidents/<id:incident_id>/activation/<id:request_id>/approve/",
        api.ApproveView.as_view(),
    ),
    path(
        "incidents/<id:incident_id>/activation/<id:request_id>/withdraw/",
        api.WithdrawView.as_view(),
    ),
    path("incidents/<id:incident_id>/decline/", api.DeclineView.as_view()),
    path("incidents/<id:incident_id>/resolution/", api.ResolutionView.as_view()),
    path("incidents/<id:incident_id>/updates/", api.UpdatesView.as_view()),
    path("incidents/<id:incident_id>/triage/", api.TriageView.as_view()),
    path("incidents/<id:incident_id>/triage/<id:checkin_id>/", api.TriageDetailView.as_view()),
    path("incidents/<id:incident_id>/live/", api.LiveView.as_view()),
    path("incidents/<id:incident_id>/export/", api.ExportView.as_view()),
    path("audit/", api.AuditView.as_view()),
    path("activation-log/", api.PublicLogView.as_view()),
]
