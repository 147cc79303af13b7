"""The answers write-behind: stream on a real Redis of our own, drained into the database.

The endpoint appends answers to the stream only while a drainer is alive; the drainer
records them with checkin_respond's semantics (last wins, history once, counters exact,
friend alerts once, closed incidents rejected), and a second pass over the same entries
records nothing.
"""

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from backend.checkins import answer_stream
from backend.checkins.answer_drainer import GROUP, Drainer, _parse, record_entries
from backend.checkins.models import CheckIn, Response
from backend.checkins.selectors import incident_stats
from backend.checkins.tokens import checkin_token
from backend.incidents.models import Incident
from backend.notifications.models import FriendAlert
from tests.faults.servers import Redis

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Redis]:
    base = Path(tempfile.mkdtemp(prefix="safe-answers-"))
    server = Redis(base)
    yield server
    server.destroy()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def answers_redis(settings, redis_server):
    settings.SAFE_ANSWERS_REDIS_URL = redis_server.url
    answer_stream.reset_client()
    client = answer_stream.client()
    client.flushdb()  # our own server: nobody else's keys
    yield client
    answer_stream.reset_client()


@pytest.fixture
def drainer(answers_redis, incident) -> Drainer:
    """A drainer that announced itself and an incident seen active, so the web enqueues;
    the test drains by hand."""
    drainer = Drainer(name="test")
    drainer.announce()
    answer_stream.incident_seen_active(incident.id)
    return drainer


def _answer(api, checkin, status, **extra):
    body = {"token": checkin_token(checkin.id, checkin.incident_id), "status": status, **extra}
    return api(None).post("/api/answer/", body, format="json")


def _history(checkin) -> list[tuple[str, bool]]:
    rows = Response.objects.filter(checkin=checkin).order_by("id")
    return [(r.status, r.key is not None) for r in rows]


def test_without_a_live_drainer_the_answer_is_recorded_at_once(api, answers_redis, alice_checkin):
    assert _answer(api, alice_checkin, "safe").status_code == 200
    assert _history(alice_checkin) == [("safe", False)]
    assert answers_redis.xlen(answer_stream.keys().stream) == 0


def test_the_first_answer_to_an_incident_is_recorded_at_once_then_the_stream_takes_over(
    api, answers_redis, alice_checkin, charlie, incident
):
    Drainer(name="test").announce()
    assert _answer(api, alice_checkin, "safe").status_code == 200
    assert _history(alice_checkin) == [("safe", False)]  # not yet known to be active
    assert _answer(api, charlie.checkins.get(), "safe").status_code == 200
    assert answers_redis.xlen(answer_stream.keys().stream) == 1


def test_after_resolution_answers_are_refused_at_once_not_accepted_and_dropped(
    api, drainer, answers_redis, olivia, alice_checkin, incident, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert api(olivia).post(f"/api/incidents/{incident.id}/resolve/").status_code == 200
    response = _answer(api, alice_checkin, "safe")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "closed"
    assert answers_redis.xlen(answer_stream.keys().stream) == 0
    assert _history(alice_checkin) == []


def test_with_redis_unreachable_the_answer_is_recorded_at_once(api, settings, alice_checkin):
    settings.SAFE_ANSWERS_REDIS_URL = "redis://127.0.0.1:1/0"
    answer_stream.reset_client()
    try:
        response = _answer(api, alice_checkin, "need_help", note="stairs")
    finally:
        answer_stream.reset_client()
    assert response.status_code == 200
    assert _history(alice_checkin) == [("need_help", False)]


def test_last_answer_wins_history_once_counters_exact(
    api, drainer, answers_redis, alice_checkin, incident
):
    for status in ("need_help", "safe", "safe"):
        response = _answer(api, alice_checkin, status)
        assert response.status_code == 200
        assert response.json()["status"] == status
    # Accepted, not yet recorded.
    assert _history(alice_checkin) == []
    assert answers_redis.xlen(answer_stream.keys().stream) == 3

    assert drainer.drain_once() == {
        "recorded": 2,
        "unchanged": 1,
        "duplicate": 0,
        "superseded": 0,
        "rejected": 0,
        "malformed": 0,
    }
    alice_checkin.refresh_from_db()
    assert (alice_checkin.status, alice_checkin.answered_via) == ("safe", "push")
    assert _history(alice_checkin) == [("need_help", True), ("safe", True)]
    stats = incident_stats(incident_id=incident.id)
    assert (stats["safe"], stats["need_help"], stats["no_answer"]) == (1, 0, 1)
    # Acknowledged and deleted; nothing pending on any consumer; overlay cleared.
    keys = answer_stream.keys()
    assert answers_redis.xlen(keys.stream) == 0
    assert answers_redis.xpending(keys.stream, GROUP)["pending"] == 0
    assert answers_redis.hlen(keys.pending) == 0
    assert drainer.drain_once() == {}


def test_an_entry_processed_twice_is_recorded_and_alerted_once(
    api, drainer, answers_redis, alice, bob, alice_checkin, incident
):
    _answer(api, alice_checkin, "safe")
    stream = answer_stream.keys().stream
    [(entry_id, fields)] = answers_redis.xrange(stream)
    entry = _parse(entry_id, fields)
    assert entry is not None
    # A drainer that committed, then died before XACK: the entry is delivered again.
    first = record_entries([entry])
    again = drainer.drain_once()
    assert (first.recorded, again["recorded"], again["duplicate"]) == (1, 0, 1)
    assert _history(alice_checkin) == [("safe", True)]
    assert incident_stats(incident_id=incident.id)["safe"] == 1
    assert FriendAlert.objects.filter(recipient=bob).count() == 1
    assert answers_redis.xlen(stream) == 0


def test_entries_in_the_earlier_one_field_per_value_shape_are_still_recorded(
    api, drainer, answers_redis, alice_checkin, charlie, incident
):
    # Entries a web process of the previous release queued before an upgrade.
    stream = answer_stream.keys().stream
    answers_redis.sadd(answer_stream.keys().active, incident.id)
    answers_redis.xadd(
        stream,
        {
            "key": uuid.uuid4().hex,
            "checkin": alice_checkin.id,
            "status": "safe",
            "note": "",
            "via": "push",
            "at": "2026-11-01T10:00:00+00:00",
        },
    )
    _answer(api, charlie.checkins.get(), "need_help")  # the current shape, one field
    assert [sorted(fields) for _, fields in answers_redis.xrange(stream)] == [
        ["at", "checkin", "key", "note", "status", "via"],
        ["a"],
    ]

    assert drainer.drain_once()["recorded"] == 2
    alice_checkin.refresh_from_db()
    assert (alice_checkin.status, alice_checkin.answered_via) == ("safe", "push")
    assert charlie.checkins.get().status == "need_help"


def test_answers_to_a_closed_incident_are_rejected_and_acknowledged(
    api, drainer, answers_redis, alice_checkin, incident
):
    assert _answer(api, alice_checkin, "safe").status_code == 200
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.RESOLVED)
    assert drainer.drain_once()["rejected"] == 1
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == CheckIn.Status.PENDING
    assert _history(alice_checkin) == []
    assert incident_stats(incident_id=incident.id)["safe"] == 0
    assert answers_redis.xlen(answer_stream.keys().stream) == 0
    # The resolution raced the answer: later answers take the synchronous path, which refuses.
    assert _answer(api, alice_checkin, "safe").status_code == 409
    assert answers_redis.xlen(answer_stream.keys().stream) == 0


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        ("garbage", {"status": "safe"}, 404),
        ("f" * 65, {"status": "safe"}, 400),  # longer than any token
        ("tampered", {"status": "safe"}, 404),
        ("valid", {"status": "fine"}, 400),
        ("valid", {"status": "safe", "note": "x" * 281}, 400),
    ],
)
def test_bad_input_is_refused_and_never_enqueued(
    api, drainer, answers_redis, alice_checkin, token, body, status
):
    real = checkin_token(alice_checkin.id, alice_checkin.incident_id)
    token = {"valid": real, "tampered": real[:-2] + ("AA" if real[-2:] != "AA" else "BB")}.get(
        token, token
    )
    response = api(None).post("/api/answer/", {"token": token, **body}, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"]
    assert answers_redis.xlen(answer_stream.keys().stream) == 0
    assert answers_redis.hlen(answer_stream.keys().pending) == 0
    assert not Response.objects.exists()


def test_the_person_and_friends_see_a_pending_answer_at_once(
    api, drainer, alice, bob, alice_checkin, incident
):
    _answer(api, alice_checkin, "need_help", note="Trapped")
    mine = api(alice).get("/api/me/checkins/").json()
    assert (mine[0]["status"], mine[0]["note"]) == ("need_help", "Trapped")
    theirs = api(bob).get(f"/api/incidents/{incident.id}/friends/").json()
    assert [(r["name"], r["status"]) for r in theirs] == [("Alice", "need_help")]
    # The one-tap page shows it too, and tapping the same answer again changes nothing.
    token = checkin_token(alice_checkin.id, alice_checkin.incident_id)
    assert "Trapped" in api(None).get(f"/r/{token}").content.decode()
    drainer.drain_once()
    assert api(alice).get("/api/me/checkins/").json()[0]["status"] == "need_help"
    assert _history(alice_checkin) == [("need_help", True)]


def test_an_answer_recorded_directly_after_a_pending_one_is_not_overwritten(
    api, drainer, answers_redis, alice_checkin
):
    _answer(api, alice_checkin, "need_help")
    # The drainer went away; the next answer is recorded synchronously, and is newer.
    answers_redis.delete(answer_stream.keys().alive)
    _answer(api, alice_checkin, "safe")
    assert drainer.drain_once()["superseded"] == 1
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "safe"
    assert _history(alice_checkin) == [("safe", False)]


def test_entries_of_a_dead_drainer_are_claimed(api, drainer, answers_redis, alice_checkin):
    _answer(api, alice_checkin, "safe")
    stream = answer_stream.keys().stream
    # A consumer takes the entry and dies without acknowledging it.
    answers_redis.xreadgroup(GROUP, "dead", {stream: ">"}, count=10)
    assert drainer.drain_once() == {}  # not idle long enough to be taken over
    rescuer = Drainer(name="rescuer", reclaim_idle_ms=0)
    assert rescuer.drain_once()["recorded"] == 1
    assert _history(alice_checkin) == [("safe", True)]
    assert answers_redis.xpending(stream, GROUP)["pending"] == 0


def test_a_batched_listener_is_called_once_per_batch(
    api, drainer, monkeypatch, alice_checkin, charlie
):
    from backend.checkins import services

    calls: list[list[int]] = []
    listener = services.answer_listeners[0]
    monkeypatch.setitem(services.answer_batch_listeners, listener, calls.append)
    charlie_checkin = charlie.checkins.get()
    _answer(api, alice_checkin, "safe")
    _answer(api, charlie_checkin, "need_help")
    assert drainer.drain_once()["recorded"] == 2
    assert calls == [sorted([alice_checkin.id, charlie_checkin.id])]


def test_a_failing_listener_does_not_hold_the_answers_back(
    api, drainer, answers_redis, monkeypatch, alice_checkin
):
    from backend.checkins import services

    def broken(checkin_id: int) -> None:
        raise RuntimeError("listener down")

    monkeypatch.setattr(services, "answer_listeners", [broken])
    monkeypatch.setattr("backend.checkins.answer_drainer.answer_listeners", [broken])
    _answer(api, alice_checkin, "safe")
    assert drainer.drain_once()["recorded"] == 1
    assert _history(alice_checkin) == [("safe", True)]
    assert answers_redis.xlen(answer_stream.keys().stream) == 0


def test_a_drained_batch_stops_reminders_and_alerts_each_friend_once(
    api, drainer, alice, bob, charlie, alice_checkin, incident
):
    from backend.notifications.models import Reminder
    from backend.notifications.services import reminders_schedule

    charlie_checkin = charlie.checkins.get()
    reminders_schedule(incident_id=incident.id)
    _answer(api, alice_checkin, "need_help")
    _answer(api, alice_checkin, "safe")
    _answer(api, charlie_checkin, "safe")
    assert drainer.drain_once()["recorded"] == 3
    assert not Reminder.objects.filter(checkin__in=[alice_checkin, charlie_checkin]).exists()
    # Bob is alice's friend (charlie has none): one alert, for her latest answer.
    [alert] = FriendAlert.objects.all()
    assert (alert.recipient, alert.response.status) == (bob, "safe")


@pytest.fixture
def one_tap_limit(settings) -> Iterator[APIClient]:
    """The one-tap limit at 4 posts a minute, and a client from an address no other test
    uses (the counters may live in the Redis the whole suite shares)."""
    from backend.common.ratelimit import reset_client

    settings.SAFE_RATE_LIMIT_ENABLED = True
    settings.SAFE_RATE_LIMITS = {**settings.SAFE_RATE_LIMITS, "one_tap": (4, 60)}
    reset_client()
    yield APIClient(REMOTE_ADDR=f"198.51.100.{uuid.uuid4().int % 250 + 1}")
    reset_client()


def _post(client: APIClient, checkin, status: str):
    body = {"token": checkin_token(checkin.id, checkin.incident_id), "status": status}
    return client.post("/api/answer/", body, format="json")


@pytest.mark.parametrize("counters", ["answers", "own"])
def test_every_token_post_is_one_hit_and_the_fifth_is_refused_unrecorded(
    settings, drainer, answers_redis, one_tap_limit, alice_checkin, charlie, counters
):
    """The hit rides on the answer's own Redis call when the counters live in the answers
    Redis; a post refused before that call (bad body, tampered token) counts all the same."""
    from backend.common.ratelimit import reset_client

    if counters == "answers":
        settings.SAFE_RATE_LIMIT_REDIS_URL = settings.SAFE_ANSWERS_REDIS_URL
        reset_client()
    client = one_tap_limit
    token = checkin_token(alice_checkin.id, alice_checkin.incident_id)
    tampered = {"token": token[:-2] + ("AA" if not token.endswith("AA") else "BB")}

    assert _post(client, alice_checkin, "safe").status_code == 200
    assert client.post("/api/answer/", {"status": "safe"}, format="json").status_code == 400
    assert (
        client.post("/api/answer/", {**tampered, "status": "safe"}, format="json").status_code
        == 404
    )
    assert _post(client, alice_checkin, "need_help").status_code == 200
    refused = _post(client, charlie.checkins.get(), "safe")

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert answers_redis.xlen(answer_stream.keys().stream) == 2  # the refused one: not queued
    drainer.drain_once()
    assert charlie.checkins.get().status == CheckIn.Status.PENDING
    counters_here = [int(answers_redis.get(k)) for k in answers_redis.keys("rl:one_tap:*")]
    assert counters_here == ([5] if counters == "answers" else [])


def test_without_a_drainer_the_limit_holds_on_the_synchronous_path(
    settings, answers_redis, one_tap_limit, alice_checkin, charlie
):
    from backend.common.ratelimit import reset_client

    settings.SAFE_RATE_LIMIT_REDIS_URL = settings.SAFE_ANSWERS_REDIS_URL
    reset_client()
    for status in ["safe", "need_help", "safe", "need_help"]:
        assert _post(one_tap_limit, alice_checkin, status).status_code == 200
    assert _post(one_tap_limit, charlie.checkins.get(), "safe").status_code == 429
    assert [int(answers_redis.get(k)) for k in answers_redis.keys("rl:one_tap:*")] == [5]
    assert [s for s, _ in _history(alice_checkin)] == ["safe", "need_help", "safe", "need_help"]
    assert charlie.checkins.get().status == CheckIn.Status.PENDING


def test_healthz_counts_the_answers_waiting_for_the_drainer(
    api, client, answers_redis, alice_checkin, charlie, incident
):
    assert client.get("/healthz").json()["answers"] == (
        "ok (no drainer: the web records answers itself)"
    )
    drainer = Drainer(name="test")
    drainer.announce()
    answer_stream.incident_seen_active(incident.id)
    for checkin in (alice_checkin, charlie.checkins.get()):
        assert _answer(api, checkin, "safe").status_code == 200
    assert client.get("/healthz").json()["answers"] == "ok (2 answers waiting for the drainer)"
    drainer.drain_once()
    assert client.get("/healthz").json()["answers"] == "ok (0 answers waiting for the drainer)"


def test_a_full_backlog_sends_answers_to_the_synchronous_path(
    api, settings, drainer, answers_redis, alice_checkin, charlie
):
    """Redis must not grow without bound while the drainer is stuck: past the cap the web
    records answers itself, and nothing is lost either way."""
    settings.SAFE_ANSWERS_MAX_BACKLOG = 1
    assert _answer(api, alice_checkin, "safe").status_code == 200
    assert _answer(api, charlie.checkins.get(), "need_help").status_code == 200

    assert answers_redis.xlen(answer_stream.keys().stream) == 1
    assert _history(charlie.checkins.get()) == [("need_help", False)]  # recorded directly
    assert _history(alice_checkin) == []
    drainer.drain_once()
    assert _history(alice_checkin) == [("safe", True)]


def test_healthz_stays_ok_when_only_the_answers_redis_is_down(client, settings):
    settings.SAFE_ANSWERS_REDIS_URL = "redis://127.0.0.1:1/0"
    answer_stream.reset_client()
    try:
        answers = client.get("/healthz").json()["answers"]
    finally:
        answer_stream.reset_client()
    assert answers.startswith("ok (stream unreachable, the web records answers itself")
