"""The outbox records each result as the channel streams it, and survives a channel crash."""

import pytest

from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.notifications.channels import CHANNELS, SendResult
from backend.notifications.models import Delivery
from backend.notifications.services import Outgoing, _deliveries_record, deliveries_send_batch

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

    _deliveries_record([Outgoing.of(delivery)], [SendResult("sent")])

    assert Delivery.objects.get(id=delivery.id).status == Delivery.Status.SENT
    assert CheckIn.objects.get(id=alice_checkin.id).delivered_at == first
    assert incident_stats(incident_id=incident.id)["delivered"] == 1


def test_a_slow_answer_holds_its_own_slot_not_the_rest_of_the_batch(incident, monkeypatch):
    """A channel that takes more items as it goes: the first message answers only once
    nothing else is left to start. The outbox records the others half a window at a time
    and claims the next chunks meanwhile, so 150 people go out past the one slow answer."""
    from backend.notifications.services import SEND_CHUNK
    from tests.factories import make_person

    people = [make_person(f"p{n}@example.org", f"P {n}") for n in range(150)]
    checkins = CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)
    assert len(checkins) > 2 * SEND_CHUNK
    answered: list[int] = []

    def send_stream(items, window):
        in_flight: list[int] = []
        started = steps = 0
        while started < len(items) or in_flight:
            steps += 1
            assert steps < 10_000, "the stream stalled"
            while started < len(items) and window.acquire(started):
                in_flight.append(started)
                started += 1
            last = started == len(items) and in_flight == [0]
            done = [i for i in in_flight if i != 0 or last]
            for i in done:
                in_flight.remove(i)
                answered.append(items[i][1].checkin_id)
            yield [(i, SendResult("sent")) for i in done]

    email = CHANNELS["email"]
    monkeypatch.setattr(email, "takes_more", True)
    monkeypatch.setattr(email, "window", lambda: 4)
    monkeypatch.setattr(email, "send_stream", send_stream)

    outcomes = deliveries_send_batch(checkin_ids=[c.id for c in checkins])

    assert outcomes == {"sent": 150}
    first = Delivery.objects.order_by("id").values_list("checkin_id", flat=True)[0]
    assert answered[-1] == first  # everyone else, across every chunk, went out before it
    assert sorted(answered) == sorted(c.id for c in checkins)
    assert not Delivery.objects.exclude(status=Delivery.Status.SENT).exists()
