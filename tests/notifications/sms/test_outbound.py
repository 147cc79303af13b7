"""The SMS channel: who it reaches, and the texts it sends (English, French, two segments)."""

import pytest
from django.utils import timezone

from backend.notifications.channels import CHANNELS
from backend.notifications.channels.base import FriendNews, Message
from backend.notifications.models import Delivery, Phone
from backend.notifications.services import deliveries_send_batch, message_for
from backend.notifications.sms.texts import message_text, segments
from tests.factories import PARIS, make_person
from tests.notifications.sms.conftest import ALICE_NUMBER, confirm_phone

LINK = "https://safe.example.org/r/3039.AbCdEfGhIjKlMnOpQrStUv"


def message(**changes) -> Message:
    fields = {
        "checkin_id": 12345,
        "incident_title": "Paris attacks",
        "drill": False,
        "purpose": "ask",
        "token": "3039.AbCdEfGhIjKlMnOpQrStUv",
        "link": LINK,
        "language": "en",
    } | changes
    return Message(**fields)


def test_sms_reaches_only_people_with_a_confirmed_number(alice, bob, charlie):
    confirm_phone(alice, ALICE_NUMBER)
    Phone.objects.create(person=bob, number="+33611111111")  # code not entered yet

    sms = CHANNELS["sms"]
    assert sms.reaches(alice)
    assert not sms.reaches(bob)
    assert not sms.reaches(charlie)


def test_english_text_has_the_question_keywords_and_link_in_one_segment():
    text = message_text(message())

    assert text.startswith("Paris attacks\n")
    assert "Are you safe? Reply SAFE, HELP or AWAY" in text
    assert text.endswith(LINK)
    assert segments(text) == 1


def test_french_text_has_french_keywords_and_the_link_in_one_segment():
    text = message_text(message(language="fr"))

    assert "Etes-vous en sécurité ? Répondez OK, AIDE ou ABSENT" in text
    assert text.endswith(LINK)
    assert segments(text) == 1


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_long_title_is_shortened_to_keep_two_segments(language):
    text = message_text(message(incident_title="Inondations " * 40, language=language))

    assert segments(text) == 2
    assert "..." in text
    assert text.endswith(LINK)


def test_a_drill_and_a_reminder_say_so():
    text = message_text(message(drill=True, purpose="reminder"))

    assert text.startswith("DRILL: Reminder: Paris attacks\n")
    assert message_text(message(drill=True, language="fr")).startswith("EXERCICE : Paris attacks")


def test_a_nudge_names_the_friend_who_asked():
    text = message_text(message(purpose="nudge", sender_name="Bob 100%"))

    assert text.startswith("Bob 100% asks you to check in: Paris attacks\n")


def test_a_friend_alert_lists_friends_and_counts_those_that_do_not_fit():
    friends = tuple(FriendNews(f"Friend {n}", "safe", "Paris attacks") for n in range(30))

    text = message_text(message(purpose="friend_alert", checkin_id=0, friends=friends))

    assert text.startswith("Friend 0 is safe")
    assert "more" in text
    assert text.endswith(LINK)
    assert segments(text) <= 2


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("é" * 160, 1),  # é is in the GSM-7 alphabet
        ("€" * 80, 1),  # ... € takes two septets
        ("€" * 81, 2),
        ("Ê" * 70, 1),  # Ê is not: UCS-2, 70 a segment
        ("Ê" * 71, 2),
        ("Ê" * 135, 3),
    ],
)
def test_segments_follow_the_gsm_and_ucs2_limits(text, count):
    assert segments(text) == count


def test_the_outbox_texts_the_person_through_the_provider(alice, alice_checkin, sms_provider):
    confirm_phone(alice, ALICE_NUMBER)
    alice.channel_order = ["sms", "email"]
    alice.save()

    outcomes = deliveries_send_batch(checkin_ids=[alice_checkin.id])

    assert outcomes == {"sent": 1}
    [sms] = sms_provider.messages
    link = message_for(alice_checkin, purpose="ask").link
    assert sms.to == ALICE_NUMBER
    assert sms.body.endswith(link)
    assert "Reply SAFE, HELP or AWAY" in sms.body
    delivery = Delivery.objects.get(checkin=alice_checkin)
    assert (delivery.channel, delivery.status) == ("sms", Delivery.Status.SENT)


def test_a_rate_limited_text_is_retried_no_sooner_than_the_provider_asks(
    alice, alice_checkin, sms_provider
):
    confirm_phone(alice, ALICE_NUMBER)
    alice.channel_order = ["sms"]
    alice.save()
    sms_provider.fail_next(429, retry_after=120)
    before = timezone.now()

    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {"retry": 1}

    delivery = Delivery.objects.get(checkin=alice_checkin)
    assert delivery.status == Delivery.Status.PENDING
    assert (delivery.next_attempt_at - before).total_seconds() >= 120
    assert "429" in delivery.last_error


def test_many_people_are_texted_concurrently_each_once(olivia, sms_provider):
    from backend.checkins.services import checkins_create_for_incident
    from backend.incidents.models import Incident
    from backend.incidents.services import incident_create
    from tests.factories import PARIS_POLYGON

    for n in range(25):
        person = make_person(f"p{n}@example.org", f"P{n}", places=[PARIS], language="fr")
        person.channel_order = ["sms"]
        person.save()
        confirm_phone(person, f"+336123400{n:02d}")
    incident = incident_create(creator=olivia, title="Crue", regions=[{"geometry": PARIS_POLYGON}])
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.ACTIVE)
    checkins_create_for_incident(incident_id=incident.id)
    ids = list(incident.checkins.values_list("id", flat=True))

    assert deliveries_send_batch(checkin_ids=ids) == {"sent": 25}
    assert deliveries_send_batch(checkin_ids=ids) == {}

    messages = sms_provider.messages
    assert sorted(sms.to for sms in messages) == [f"+336123400{n:02d}" for n in range(25)]
    assert all("Répondez OK, AIDE ou ABSENT" in sms.body for sms in messages)
