"""Reads for the operator console: boards, audience preview, live snapshot, triage, exports."""

import bisect
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import h3.api.basic_int as h3
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncMinute
from django.utils import timezone

from backend.accounts.models import Place, User
from backend.checkins.models import CheckIn, Response
from backend.checkins.selectors import incident_stats
from backend.geo.cells import RESOLUTION, cell_range
from backend.incidents.models import AffectedRegion, AuditEntry, CellRange, Incident
from backend.incidents.selectors import AUDIENCE_CTE
from backend.notifications.models import Delivery
from backend.notifications.selectors import claimed_counts

from .models import ActivationRequest, OfficialUpdate, PublicLogEntry, Triage

# Who the fan-out would reach and on which channels, in one pass over the audience: each
# channel's people are one hashed set (the way it was, a DISTINCT over a million person ids
# and a look-up per person, took 3.4-4.0 s for the B6 region).
AUDIENCE_CHANNELS_SQL = f"""
WITH {AUDIENCE_CTE.format(group="0")}
SELECT
    COUNT(*),
    COUNT(*) FILTER (
        WHERE person_id IN (SELECT person_id FROM notifications_pushsubscription)
    ),
    COUNT(*) FILTER (
        WHERE person_id IN (
            SELECT person_id FROM notifications_phone WHERE confirmed_at IS NOT NULL
        )
    ),
    COUNT(*) FILTER (WHERE person_id NOT IN (SELECT id FROM accounts_user WHERE email = ''))
FROM audience
"""  # noqa: S608 - built from constants only

AUDIENCE_BY_REGION_SQL = f"""
WITH {AUDIENCE_CTE.format(group="region_id")}
SELECT grp, COUNT(*) FROM audience GROUP BY grp
"""  # noqa: S608 - built from constants only

MAX_PREVIEW_CELLS = 3000
CHART_MINUTES = 120
COARSE_RESOLUTION = 6


def incidents_board() -> dict[str, list[Incident]]:
    """Every incident for the console list, grouped: drafts, pending, active, resolved, declined."""
    declined = PublicLogEntry.objects.filter(
        incident=OuterRef("pk"), action=PublicLogEntry.Action.DECLINED
    )
    pending = ActivationRequest.objects.filter(
        incident=OuterRef("pk"), status=ActivationRequest.Status.PENDING
    )
    incidents = Incident.objects.annotate(declined=Exists(declined), pending=Exists(pending))[:500]
    board: dict[str, list[Incident]] = {
        "drafts": [],
        "active": [],
        "resolved": [],
        "declined": [],
    }
    for incident in incidents:
        if incident.declined:
            board["declined"].append(incident)
        elif incident.status == Incident.Status.DRAFT:
            board["drafts"].append(incident)
        else:
            board[incident.status].append(incident)
    return board


def incident_is_declined(*, incident_id: int) -> bool:
    return PublicLogEntry.objects.filter(
        incident_id=incident_id, action=PublicLogEntry.Action.DECLINED
    ).exists()


def audience_preview(*, incident_id: int) -> dict[str, Any]:
    """People reached per region and in total, and how many have push, SMS and email.

    Counts follow the fan-out: active people with a place in any of the regions.
    """
    regions = list(AffectedRegion.objects.filter(incident_id=incident_id).order_by("id"))
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # PostgreSQL compiles a plan this costly (JIT): ~60 ms of compiling for less than
            # that saved. Without it the B6 region's count took 517-652 ms against 598-731
            # (medians of three series of 5-8 runs, alternating, 1,031,309 people, a slow
            # 2-core VM).
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(AUDIENCE_CHANNELS_SQL, {"incident": incident_id})
        total, push, sms, email = cursor.fetchone()
        if len(regions) > 1:
            cursor.execute(AUDIENCE_BY_REGION_SQL, {"incident": incident_id})
            by_region = dict(cursor.fetchall())
        else:  # the usual case: the one region holds the whole audience
            by_region = {region.id: total for region in regions}
    return {
        "regions": [
            {"id": r.id, "summary": r.summary, "people": int(by_region.get(r.id, 0))}
            for r in regions
        ],
        "total": int(total),
        "push": int(push or 0),
        "sms": int(sms or 0),
        "email": int(email or 0),
    }


def _range_cell(lo: int, hi: int) -> int | None:
    """The compacted cell whose res-9 descendants are exactly [lo, hi], if there is one."""
    for resolution in range(RESOLUTION + 1):
        parent = h3.cell_to_parent(lo, resolution)
        if cell_range(parent) == (lo, hi):
            return int(parent)
    return None


def covered_cells(*, incident_id: int, limit: int = MAX_PREVIEW_CELLS) -> dict[str, Any]:
    """The compacted cells covering the regions as a GeoJSON FeatureCollection (at most LIMIT)."""
    ranges = CellRange.objects.filter(incident_id=incident_id).order_by("lo")
    total = ranges.count()
    features = []
    for lo, hi in ranges.values_list("lo", "hi")[:limit]:
        cell = _range_cell(lo, hi)
        if cell is None:
            continue
        ring = [[lon, lat] for lat, lon in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"cell": h3.int_to_str(cell), "resolution": h3.get_resolution(cell)},
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "total": total,
        "truncated": total > limit,
    }


def deliveries_by_channel(*, incident_id: int) -> dict[str, dict[str, int]]:
    """Deliveries of the incident counted per channel and status (every purpose); messages
    of fan-out claims count as sent once recorded, as sending until then."""
    counts: dict[str, dict[str, int]] = {}
    rows = (
        Delivery.objects.filter(incident_id=incident_id)
        .values("channel", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts.setdefault(row["channel"], {})[row["status"]] = row["n"]
    for channel, sent, unrecorded in claimed_counts(incident_id=incident_id):
        per_status = counts.setdefault(channel, {})
        per_status["sent"] = per_status.get("sent", 0) + sent
        if unrecorded:
            per_status["sending"] = per_status.get("sending", 0) + unrecorded
    return counts


def answers_per_minute(*, incident_id: int, minutes: int = CHART_MINUTES) -> list[dict[str, Any]]:
    """Answers given per minute over the last MINUTES, oldest first, by answer."""
    since = timezone.now() - timedelta(minutes=minutes)
    rows = (
        Response.objects.filter(checkin__incident_id=incident_id, at__gte=since)
        .annotate(minute=TruncMinute("at"))
        .values("minute", "status")
        .annotate(n=Count("id"))
        .order_by("minute")
    )
    series: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["minute"].isoformat()
        point = series.setdefault(key, {"minute": key, "safe": 0, "need_help": 0, "not_in_area": 0})
        point[row["status"]] += row["n"]
    return list(series.values())


def live_snapshot(*, incident_id: int) -> dict[str, Any]:
    """Everything the live dashboard shows: counters, deliveries, answers per minute, triage."""
    incident = Incident.objects.filter(id=incident_id).values("status", "fanout_done_at").first()
    latest_help = (
        CheckIn.objects.filter(incident_id=incident_id, status=CheckIn.Status.NEED_HELP)
        .order_by("-answered_at")
        .values_list("answered_at", flat=True)
        .first()
    )
    return {
        "status": incident["status"] if incident else None,
        "fanout_done": bool(incident and incident["fanout_done_at"]),
        "counters": incident_stats(incident_id=incident_id),
        "deliveries": deliveries_by_channel(incident_id=incident_id),
        "answers_per_minute": answers_per_minute(incident_id=incident_id),
        "need_help_latest": latest_help.isoformat() if latest_help else None,
        "updates": OfficialUpdate.objects.filter(incident_id=incident_id).count(),
    }


def _region_index(incident_id: int) -> tuple[list[int], list[tuple[int, str]]]:
    ranges = sorted(
        CellRange.objects.filter(incident_id=incident_id).values_list("lo", "hi", "region__summary")
    )
    return [lo for lo, _hi, _summary in ranges], [(hi, summary) for _lo, hi, summary in ranges]


def triage_list(*, incident_id: int, checkin_id: int | None = None) -> list[dict[str, Any]]:
    """People who answered "I need help", newest first, with a coarse area and the triage state.

    With CHECKIN_ID, only that person's row (empty if they are not in the list).

    The area is the region they are in and the res-6 cell (about 36 km²) around their place:
    enough to dispatch help, never their precise place.
    """
    need_help = CheckIn.objects.filter(incident_id=incident_id, status=CheckIn.Status.NEED_HELP)
    if checkin_id is not None:
        need_help = need_help.filter(id=checkin_id)
    checkins = list(
        need_help.select_related("person", "triage", "triage__assignee").order_by("-answered_at")[
            :1000
        ]
    )
    los, his = _region_index(incident_id)
    cells: dict[int, list[int]] = {}
    for person_id, cell in Place.objects.filter(
        person_id__in=[c.person_id for c in checkins]
    ).values_list("person_id", "cell"):
        cells.setdefault(person_id, []).append(cell)
    rows = []
    for checkin in checkins:
        area, coarse = "", ""
        for cell in cells.get(checkin.person_id, []):
            at = bisect.bisect_right(los, cell) - 1
            if at >= 0 and cell <= his[at][0]:
                area = his[at][1]
                coarse = h3.int_to_str(h3.cell_to_parent(cell, COARSE_RESOLUTION))
                break
        triage: Triage | None = getattr(checkin, "triage", None)
        rows.append(
            {
                "checkin_id": checkin.id,
                "name": checkin.person.name,
                "note": checkin.note,
                "answered_at": checkin.answered_at,
                "area": area,
                "coarse_cell": coarse,
                "status": triage.status if triage else Triage.Status.OPEN,
                "assignee_id": triage.assignee_id if triage else None,
                "assignee_name": triage.assignee.name if triage and triage.assignee else "",
                "comment": triage.comment if triage else "",
            }
        )
    return rows


def operators() -> QuerySet[User]:
    """People who may operate incidents (for assigning triage)."""
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename="operate_incident")
            | Q(user_permissions__codename="operate_incident")
        )
        .distinct()
        .order_by("name")
    )


def checkin_export_rows(*, incident_id: int, chunk_size: int = 2000) -> Iterator[tuple[Any, ...]]:
    """Every check-in of the incident as (name, email, answer, answered_at, via, note).

    Fetched in chunks with a server-side cursor where the database has one, so a million
    rows never sit in memory at once.
    """
    return (
        CheckIn.objects.filter(incident_id=incident_id)
        .order_by("id")
        .values_list(
            "id", "person__name", "person__email", "status", "answered_at", "answered_via", "note"
        )
        .iterator(chunk_size=chunk_size)
    )


def activation_requests(*, incident_id: int) -> QuerySet[ActivationRequest]:
    return (
        ActivationRequest.objects.filter(incident_id=incident_id)
        .select_related("requested_by", "decided_by")
        .order_by("-created_at")
    )


def public_log() -> QuerySet[PublicLogEntry]:
    """The public activation log: activations, resolutions and declines, newest first."""
    return PublicLogEntry.objects.select_related("incident").prefetch_related("incident__regions")[
        :500
    ]


def audit_entries(*, incident_id: int | None = None) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.select_related("actor", "incident")
    if incident_id is not None:
        entries = entries.filter(incident_id=incident_id)
    return entries[:500]
