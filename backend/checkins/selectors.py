"""Reads for check-ins: mine, my friends', and an incident's live counters."""

from typing import Any

from django.db.models import Case, F, IntegerField, QuerySet, Sum, Value, When

from backend.accounts.models import User
from backend.common.errors import NotFound
from backend.incidents.models import Incident
from backend.social.selectors import friend_ids

from .answer_stream import PendingAnswer, pending_answers
from .models import CheckIn, IncidentCounter
from .services import COUNTER_FIELDS
from .tokens import checkin_id_from_token

# What friends' views show (API, PWA). A person row carries a password hash and an incident its
# description: loading those for hundreds of friends dominated the view.
FRIEND_VIEW_FIELDS = (
    "id", "incident_id", "person_id", "status", "note", "answered_at",
    "person__name", "incident__title", "incident__status", "incident__drill",
)  # fmt: skip


def incident_stats(*, incident_id: int) -> dict[str, int]:
    """Targeted, delivered, answers and no-answer: the sum of a few counter shards."""
    sums = IncidentCounter.objects.filter(incident_id=incident_id).aggregate(
        **{field: Sum(field) for field in COUNTER_FIELDS}
    )
    stats = {field: int(sums[field] or 0) for field in COUNTER_FIELDS}
    answered = stats["safe"] + stats["need_help"] + stats["not_in_area"]
    stats["no_answer"] = stats["targeted"] - answered
    return stats


def _newer(pending: PendingAnswer | None, answered_at: Any) -> bool:
    return pending is not None and (answered_at is None or pending.at > answered_at)


def with_pending_answers(checkins: list[CheckIn]) -> list[CheckIn]:
    """CHECKINS with the answers accepted but not yet recorded (read-your-writes)."""
    pending = pending_answers([c.id for c in checkins])
    for checkin in checkins:
        answer = pending.get(checkin.id)
        if answer is not None and _newer(answer, checkin.answered_at):
            checkin.status, checkin.note, checkin.answered_at = (
                answer.status,
                answer.note,
                answer.at,
            )
    return checkins


class WithPendingAnswers(QuerySet[CheckIn]):
    """Check-ins as people see them: with answers accepted but not yet recorded.

    Only the person's own and their friends' views use it (one Redis read per page), never
    writes: the drainer and services read PostgreSQL as it is.
    """

    def _fetch_all(self) -> None:
        fresh = self._result_cache is None
        super()._fetch_all()
        results = self._result_cache
        if fresh and results and isinstance(results[0], CheckIn):
            with_pending_answers(results)  # type: ignore[arg-type]


def _shown() -> QuerySet[CheckIn]:
    return WithPendingAnswers(model=CheckIn)


def checkins_of(*, person: User) -> QuerySet[CheckIn]:
    """PERSON's own check-ins, those of active incidents first, newest first."""
    return (
        _shown()
        .filter(person=person)
        .select_related("incident")
        .annotate(
            closed=Case(
                When(incident__status=Incident.Status.ACTIVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("closed", "-created_at")
    )


def access_own_checkin(*, person: User, checkin_id: int) -> CheckIn:
    """PERSON's check-in; anyone else's is 404."""
    checkin = (
        CheckIn.objects.select_related("incident").filter(id=checkin_id, person=person).first()
    )
    if checkin is None:
        raise NotFound("No such check-in.")
    return checkin


def checkin_for_token(*, token: str) -> CheckIn:
    """The check-in a one-tap token opens; 404 if the token is not valid."""
    checkin_id = checkin_id_from_token(token)
    checkin = (
        CheckIn.objects.select_related("incident", "person").filter(id=checkin_id).first()
        if checkin_id
        else None
    )
    if checkin is None:
        raise NotFound("This link is not valid.", code="invalid_token")
    return with_pending_answers([checkin])[0]


def friends_checkins(*, viewer: User, incident_id: int | None = None) -> QuerySet[CheckIn]:
    """Check-ins of VIEWER's friends: in one incident, or across active incidents.

    The friendship join is the access check: nobody else's check-in can appear.
    """
    checkins = (
        _shown()
        .filter(person_id__in=friend_ids(person=viewer))
        .select_related("person", "incident")
        .only(*FRIEND_VIEW_FIELDS)
    )
    if incident_id is not None:
        checkins = checkins.filter(incident_id=incident_id)
    else:
        checkins = checkins.filter(incident__status=Incident.Status.ACTIVE)
    return checkins.order_by("incident_id", "person__name")


def friends_statuses(*, viewer: User, incident_id: int | None = None) -> list[dict[str, Any]]:
    """What friends' views show, as plain rows: the API's fast path (no model objects).

    Same rows and the same access check as `friends_checkins`.
    """
    rows = friends_checkins(viewer=viewer, incident_id=incident_id).values(
        "id",
        "person_id",
        "incident_id",
        "status",
        "note",
        "answered_at",
        name=F("person__name"),
        incident_title=F("incident__title"),
    )
    found: list[dict[str, Any]] = [dict(row) for row in rows]
    pending = pending_answers([int(row["id"]) for row in found])
    for row in found:
        answer = pending.get(int(row.pop("id")))
        if answer is not None and _newer(answer, row["answered_at"]):
            row.update(status=answer.status, note=answer.note, answered_at=answer.at)
    return found
