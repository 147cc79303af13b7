"""Writes for incidents: create, activate, resolve. Lifecycle changes are compare-and-set."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.answer_stream import incident_closed, incident_seen_active
from backend.common.errors import Conflict, Forbidden, NotFound, ServiceError
from backend.geo.errors import GeoError
from backend.geo.regions import CompiledRegion, compile_circle, compile_geojson

from .models import AffectedRegion, AuditEntry, CellRange, Incident


def require_operator(actor: User) -> None:
    """403 unless ACTOR may run incidents."""
    if not actor.is_operator:
        raise Forbidden("Only operators may do this.")


def region_compile(spec: dict[str, Any]) -> CompiledRegion:
    """Compile one region given as {geometry} or {center, radius_m}; GeoError on bad input."""
    if "geometry" in spec:
        return compile_geojson(
            spec["geometry"],
            max_vertices=settings.SAFE_MAX_VERTICES,
            max_area_km2=settings.SAFE_MAX_REGION_AREA_KM2,
        )
    center = spec["center"]
    return compile_circle(
        lat=center["lat"],
        lon=center["lon"],
        radius_m=spec["radius_m"],
        max_radius_m=settings.SAFE_MAX_RADIUS_M,
        max_area_km2=settings.SAFE_MAX_REGION_AREA_KM2,
    )


def audit(*, actor: User | None, action: str, incident: Incident | None, **detail: Any) -> None:
    AuditEntry.objects.create(actor=actor, action=action, incident=incident, detail=detail)


def _compile_all(regions: list[dict[str, Any]]) -> list[tuple[dict[str, Any], CompiledRegion]]:
    if not regions:
        raise ServiceError("An incident needs at least one region.", code="no_region")
    if len(regions) > settings.SAFE_MAX_REGIONS:
        raise ServiceError(f"At most {settings.SAFE_MAX_REGIONS} regions.", code="too_many")
    compiled = []
    for number, spec in enumerate(regions, start=1):
        try:
            compiled.append((spec, region_compile(spec)))
        except GeoError as exc:
            raise ServiceError(f"Region {number}: {exc}", code="invalid_region") from exc
    return compiled


def _store_regions(
    incident: Incident, compiled: list[tuple[dict[str, Any], CompiledRegion]]
) -> None:
    for spec, region in compiled:
        center = spec.get("center") or {}
        row = AffectedRegion.objects.create(
            incident=incident,
            geometry=region.geometry if "geometry" in spec else None,
            center_lat=center.get("lat"),
            center_lon=center.get("lon"),
            radius_m=spec.get("radius_m"),
            area_km2=region.area_km2,
            cell_count=region.cell_count,
            summary=region.summary[:200],
        )
        CellRange.objects.bulk_create(
            [CellRange(region=row, incident=incident, lo=lo, hi=hi) for lo, hi in region.ranges],
            batch_size=2000,
        )


def incident_create(
    *,
    creator: User,
    title: str,
    description: str = "",
    kind: str = Incident.Kind.OTHER,
    drill: bool = False,
    regions: list[dict[str, Any]],
) -> Incident:
    """Create a draft incident with its regions compiled to cell ranges.

    Geometry is compiled before anything is written, so bad input changes nothing.
    """
    require_operator(creator)
    compiled = _compile_all(regions)
    with transaction.atomic():
        incident = Incident.objects.create(
            title=title.strip(),
            description=description,
            kind=kind,
            drill=drill,
            created_by=creator,
        )
        _store_regions(incident, compiled)
        audit(actor=creator, action="create", incident=incident, regions=len(compiled))
    return incident


def incident_set_regions(*, actor: User, incident_id: int, regions: list[dict[str, Any]]) -> None:
    """Replace the regions of a draft incident. Atomic."""
    require_operator(actor)
    compiled = _compile_all(regions)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(id=incident_id).first()
        if incident is None:
            raise NotFound("No such incident.")
        if incident.status != Incident.Status.DRAFT:
            raise Conflict("Regions can only be changed while the incident is a draft.")
        incident.regions.all().delete()
        _store_regions(incident, compiled)
        audit(actor=actor, action="edit_regions", incident=incident, regions=len(compiled))


def _transition(
    *, incident_id: int, source: str, target: str, refusal: str, **stamps: Any
) -> Incident:
    """Move the incident from SOURCE to TARGET by compare-and-set (call inside a transaction).

    404 if there is no such incident; 409 naming its status (and REFUSAL) if it was not in
    SOURCE, so of two operators racing, exactly one succeeds.
    """
    changed = Incident.objects.filter(id=incident_id, status=source).update(status=target, **stamps)
    incident = Incident.objects.filter(id=incident_id).first()
    if incident is None:
        raise NotFound("No such incident.")
    if not changed:
        raise Conflict(f"This incident is {incident.status}; {refusal}.")
    return incident


def incident_activate(*, actor: User, incident_id: int) -> Incident:
    """Move a draft to active and queue the fan-out after commit.

    Compare-and-set on the status: two operators activating at once queue one fan-out.
    """
    from backend.checkins.tasks import fanout_incident

    require_operator(actor)
    with transaction.atomic():
        incident = _transition(
            incident_id=incident_id,
            source=Incident.Status.DRAFT,
            target=Incident.Status.ACTIVE,
            refusal="only a draft can be activated",
            activated_by=actor,
            activated_at=timezone.now(),
        )
        audit(actor=actor, action="activate", incident=incident)
        # Answers to it may take the write-behind stream (backend/checkins/answer_stream.py).
        transaction.on_commit(lambda: incident_seen_active(incident_id))
        transaction.on_commit(lambda: fanout_incident.delay(incident_id))
    return incident


def incident_resolve(*, actor: User, incident_id: int) -> Incident:
    """Close an active incident: one-tap tokens stop working and reminders stop."""
    require_operator(actor)
    with transaction.atomic():
        incident = _transition(
            incident_id=incident_id,
            source=Incident.Status.ACTIVE,
            target=Incident.Status.RESOLVED,
            refusal="only an active one can be resolved",
            resolved_by=actor,
            resolved_at=timezone.now(),
        )
        audit(actor=actor, action="resolve", incident=incident)
        # Answers sent from now on are refused at once, not accepted into the write-behind.
        transaction.on_commit(lambda: incident_closed(incident_id))
    return incident


def incident_edit(
    *,
    actor: User,
    incident_id: int,
    title: str | None = None,
    description: str | None = None,
    kind: str | None = None,
    drill: bool | None = None,
) -> Incident:
    """Change the title, description, kind or drill flag of a draft; None leaves a field as is.

    Compare-and-set on the draft status, so an incident activated meanwhile is not changed.
    """
    require_operator(actor)
    changes: dict[str, Any] = {
        field: value
        for field, value in {
            "title": title.strip() if title is not None else None,
            "description": description,
            "kind": kind,
            "drill": drill,
        }.items()
        if value is not None
    }
    if "title" in changes and not changes["title"]:
        raise ServiceError("The title cannot be empty.", fields={"title": ["required"]})
    if "kind" in changes and changes["kind"] not in Incident.Kind.values:
        raise ServiceError(f"Unknown kind {changes['kind']!r}.", fields={"kind": ["invalid"]})
    with transaction.atomic():
        changed = Incident.objects.filter(id=incident_id, status=Incident.Status.DRAFT).update(
            **changes
        )
        incident = Incident.objects.filter(id=incident_id).first()
        if incident is None:
            raise NotFound("No such incident.")
        if not changed:
            raise Conflict("Only a draft can be edited.")
        audit(actor=actor, action="edit", incident=incident, fields=sorted(changes))
    return incident
