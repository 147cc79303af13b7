"""The outbox records each result as the channel streams it, and survives a channel crash."""

import threading

import pytest
from django.utils import timezone

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
    and claims the next chunks meanwhile, so everyone else goes out past the one slow answer."""
    from backend.notifications.services import SEND_CHUNK
    from tests.factories import make_person

    people = [make_person(f"p{n}@example.org", f"P {n}") for n in range(2 * SEND_CHUNK + 22)]
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

    assert outcomes == {"sent": len(people)}
    first = Delivery.objects.order_by("id").values_list("checkin_id", flat=True)[0]
    assert answered[-1] == first  # everyone else, across every chunk, went out before it
    assert sorted(answered) == sorted(c.id for c in checkins)
    assert not Delivery.objects.exclude(status=Delivery.Status.SENT).exists()


class HoldFirst:
    """A provider whose answer to the first message comes only once every other message of
    the batch has been sent (or after TIMEOUT seconds)."""

    TIMEOUT = 10

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent: list[str] = []
        self.first = ""
        self.lock = threading.Lock()
        self.everyone_else = threading.Event()
        self.waited_out = False

    def deliver(self, address: str) -> None:
        with self.lock:
            hold = not self.first
            self.first = self.first or address
        if hold:
            self.waited_out = not self.everyone_else.wait(self.TIMEOUT)
        with self.lock:
            self.sent.append(address)
            if len(self.sent) == self.total - 1:
                self.everyone_else.set()


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_slow_provider_answer_holds_its_own_slot_in_threaded_channels(
    channel, incident, monkeypatch
):
    """Email and SMS send from threads; like Web Push, they take more items as the outbox
    claims them, so one provider answer that hangs holds one thread, not the rest of its
    chunk: everyone else goes out past it, and it is recorded too."""
    from backend.notifications.channels import email as email_channel
    from backend.notifications.channels import sms as sms_channel
    from backend.notifications.models import Phone
    from backend.notifications.services import SEND_CHUNK
    from tests.factories import make_person

    people = [make_person(f"p{n}@example.org", f"P {n}") for n in range(2 * SEND_CHUNK + 22)]
    provider = HoldFirst(len(people))
    if channel == "sms":
        for n, person in enumerate(people):
            Phone.objects.create(person=person, number=f"+3361{n:07d}", confirmed_at=timezone.now())

        class Texts:
            def send(self, *, to: str, body: str, key: str = "") -> SendResult:
                provider.deliver(to)
                return SendResult("sent")

        monkeypatch.setattr(sms_channel, "get_backend", Texts)
    else:

        class Mail:
            def send_messages(self, emails) -> int:
                provider.deliver(emails[0].to[0])
                return 1

            def close(self) -> None:
                pass

        monkeypatch.setattr(email_channel, "get_connection", Mail)
    checkins = CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)
    assert len(checkins) > 2 * SEND_CHUNK

    outcomes = deliveries_send_batch(checkin_ids=[c.id for c in checkins])

    assert outcomes == {"sent": len(people)}
    assert not provider.waited_out
    assert provider.sent[-1] == provider.first
    assert len(set(provider.sent)) == len(people)
    assert not Delivery.objects.exclude(status=Delivery.Status.SENT).exists()
    assert set(Delivery.objects.values_list("channel", flat=True)) == {channel}


def test_a_message_that_cannot_be_built_is_retried_alone(incident, monkeypatch, mailoutbox):
    """Building a message runs in the worker's thread while others are in flight: if it
    raises, that message is a retry of its own and the rest are sent."""
    from backend.notifications.channels import email as email_channel
    from tests.factories import make_person

    people = [make_person(f"p{n}@example.org", f"P {n}") for n in range(20)]
    build = email_channel._email

    def fragile(person, message):
        if person.email == "p7@example.org":
            raise UnicodeError("a broken address")
        return build(person, message)

    monkeypatch.setattr(email_channel, "_email", fragile)
    checkins = CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)

    outcomes = deliveries_send_batch(checkin_ids=[c.id for c in checkins])

    assert outcomes == {"sent": 19, "retry": 1}
    assert len(mailoutbox) == 19
    broken = Delivery.objects.get(checkin__person__email="p7@example.org")
    assert broken.status == Delivery.Status.PENDING
    assert "a broken address" in broken.last_error
