"""Preview, official updates, triage, live snapshot, CSV export and the audit log."""

import csv
import io
from datetime import timedelta
from unittest import mock

from django.http import StreamingHttpResponse
from django.utils import timezone

from backend.checkins.services import checkin_respond
from backend.console.models import OfficialUpdate, Triage
from backend.incidents.models import AuditEntry
from backend.notifications.models import Phone, PushSubscription


def test_preview_counts_people_per_region_and_per_channel(api, olivia, draft, alice, bob):
    PushSubscription.objects.create(
        person=alice, endpoint="https://push.example/1", p256dh="k", auth="a"
    )
    Phone.objects.create(person=alice, number="+33600000000", confirmed_at=timezone.now())

    body = api(olivia).get(f"/api/incidents/{draft.id}/preview/").json()

    assert body["total"] == 2
    assert [region["people"] for region in body["regions"]] == [2]
    assert (body["push"], body["sms"], body["email"]) == (1, 1, 2)


def test_covered_cells_are_geojson_hexagons_bounded_in_count(api, olivia, draft):
    body = api(olivia).get(f"/api/incidents/{draft.id}/cells/").json()

    assert body["type"] == "FeatureCollection"
    assert body["total"] == len(body["features"]) > 0
    assert body["truncated"] is False
    ring = body["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert 2.2 < ring[0][0] < 2.5


def test_posting_an_update_notifies_every_affected_person(api, olivia, incident):
    with (
        mock.patch("backend.notifications.tasks.send_batch.delay") as send,
        mock.patch("django.db.transaction.on_commit", lambda f: f()),
    ):
        response = api(olivia).post(
            f"/api/incidents/{incident.id}/updates/",
            {"text": "No shooting at Les Halles: reports are false."},
            format="json",
        )

    assert response.status_code == 201
    batch = send.call_args.args[0]
    assert sorted(batch) == sorted(incident.checkins.values_list("id", flat=True))
    assert send.call_args.kwargs == {"purpose": "update", "seq": 1}
    assert AuditEntry.objects.filter(incident=incident, action="post_update").exists()


def test_a_second_update_within_a_minute_is_rate_limited(api, olivia, incident):
    url = f"/api/incidents/{incident.id}/updates/"
    api(olivia).post(url, {"text": "First"}, format="json")

    response = api(olivia).post(url, {"text": "Second"}, format="json")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert OfficialUpdate.objects.count() == 1


def test_an_update_after_a_minute_is_accepted_with_the_next_number(api, olivia, incident):
    url = f"/api/incidents/{incident.id}/updates/"
    api(olivia).post(url, {"text": "First"}, format="json")
    OfficialUpdate.objects.update(created_at=timezone.now() - timedelta(seconds=61))

    with (
        mock.patch("backend.notifications.tasks.send_batch.delay") as send,
        mock.patch("django.db.transaction.on_commit", lambda f: f()),
    ):
        response = api(olivia).post(url, {"text": "Second"}, format="json")

    assert response.status_code == 201
    assert send.call_args.kwargs["seq"] == 2
    assert [u["text"] for u in api(olivia).get(url).json()] == ["Second", "First"]


def test_updates_only_go_to_active_incidents(api, olivia, draft):
    response = api(olivia).post(
        f"/api/incidents/{draft.id}/updates/", {"text": "Hello"}, format="json"
    )

    assert response.status_code == 409


def test_an_empty_or_long_update_is_refused(api, olivia, incident):
    url = f"/api/incidents/{incident.id}/updates/"

    assert api(olivia).post(url, {"text": ""}, format="json").status_code == 400
    assert api(olivia).post(url, {"text": "x" * 501}, format="json").status_code == 400
    assert not OfficialUpdate.objects.exists()


def test_need_help_answers_are_listed_with_a_coarse_area(api, olivia, incident, alice_checkin):
    checkin_respond(
        checkin_id=alice_checkin.id, status="need_help", note="Stuck at home", via="app"
    )

    rows = api(olivia).get(f"/api/incidents/{incident.id}/triage/").json()

    assert len(rows) == 1
    row = rows[0]
    assert (row["name"], row["note"], row["status"]) == ("Alice", "Stuck at home", "open")
    assert row["area"] == incident.regions.get().summary
    assert len(row["coarse_cell"]) == 15  # an H3 index at res 6, not the person's place


def test_triage_can_be_assigned_commented_and_closed(api, olivia, oscar, incident, alice_checkin):
    checkin_respond(checkin_id=alice_checkin.id, status="need_help", via="app")
    url = f"/api/incidents/{incident.id}/triage/{alice_checkin.id}/"

    response = api(olivia).patch(
        url, {"status": "in_progress", "assignee": oscar.id, "comment": "Called"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["assignee_name"], response.json()["status"]) == ("Oscar", "in_progress")
    assert api(olivia).patch(url, {"assignee": None}, format="json").json()["assignee_id"] is None
    triage = Triage.objects.get()
    assert (triage.status, triage.comment, triage.updated_by) == ("in_progress", "Called", olivia)
    assert AuditEntry.objects.filter(action="triage").count() == 2


def test_triage_cannot_be_assigned_to_someone_who_is_not_an_operator(
    api, olivia, charlie, incident, alice_checkin
):
    checkin_respond(checkin_id=alice_checkin.id, status="need_help", via="app")

    response = api(olivia).patch(
        f"/api/incidents/{incident.id}/triage/{alice_checkin.id}/",
        {"assignee": charlie.id},
        format="json",
    )

    assert response.status_code == 400
    assert not Triage.objects.exists()


def test_triage_of_an_answer_that_is_not_need_help_is_404(api, olivia, incident, alice_checkin):
    response = api(olivia).patch(
        f"/api/incidents/{incident.id}/triage/{alice_checkin.id}/",
        {"status": "handled"},
        format="json",
    )

    assert response.status_code == 404


def test_live_snapshot_has_counters_and_answers_per_minute(api, olivia, incident, alice_checkin):
    checkin_respond(checkin_id=alice_checkin.id, status="safe", via="app")

    body = api(olivia).get(f"/api/incidents/{incident.id}/live/").json()

    assert body["counters"]["targeted"] == 2
    assert body["counters"]["safe"] == 1
    assert body["counters"]["no_answer"] == 1
    assert sum(point["safe"] for point in body["answers_per_minute"]) == 1


def test_export_streams_every_checkin_as_csv_and_is_audited(api, olivia, incident, alice_checkin):
    checkin_respond(checkin_id=alice_checkin.id, status="safe", via="sms")

    response = api(olivia).get(f"/api/incidents/{incident.id}/export/")

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["checkin_id", "name", "email", "answer", "answered_at", "channel", "note"]
    by_name = {row[1]: row for row in rows[1:]}
    assert set(by_name) == {"Alice", "Charlie"}
    assert by_name["Alice"][3:4] + by_name["Alice"][5:6] == ["safe", "sms"]
    assert by_name["Charlie"][3] == "pending"
    assert AuditEntry.objects.filter(incident=incident, action="export").exists()


def test_export_fetches_rows_in_chunks(olivia, incident):
    from backend.console.selectors import checkin_export_rows

    with mock.patch("django.db.models.query.QuerySet.iterator", autospec=True) as iterator:
        iterator.return_value = iter([])
        list(checkin_export_rows(incident_id=incident.id))

    assert iterator.call_args.kwargs == {"chunk_size": 2000}


def test_audit_log_lists_operator_actions_with_who(api, olivia, incident):
    api(olivia).get(f"/api/incidents/{incident.id}/export/")

    entries = api(olivia).get(f"/api/audit/?incident={incident.id}").json()

    assert [e["action"] for e in entries][:2] == ["export", "create"]
    assert entries[0]["actor_name"] == "Olivia"
    assert api(olivia).get("/api/audit/?incident=x").status_code == 400


def test_every_operator_read_of_the_triage_list_is_audited(
    api, client, olivia, incident, alice_checkin
):
    checkin_respond(checkin_id=alice_checkin.id, status="need_help", via="app")
    assert api(olivia).get(f"/api/incidents/{incident.id}/triage/").status_code == 200
    client.force_login(olivia)
    assert client.get(f"/console/incidents/{incident.id}/triage/").status_code == 200
    # The page's live refresh is not a new read of its own.
    client.get(f"/console/incidents/{incident.id}/triage/?fragment=1")

    reads = AuditEntry.objects.filter(incident=incident, action="read_triage", actor=olivia)
    assert reads.count() == 2
    assert reads.first().detail == {"rows": 1}


def test_the_audit_filter_refuses_ids_that_are_not_ids(api, olivia):
    for bad in ("abc", "²", "99999999999999999999999", "-3"):
        response = api(olivia).get("/api/audit/", {"incident": bad})
        assert response.status_code == 400, bad
        assert "incident" in response.json()["error"]["message"]
