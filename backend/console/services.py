"""Writes for the operator console: activation with confirmation and approval, declines,
resolution with a reason, official updates, triage and CAP import.

Lifecycle changes go through `backend.incidents.services`, which does them by
compare-and-set; what is added here is recorded in the same transaction.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.common.errors import Conflict, Forbidden, NotFound, ServiceError, TooManyRequests
from backend.incidents import services as incidents
from backend.incidents.cap import CapAlert, CapError, parse_cap
from backend.incidents.models import Incident
from backend.incidents.selectors import incident_audience_count

from .models import ActivationRequest, CapLink, OfficialUpdate, PublicLogEntry, Triage
from .selectors import incident_is_declined

UPDATE_INTERVAL = timedelta(minutes=1)
MAX_REASON = 500


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            "Give a reason: it is published in the activation log.", fields={"reason": ["required"]}
        )
    if len(reason) > MAX_REASON:
        raise ServiceError(
            f"The reason is longer than {MAX_REASON} characters.", fields={"reason": ["too long"]}
        )
    return reason


def _draft(incident_id: int) -> Incident:
    incident = Incident.objects.filter(id=incident_id).first()
    if incident is None:
        raise NotFound("No such incident.")
    if incident.status != Incident.Status.DRAFT:
        raise Conflict(f"This incident is {incident.status}; only a draft can be activated.")
    if incident_is_declined(incident_id=incident_id):
        raise Conflict("This incident was declined; create a new draft instead.", code="declined")
    return incident


def two_operator_rule() -> bool:
    return settings.SAFE_TWO_OPERATOR_RULE


def activation_request(
    *, actor: User, incident_id: int, reason: str, confirm_title: str
) -> ActivationRequest:
    """Ask to activate a draft; the operator retypes its title to confirm. Atomic.

    Without the two-operator rule the request is approved at once and the fan-out queued;
    with it, the request waits for a different operator (`activation_approve`).
    """
    incidents.require_operator(actor)
    reason = _reason(reason)
    with transaction.atomic():
        incident = _draft(incident_id)
        if (confirm_title or "").strip() != incident.title:
            raise ServiceError(
                "Type the incident's title exactly to confirm the activation.",
                code="not_confirmed",
                fields={"confirm_title": ["does not match the title"]},
            )
        try:
            with transaction.atomic():
                request = ActivationRequest.objects.create(
                    incident=incident,
                    requested_by=actor,
                    reason=reason,
                    audience=incident_audience_count(incident_id=incident_id),
                )
        except IntegrityError:
            raise Conflict("An activation is already waiting for approval.") from None
        incidents.audit(
            actor=actor,
            action="request_activation",
            incident=incident,
            reason=reason,
            audience=request.audience,
        )
        if not two_operator_rule():
            _approve(request, approver=actor)
    return request


def activation_approve(*, actor: User, request_id: int) -> ActivationRequest:
    """Approve a pending activation as a second operator; this starts the fan-out. Atomic."""
    incidents.require_operator(actor)
    with transaction.atomic():
        request = ActivationRequest.objects.filter(id=request_id).first()
        if request is None:
            raise NotFound("No such activation request.")
        if request.requested_by_id == actor.id:
            raise Forbidden(
                "A different operator must approve this activation (two-operator rule).",
                code="same_operator",
            )
        if request.status != ActivationRequest.Status.PENDING:
            raise Conflict(f"This request is already {request.status}.")
        _approve(request, approver=actor)
        incidents.audit(
            actor=actor, action="approve", incident=request.incident, request=request.id
        )
    return request


def _approve(request: ActivationRequest, *, approver: User) -> None:
    now = timezone.now()
    changed = ActivationRequest.objects.filter(
        id=request.id, status=ActivationRequest.Status.PENDING
    ).update(status=ActivationRequest.Status.APPROVED, decided_by=approver, decided_at=now)
    if not changed:
        raise Conflict("This request was decided meanwhile.")
    incidents.incident_activate(actor=approver, incident_id=request.incident_id)
    PublicLogEntry.objects.create(
        incident_id=request.incident_id,
        action=PublicLogEntry.Action.ACTIVATED,
        reason=request.reason,
        audience=request.audience,
        at=now,
    )
    request.status, request.decided_by, request.decided_at = (
        ActivationRequest.Status.APPROVED,
        approver,
        now,
    )


def activation_withdraw(*, actor: User, request_id: int) -> ActivationRequest:
    """Withdraw a pending activation request (any operator may)."""
    incidents.require_operator(actor)
    with transaction.atomic():
        request = ActivationRequest.objects.filter(id=request_id).first()
        if request is None:
            raise NotFound("No such activation request.")
        changed = ActivationRequest.objects.filter(
            id=request_id, status=ActivationRequest.Status.PENDING
        ).update(
            status=ActivationRequest.Status.WITHDRAWN, decided_by=actor, decided_at=timezone.now()
        )
        if not changed:
            raise Conflict(f"This request is already {request.status}.")
        incidents.audit(
            actor=actor, action="withdraw_activation", incident=request.incident, request=request.id
        )
        request.refresh_from_db()
    return request


def incident_decline(*, actor: User, incident_id: int, reason: str) -> PublicLogEntry:
    """Record that a drafted incident was considered and not activated, and why. Atomic."""
    incidents.require_operator(actor)
    reason = _reason(reason)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(id=incident_id).first()
        if incident is None:
            raise NotFound("No such incident.")
        if incident.status != Incident.Status.DRAFT:
            raise Conflict(f"This incident is {incident.status}; only a draft can be declined.")
        if incident_is_declined(incident_id=incident_id):
            raise Conflict("This incident is already declined.")
        ActivationRequest.objects.filter(
            incident_id=incident_id, status=ActivationRequest.Status.PENDING
        ).update(
            status=ActivationRequest.Status.WITHDRAWN, decided_by=actor, decided_at=timezone.now()
        )
        entry = PublicLogEntry.objects.create(
            incident=incident,
            action=PublicLogEntry.Action.DECLINED,
            reason=reason,
            audience=incident_audience_count(incident_id=incident_id),
        )
        incidents.audit(actor=actor, action="decline", incident=incident, reason=reason)
    return entry


def incident_close(*, actor: User, incident_id: int, reason: str) -> Incident:
    """Resolve an active incident and publish why in the activation log. Atomic."""
    incidents.require_operator(actor)
    reason = _reason(reason)
    with transaction.atomic():
        incident = incidents.incident_resolve(actor=actor, incident_id=incident_id)
        PublicLogEntry.objects.create(
            incident=incident,
            action=PublicLogEntry.Action.RESOLVED,
            reason=reason,
            audience=CheckIn.objects.filter(incident_id=incident_id).count(),
        )
    return incident


def update_post(*, actor: User, incident_id: int, text: str) -> OfficialUpdate:
    """Post an official update and queue it to every affected person after commit. Atomic.

    At most one update per incident per minute (429 otherwise): each one notifies
    everybody in the area, so a slip of the keyboard must not become a flood.
    """
    from backend.notifications.services import checkin_ids_in_batches
    from backend.notifications.tasks import send_batch

    incidents.require_operator(actor)
    text = (text or "").strip()
    if not text:
        raise ServiceError("The update is empty.", fields={"text": ["required"]})
    if len(text) > 500:
        raise ServiceError("An update has at most 500 characters.", fields={"text": ["too long"]})
    with transaction.atomic():
        # The row lock serialises concurrent posts, so the rate check below cannot race.
        incident = Incident.objects.select_for_update().filter(id=incident_id).first()
        if incident is None:
            raise NotFound("No such incident.")
        if incident.status != Incident.Status.ACTIVE:
            raise Conflict(f"This incident is {incident.status}; updates go to active ones only.")
        last = OfficialUpdate.objects.filter(incident_id=incident_id).first()
        now = timezone.now()
        if last and now - last.created_at < UPDATE_INTERVAL:
            wait = int((UPDATE_INTERVAL - (now - last.created_at)).total_seconds()) + 1
            raise TooManyRequests(
                f"One update per minute per incident; try again in {wait} s.", retry_after=wait
            )
        update = OfficialUpdate.objects.create(
            incident=incident, text=text, author=actor, created_at=now
        )
        seq = OfficialUpdate.objects.filter(incident_id=incident_id).count()
        incidents.audit(
            actor=actor, action="post_update", incident=incident, update=update.id, seq=seq
        )
        batches = checkin_ids_in_batches(incident_id=incident_id, size=settings.SAFE_FANOUT_BATCH)
        for batch in batches:
            transaction.on_commit(partial(send_batch.delay, batch, purpose="update", seq=seq))
    return update


def triage_set(
    *,
    actor: User,
    incident_id: int,
    checkin_id: int,
    status: str | None = None,
    assignee_id: int | None = None,
    unassign: bool = False,
    comment: str | None = None,
) -> Triage:
    """Change the follow-up of a need-help answer: status, assignee and internal comment."""
    from .selectors import operators

    incidents.require_operator(actor)
    if status is not None and status not in Triage.Status.values:
        raise ServiceError(f"Unknown triage status {status!r}.", fields={"status": ["invalid"]})
    if comment is not None and len(comment) > 1000:
        raise ServiceError(
            "The comment has at most 1000 characters.", fields={"comment": ["too long"]}
        )
    assignee = None
    if assignee_id is not None:
        assignee = operators().filter(id=assignee_id).first()
        if assignee is None:
            raise ServiceError("Assign to an operator.", fields={"assignee": ["not an operator"]})
    with transaction.atomic():
        checkin = CheckIn.objects.filter(
            id=checkin_id, incident_id=incident_id, status=CheckIn.Status.NEED_HELP
        ).first()
        if checkin is None:
            raise NotFound("No such need-help answer in this incident.")
        triage, _created = Triage.objects.select_for_update().get_or_create(checkin=checkin)
        changes: dict[str, Any] = {}
        if status is not None:
            triage.status = changes["status"] = status
        if assignee is not None or unassign:
            triage.assignee = assignee
            changes["assignee"] = assignee.id if assignee else None
        if comment is not None:
            triage.comment = changes["comment"] = comment.strip()
        triage.updated_by, triage.updated_at = actor, timezone.now()
        triage.save()
        incidents.audit(
            actor=actor, action="triage", incident=checkin.incident, checkin=checkin_id, **changes
        )
    return triage


@dataclass
class CapResult:
    """What a CAP alert did: `action` is created, updated, posted_update, resolved or declined."""

    incident: Incident
    action: str
    warnings: list[str] = field(default_factory=list)


def cap_geocodes() -> dict[tuple[str, str], dict[str, Any]]:
    """The geocode table from the setting SAFE_CAP_GEOCODES: {"valueName": {"value": region}}."""
    table: dict[str, dict[str, dict[str, Any]]] = settings.SAFE_CAP_GEOCODES
    return {
        (name, value): region for name, values in table.items() for value, region in values.items()
    }


def _cap_regions(alert: CapAlert) -> tuple[list[dict[str, Any]], list[str]]:
    # Every <info> describes the same event (often in several languages): the first one's
    # areas are the alert's areas.
    regions: list[dict[str, Any]] = []
    warnings: list[str] = []
    for number, area in enumerate(alert.infos[0].areas, 1):
        regions.extend(area.regions)
        warnings.extend(f"area {number} ({area.description}): {text}" for text in area.unsupported)
    if not regions:
        raise ServiceError(
            "The alert has no area we can map: " + "; ".join(warnings), code="cap_invalid"
        )
    return regions, warnings


def _cap_description(alert: CapAlert) -> str:
    info = alert.infos[0]
    return "\n\n".join(part for part in (info.description, info.instruction) if part)[:5000]


def _cap_link(alert: CapAlert, incident: Incident) -> None:
    try:
        with transaction.atomic():
            CapLink.objects.create(
                sender=alert.sender,
                identifier=alert.identifier,
                msg_type=alert.msg_type,
                incident=incident,
            )
    except IntegrityError:
        raise Conflict(
            f"Alert {alert.sender},{alert.identifier} was already imported.", code="duplicate"
        ) from None


def cap_import(*, actor: User, xml: bytes) -> CapResult:
    """Import one CAP 1.2 alert. Atomic: a refused alert changes nothing.

    Alert → a new draft (never activated here; an operator reviews it). Update → changes
    the draft made from the referenced alert, or posts an official update if it is active.
    Cancel → resolves the referenced incident, or declines it if it is still a draft.
    Test and Exercise alerts become drills.
    """
    incidents.require_operator(actor)
    max_bytes = settings.SAFE_CAP_MAX_BYTES
    try:
        alert = parse_cap(xml, max_bytes=max_bytes, geocodes=cap_geocodes())
    except CapError as exc:
        raise ServiceError(f"Invalid CAP alert: {exc}", code="cap_invalid") from None
    if alert.status not in ("Actual", "Exercise", "Test"):
        raise ServiceError(
            f"CAP status {alert.status} is not actionable; expected Actual, Exercise or Test.",
            code="cap_invalid",
        )
    if alert.msg_type not in ("Alert", "Update", "Cancel"):
        raise ServiceError(
            f"CAP msgType {alert.msg_type} is not supported; expected Alert, Update or Cancel.",
            code="cap_invalid",
        )
    with transaction.atomic():
        if alert.msg_type == "Alert":
            regions, warnings = _cap_regions(alert)
            incident = incidents.incident_create(
                creator=actor,
                title=alert.title[:200],
                description=_cap_description(alert),
                kind=alert.kind,
                drill=alert.is_drill,
                regions=regions,
            )
            result = CapResult(incident, "created", warnings)
        else:
            incident = _cap_referenced(alert)
            result = _cap_change(actor=actor, alert=alert, incident=incident)
        _cap_link(alert, result.incident)
        incidents.audit(
            actor=actor,
            action="cap_import",
            incident=result.incident,
            identifier=alert.identifier,
            sender=alert.sender,
            msg_type=alert.msg_type,
            result=result.action,
        )
    return result


def _cap_referenced(alert: CapAlert) -> Incident:
    # The latest reference that we know wins: an Update may cite the alert and earlier updates.
    for reference in reversed(alert.references):
        link = (
            CapLink.objects.select_related("incident")
            .filter(sender=reference.sender, identifier=reference.identifier)
            .first()
        )
        if link is not None:
            return link.incident
    cited = ", ".join(f"{ref.sender},{ref.identifier}" for ref in alert.references)
    raise ServiceError(
        f"CAP {alert.msg_type}: none of the referenced alerts ({cited}) was imported here.",
        code="cap_unknown_reference",
    )


def _cap_change(*, actor: User, alert: CapAlert, incident: Incident) -> CapResult:
    declined = incident_is_declined(incident_id=incident.id)
    if incident.status == Incident.Status.RESOLVED or declined:
        raise Conflict(
            f"CAP {alert.msg_type}: the incident made from the referenced alert is closed."
        )
    reason = f"CAP {alert.msg_type} {alert.identifier} from {alert.sender}"
    if alert.msg_type == "Cancel":
        if incident.status == Incident.Status.DRAFT:
            incident_decline(actor=actor, incident_id=incident.id, reason=reason)
            return CapResult(incident, "declined")
        return CapResult(
            incident_close(actor=actor, incident_id=incident.id, reason=reason), "resolved"
        )
    if incident.status == Incident.Status.DRAFT:
        regions, warnings = _cap_regions(alert)
        incidents.incident_set_regions(actor=actor, incident_id=incident.id, regions=regions)
        changed = incidents.incident_edit(
            actor=actor,
            incident_id=incident.id,
            title=alert.title[:200],
            description=_cap_description(alert) or None,
            kind=alert.kind,
            drill=alert.is_drill,
        )
        return CapResult(changed, "updated", warnings)
    info = alert.infos[0]
    text = " ".join(part for part in (info.headline or info.event, info.description) if part)
    update_post(actor=actor, incident_id=incident.id, text=text[:500])
    return CapResult(incident, "posted_update")
