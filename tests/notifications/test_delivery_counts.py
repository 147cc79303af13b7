"""GET /api/incidents/{id}/deliveries/: per channel, how deliveries went (operators only)."""

import pytest

from backend.notifications.models import Delivery
from backend.notifications.services import deliveries_send_batch

from .conftest import subscribe

pytestmark = pytest.mark.django_db


def test_operators_see_counts_per_channel_and_status(
    api, olivia, incident, alice, push_service, vapid
):
    from tests.support.push_service import PushService

    push_service.gone(PushService.id_of(subscribe(push_service, alice)))
    deliveries_send_batch(checkin_ids=list(incident.checkins.values_list("id", flat=True)))
    Delivery.objects.create(
        checkin=incident.checkins.get(person=alice), incident=incident, channel="email", seq=9
    )

    response = api(olivia).get(f"/api/incidents/{incident.id}/deliveries/")

    assert response.status_code == 200
    assert response.json() == {
        "channels": {
            # Alice's push is gone, so she is asked at once by email (the fallback), plus
            # the row made by hand above.
            "email": {"pending": 2, "sent": 1, "failed": 0, "expired": 0},
            "webpush": {"pending": 0, "sent": 0, "failed": 0, "expired": 1},
        }
    }


def test_people_who_are_not_operators_are_refused(api, charlie, alice, incident):
    assert api(charlie).get(f"/api/incidents/{incident.id}/deliveries/").status_code == 403
    assert api(alice).get(f"/api/incidents/{incident.id}/deliveries/").status_code == 403


def test_an_unknown_incident_is_not_found(api, olivia):
    assert api(olivia).get("/api/incidents/999999/deliveries/").status_code == 404
