"""Privacy: no precise position is stored; retention: answers are forgotten after the period."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from backend.checkins.models import CheckIn, Response
from backend.checkins.retention import retention_purge
from backend.checkins.services import checkin_respond
from backend.checkins.tasks import purge_expired
from backend.incidents.models import Incident
from backend.notifications.models import Delivery, FanOutClaim

LAT, LON = 48.8583701, 2.2944813  # the Eiffel Tower, to seven places


def every_value() -> list[tuple[str, object]]:
    """(table, value) for every cell of every table of the database."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                found.extend((table, value) for value in row)
    return found


def looks_like(value: object, coordinate: float) -> bool:
    if isinstance(value, float):
        return abs(value - coordinate) < 1e-3
    if isinstance(value, int | bool):
        return False
    text = str(value)
    return f"{coordinate:.3f}" in text or f"{coordinate:.3f}".rstrip("0") in text


@pytest.mark.django_db
def test_no_precise_coordinates_are_stored_anywhere(alice):
    client = APIClient()
    client.force_authenticate(alice)
    assert (
        client.post("/api/me/places/", {"lat": LAT, "lon": LON}, format="json").status_code == 201
    )
    page = Client()
    page.force_login(alice)
    page.post("/welcome", {"lat": LAT, "lon": LON, "label": "work"})
    values = every_value()
    assert len(values) > 50
    leaks = [(t, v) for t, v in values if looks_like(v, LAT) or looks_like(v, LON)]
    assert leaks == []


def _resolved(incident: Incident, *, days_ago: int) -> None:
    Incident.objects.filter(id=incident.id).update(
        status=Incident.Status.RESOLVED, resolved_at=timezone.now() - timedelta(days=days_ago)
    )


@pytest.mark.django_db
def test_retention_deletes_checkins_answers_and_deliveries_after_the_period(
    settings, incident, alice_checkin
):
    settings.SAFE_RETENTION_DAYS = 40
    checkin_respond(checkin_id=alice_checkin.id, status="safe", note="home", via="pwa")
    Delivery.objects.create(
        checkin=alice_checkin, incident=incident, channel="email", purpose="ask", seq=0
    )
    FanOutClaim.objects.create(
        incident=incident,
        channel="webpush",
        first_checkin_id=alice_checkin.id,
        checkin_ids=[alice_checkin.id],
        size=1,
        sent=1,
    )
    nothing = {"deliveries": 0, "claims": 0, "answers": 0, "checkins": 0}
    _resolved(incident, days_ago=39)
    assert retention_purge() == nothing
    _resolved(incident, days_ago=41)
    counts = purge_expired()
    assert counts == {"deliveries": 1, "claims": 1, "answers": 1, "checkins": 2}
    assert not CheckIn.objects.filter(incident=incident).exists()
    assert not Response.objects.exists()
    assert Incident.objects.filter(id=incident.id).exists()
    assert retention_purge() == nothing


@pytest.mark.django_db
def test_retention_keeps_active_incidents_whatever_their_age(settings, incident, alice_checkin):
    Incident.objects.filter(id=incident.id).update(
        activated_at=timezone.now() - timedelta(days=400)
    )
    assert retention_purge(batch=1)["checkins"] == 0
    assert CheckIn.objects.filter(incident=incident).count() == 2


@pytest.mark.django_db
def test_retention_runs_in_small_batches(settings, incident, alice_checkin):
    _resolved(incident, days_ago=100)
    assert retention_purge(batch=1)["checkins"] == 2


@pytest.mark.django_db
def test_the_purge_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-checkins"]
    assert entry["task"] == "backend.checkins.tasks.purge_expired"
