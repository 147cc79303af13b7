"""The whole loop with a real Celery worker on the real broker and database."""

import csv
import math
import time

import pytest
from django.core.management import call_command
from shapely.geometry import Point, shape

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.checkins.services import checkins_create_for_incident
from backend.social.models import Friendship
from tests.conftest import sent_emails
from tests.factories import PARIS_POLYGON, make_operator
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PEOPLE = 2000
# Paris and its suburbs: the polygon covers roughly half of this box.
BBOX = "48.79,2.21,48.93,2.47"
RES9_CELL_KM = 0.35  # a res-9 cell's diameter: the most a covered edge cell reaches outside


def _km_outside(polygon, lat: float, lon: float) -> float:
    degrees = polygon.distance(Point(lon, lat))
    return degrees * 111.32 * max(math.cos(math.radians(lat)), 0.5)


def test_activation_reaches_everyone_inside_exactly_once(
    api, client, celery_worker, mail_dir, tmp_path
):
    positions_file = tmp_path / "positions.csv"
    call_command(
        "seed_population", people=PEOPLE, bbox=BBOX, prefix="it", positions_out=str(positions_file)
    )
    with positions_file.open() as f:
        positions = {
            int(r["person_id"]): (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(f)
        }
    polygon = shape(PARIS_POLYGON)
    inside = {pid for pid, (lat, lon) in positions.items() if polygon.contains(Point(lon, lat))}
    assert 300 < len(inside) < PEOPLE - 300

    olivia = make_operator("olivia@example.org", "Olivia")
    created = api(olivia).post(
        "/api/incidents/",
        {"title": "Paris attacks", "kind": "attack", "regions": [{"geometry": PARIS_POLYGON}]},
        format="json",
    )
    incident_id = created.json()["id"]
    preview = api(olivia).get(f"/api/incidents/{incident_id}/audience/").json()["people"]
    assert api(olivia).post(f"/api/incidents/{incident_id}/activate/").status_code == 202

    wait_for(
        lambda: incident_stats(incident_id=incident_id)["delivered"] >= preview > 0, timeout=120
    )
    targeted = set(
        CheckIn.objects.filter(incident_id=incident_id).values_list("person_id", flat=True)
    )
    assert len(targeted) == preview
    assert inside <= targeted, f"missed {len(inside - targeted)} people inside the polygon"
    for person_id in targeted - inside:
        lat, lon = positions[person_id]
        assert _km_outside(polygon, lat, lon) <= RES9_CELL_KM

    emails = sent_emails(mail_dir)
    recipients = [m["To"] for m in emails]
    assert len(recipients) == len(set(recipients)) == len(targeted)

    # Answer through the link of one person's email; a friend of theirs sees it.
    person = User.objects.get(id=min(inside))
    message = next(m for m in emails if m["To"] == person.email)
    link = next(line for line in message.get_payload().splitlines() if "/r/" in line)
    path = link[link.index("/r/") :]
    assert client.get(path).status_code == 200
    assert client.post(path, {"status": "safe"}).status_code == 200
    friend = User.objects.get(id=Friendship.objects.filter(person=person).values("friend_id")[:1])
    seen = api(friend).get(f"/api/incidents/{incident_id}/friends/").json()
    assert {"person_id": person.id, "status": "safe"}.items() <= next(
        c for c in seen if c["person_id"] == person.id
    ).items()

    stats = incident_stats(incident_id=incident_id)
    checkins = CheckIn.objects.filter(incident_id=incident_id)
    assert stats["targeted"] == checkins.count()
    assert stats["safe"] == checkins.filter(status="safe").count() == 1
    assert stats["no_answer"] == checkins.filter(status="pending").count()
    assert stats["delivered"] == checkins.filter(delivered_at__isnull=False).count()

    # Activating again is refused; the fan-out running again creates and sends nothing.
    assert api(olivia).post(f"/api/incidents/{incident_id}/activate/").status_code == 409
    assert checkins_create_for_incident(incident_id=incident_id) == 0
    from backend.checkins.tasks import fanout_incident

    fanout_incident.delay(incident_id)
    time.sleep(3)
    assert CheckIn.objects.filter(incident_id=incident_id).count() == len(targeted)
    assert len(sent_emails(mail_dir)) == len(targeted)
