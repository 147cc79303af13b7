"""Export my data and delete my account: everything about a person, then nothing."""

import json

import pytest
from django.db import connection
from django.test import Client

from backend.checkins.services import checkin_respond
from backend.notifications.models import Delivery
from backend.social.models import Friendship


@pytest.mark.django_db
def test_export_holds_my_answers_and_deletion_leaves_nothing_of_me(alice, bob, incident):
    checkin = alice.checkins.get(incident=incident)
    checkin_respond(checkin_id=checkin.id, status="safe", note="at the Bataclan's door", via="pwa")
    Delivery.objects.create(
        checkin=checkin, incident=incident, channel="email", purpose="ask", seq=0
    )
    client = Client()
    client.force_login(alice)
    export = json.loads(client.get("/settings/export.json").content)
    assert export["person"]["email"] == "alice@example.org"
    assert export["checkins"][0]["note"] == "at the Bataclan's door"
    assert export["places"]
    assert [f["name"] for f in export["friends"]] == ["Bob"]

    response = client.post("/settings/delete", {"confirm": "on"})
    assert response.status_code == 200, response.content.decode()[:500]
    needles = ("alice@example.org", "Bataclan")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                text = " ".join(map(str, row))
                assert not any(n in text for n in needles), f"{table} still holds {row}"
    assert not Friendship.objects.filter(friend=bob).exists()
