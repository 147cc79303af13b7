"""The outbox records each result as the channel streams it, and survives a channel crash."""

import pytest

from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.notifications.channels import CHANNELS, SendResult
from backend.notifications.models import Delivery
from backend.notifications.services import _deliveries_record, deliveries_send_batch

pytestmark = pytest.mark.django_db


def test_a_channel_crashing_mid_stream_keeps_what_was_sent_and_retries_the_rest(
    incident, monkeypatch
):
    """Alice and charlie are asked by email; the channel sends one, then raises."""
    sent_to = []

    def send_stream(items, window):
        assert window.acquire(0)
        sent_to.append(items[0][0].email)
        yield [(0, SendResult("sent"))]
        raise RuntimeError("channel bug")

    monkeypatch.setattr(CHANNELS["email"], "send_stream", send_stream)
    checkin_ids = list(incident.checkins.values_list("id", flat=True))

    outcomes = deliveries_send_batch(checkin_ids=checkin_ids)

    assert outcomes == {"sent": 1, "retry": 1}
    rows = {d.checkin.person.email: d for d in Delivery.objects.select_related("checkin__person")}
    assert rows[sent_to[0]].status == Delivery.Status.SENT
    [other] = [d for email, d in rows.items() if email != sent_to[0]]
    assert other.status == Delivery.Status.PENDING  # not left 'sending' until the lease
    assert "channel bug" in other.last_error
    delivered = CheckIn.objects.filter(id__in=checkin_ids, delivered_at__isnull=False)
    assert list(delivered.values_list("person__email", flat=True)) == sent_to


def test_a_result_recorded_twice_counts_the_person_once(incident, alice_checkin):
    """A row already sent (another worker recorded it) is not counted as delivered again."""
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    delivery = Delivery.objects.get(checkin=alice_checkin)
    first = CheckIn.objects.get(id=alice_checkin.id).delivered_at

    _deliveries_record([delivery], [SendResult("sent")])

    assert Delivery.objects.get(id=delivery.id).status == Delivery.Status.SENT
    assert CheckIn.objects.get(id=alice_checkin.id).delivered_at == first
    assert incident_stats(incident_id=incident.id)["delivered"] == 1
